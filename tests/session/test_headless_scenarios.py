"""Every rehearsal scenario, end to end: embedded registry, stand-in camera, real gate and log.

Each runs a whole session through ``registry.demo.run_headless`` (the same code as
``scangate demo --headless``) and must behave as expected; then the signed log is
checked with the ``scangate verify`` command, as a production manager would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from agent.rig import Rig
from registry.demo import SCENARIOS, run_headless
from registry.demo import environment as environment_module
from registry.demo.launch import start_demo_identifier
from tests.biometric_scan import demo_leftovers

NEVER_UNLOCKS = {
    "decline",
    "impostor",
    "revoked",
    "registry-down",
    "clock-skew",
    "crash-after-capture",
    "photo-attack",
    "challenge-timeout",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_behaves_and_its_log_verifies(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    assert run_headless(scenario, tmp_path, echo=lines.append) == 0, "\n".join(lines)
    assert f"scenario {scenario}: as expected" in lines[-1]
    unlocked_line = next(line for line in lines if "gate ever unlocked" in line)
    if scenario in NEVER_UNLOCKS:
        assert unlocked_line.endswith("no")
    capsys.readouterr()
    rc = main(
        ["verify", str(tmp_path / "sessions.jsonl"), "--key", str(tmp_path / "rig-public.pem"), "--json"]
    )
    verdict = json.loads(capsys.readouterr().out)
    assert rc == 0, verdict
    assert verdict["intact"] is True
    assert verdict["records"] == 1
    _assert_nothing_biometric_left(tmp_path)


def _assert_nothing_biometric_left(out_dir: Path) -> None:
    """No face template and no frame at rest in the rehearsal's folder or the user's data folders."""
    found = demo_leftovers(out_dir)
    assert found == [], "\n".join(map(str, found))


def test_an_identification_process_started_early_makes_the_template_and_serves_the_rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scangate demo --headless`` starts the child before importing the registry: the face
    models then load once, in the child, while the parent imports (issue 14, goal 5)."""

    def parent_must_not_load_models() -> list[float]:
        raise AssertionError("the parent computed the stand-in's template itself")

    monkeypatch.setattr(environment_module, "stand_in_encoding", parent_must_not_load_models)
    given: list[object] = []
    build = Rig.from_config.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Rig], config: object, /, **options: Any) -> Rig:
        given.append(options.get("identifier"))
        return build(cls, config, **options)  # type: ignore[no-any-return]

    monkeypatch.setattr(Rig, "from_config", classmethod(spy))
    identifier = start_demo_identifier()
    lines: list[str] = []
    assert run_headless("confirm", tmp_path, echo=lines.append, identifier=identifier) == 0, "\n".join(lines)
    assert given == [identifier]
    assert not identifier.running, "the child is closed with the rehearsal"
