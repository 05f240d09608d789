"""A rig with only the local template store: without its passphrase there is no roster, capture stays locked.

Issue 11, finding 3 (faces at rest). Driven on the demo rig's configuration with the
registry switched off, so the roster comes from the sealed local store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.config import ScanGateConfig
from agent.faces.engine import ENCODING_SIZE
from agent.faces.store import EnrolmentSample, TemplateStore
from agent.rig import Rig
from registry.demo import prepare_demo

PASSPHRASE = "the rig operator's passphrase"
VARIABLE = "SCANGATE_TEST_RIG_STORE_PASSPHRASE"


def local_store_config(tmp_path: Path) -> ScanGateConfig:
    environment = prepare_demo(tmp_path / "demo")
    environment.close()
    config = environment.config
    store = TemplateStore(tmp_path / "templates", passphrase=lambda: PASSPHRASE)
    vector = np.random.default_rng(1).normal(0, 0.1, ENCODING_SIZE)
    store.enrol("P-1", [EnrolmentSample(encoding=vector, source_sha256="ab" * 32)], display_name="Ann")
    return config.model_copy(
        update={
            "registry": config.registry.model_copy(update={"url": None}),
            "templates": config.templates.model_copy(
                update={"store_dir": store.directory, "passphrase_env": VARIABLE}
            ),
        }
    )


@pytest.mark.parametrize(
    ("passphrase", "expected"),
    [
        (None, "no passphrase was given"),
        ("somebody else's passphrase", "the passphrase is wrong or the file was altered"),
    ],
)
def test_a_rig_that_cannot_open_the_store_has_no_roster_and_stays_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passphrase: str | None, expected: str
) -> None:
    config = local_store_config(tmp_path)
    if passphrase is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, passphrase)
    with Rig.from_config(config, synthetic_liveness=True) as rig:
        health = rig.health()
        assert not health.registry_ok and expected in health.registry_detail
        assert health.roster_size == 0
        assert health.gate.locked


def test_a_rig_with_the_passphrase_loads_the_sealed_roster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = local_store_config(tmp_path)
    monkeypatch.setenv(VARIABLE, PASSPHRASE)
    with Rig.from_config(config, synthetic_liveness=True) as rig:
        assert rig.health().roster_size == 1
