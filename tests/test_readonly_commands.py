"""Read-only commands create nothing: no folder, no key, no database, no lock file.

Each command runs through the real CLI entry point on a fresh configuration in
``tmp_path`` (its data paths both explicit and left to the platform defaults),
and the file tree (config folder and the user's data folders) must be exactly
as before. ``review`` is a window; the part before it opens (config and trusted
keys) is the same code as ``verify`` uses and is covered by it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.cli.main import main
from agent.faces.engine import ENCODING_SIZE
from agent.faces.store import EnrolmentSample, TemplateStore

EXPLICIT_PATHS = (
    '[records]\nlog_path = "data/records/session-log.jsonl"\nkey_path = "data/keys/rig.pem"\n'
    'outbox_path = "data/records/outbox.sqlite3"\nreceipts_dir = "data/receipts"\n\n'
    '[templates]\nstore_dir = "data/templates"\n'
)


PASSPHRASE = "a test passphrase, not secret"


def tree(*roots: Path) -> dict[str, tuple[bool, int]]:
    """Every path under ``roots``: whether it is a folder, and its size for files."""
    found: dict[str, tuple[bool, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            found[str(path)] = (path.is_dir(), 0 if path.is_dir() else path.stat().st_size)
    return found


@pytest.fixture(params=["explicit paths", "default paths"])
def fresh_config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    config = tmp_path / "rig" / "scangate.toml"
    config.parent.mkdir()
    body = EXPLICIT_PATHS if request.param == "explicit paths" else ""
    config.write_text('[rig]\nrig_id = "stage4"\n\n' + body, encoding="utf-8")
    return config


def watched(tmp_path: Path) -> tuple[Path, ...]:
    """The test's folder and the user folders ScanGate defaults to (isolated by tests/conftest.py)."""
    return (
        tmp_path,
        *(Path(os.environ[name]) for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")),
    )


def run_unchanged(tmp_path: Path, argv: list[str]) -> int:
    before = tree(*watched(tmp_path))
    rc = main(argv)
    assert tree(*watched(tmp_path)) == before, f"scangate {' '.join(argv)} changed the file tree"
    return rc


def test_outbox_status_creates_no_outbox_or_folder(fresh_config: Path, tmp_path: Path) -> None:
    assert run_unchanged(tmp_path, ["outbox", "--config", str(fresh_config)]) == 0
    assert run_unchanged(tmp_path, ["outbox", "--json", "--config", str(fresh_config)]) == 0


def test_keys_show_creates_no_key(
    fresh_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_unchanged(tmp_path, ["keys", "show", "--config", str(fresh_config)]) != 0
    err = capsys.readouterr().err
    assert "no rig key" in err and "scangate keys init" in err


def test_verify_creates_nothing(fresh_config: Path, tmp_path: Path) -> None:
    log = tmp_path / "elsewhere.jsonl"
    log.write_bytes(b"")
    assert run_unchanged(tmp_path, ["verify", str(log), "--config", str(fresh_config)]) == 2
    assert (
        run_unchanged(tmp_path, ["verify", str(tmp_path / "missing.jsonl"), "--config", str(fresh_config)])
        == 2
    )


def test_receipt_without_png_creates_nothing(fresh_config: Path, tmp_path: Path) -> None:
    assert run_unchanged(tmp_path, ["receipt", "--config", str(fresh_config)]) == 2


def test_check_config_show_creates_nothing(fresh_config: Path, tmp_path: Path) -> None:
    assert run_unchanged(tmp_path, ["check-config", str(fresh_config), "--show"]) == 0


def test_identify_without_a_store_creates_nothing(fresh_config: Path, tmp_path: Path) -> None:
    image = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), "grey").save(image)
    assert run_unchanged(tmp_path, ["identify", "--config", str(fresh_config), str(image)]) == 2


def test_identify_with_a_store_leaves_it_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANGATE_TEMPLATE_PASSPHRASE", PASSPHRASE)
    store = TemplateStore(tmp_path / "store", passphrase=lambda: PASSPHRASE)
    vector = np.random.default_rng(1).normal(0, 0.1, ENCODING_SIZE)
    store.enrol("P-1", [EnrolmentSample(encoding=vector, source_sha256="ab" * 32)])
    (tmp_path / "store" / ".templates.json.lock").unlink(missing_ok=True)
    image = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), "grey").save(image)
    assert run_unchanged(tmp_path, ["identify", "--store", str(tmp_path / "store"), str(image)]) == 0
