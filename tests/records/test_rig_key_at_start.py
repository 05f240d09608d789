"""A rig that starts recording without a key creates one, says so once, and never replaces it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.config import load_config
from agent.rig import Rig


def test_a_rig_without_a_key_creates_one_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_path = tmp_path / "scangate.toml"
    config_path.write_text(
        '[rig]\nrig_id = "stage4"\n\n[records]\nlog_path = "data/log.jsonl"\nkey_path = "data/keys/rig.pem"\n'
        'outbox_path = "data/outbox.sqlite3"\n\n[gate]\ncapture_root = "data/captures"\n',
        encoding="utf-8",
    )
    config, _ = load_config(config_path)
    caplog.set_level(logging.WARNING, logger="agent.rig")
    Rig.from_config(config).stop()
    key_path = tmp_path / "data" / "keys" / "rig.pem"
    created = [r.getMessage() for r in caplog.records if "this rig had no signing key" in r.getMessage()]
    assert key_path.is_file() and len(created) == 1 and str(key_path) in created[0]
    assert "scangate keys show --pem" in created[0]
    key = key_path.read_bytes()
    caplog.clear()
    Rig.from_config(config).stop()
    assert key_path.read_bytes() == key
    assert not [r for r in caplog.records if "signing key" in r.getMessage()]
