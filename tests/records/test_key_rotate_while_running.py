"""``keys rotate`` while the agent runs (it holds the session log) changes nothing at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.records.errors import LogLockedError
from agent.records.key_rotation import rotate_key
from agent.records.key_store import FileKeyStore
from agent.records.recorder import SessionRecorder
from agent.records.settings import RecordSettings
from agent.records.uploader import UploadResult, UploadStatus
from tests.records.conftest import RIG_ID
from tests.records.factories import draft_for


class ReachableRegistry:
    """A registrar that answers; the rotation must stop before it is asked to register anything."""

    def __init__(self) -> None:
        self.registered: list[dict[str, Any]] = []

    def check_access(self, rig_id: str) -> str | None:
        return None

    def register_rotation(self, record: dict[str, Any]) -> UploadResult:
        self.registered.append(record)
        return UploadResult(UploadStatus.STORED)


def test_rotating_while_the_agent_holds_the_log_is_refused_before_anything_changes(tmp_path: Path) -> None:
    settings = RecordSettings.model_validate(
        {
            "key_store": "file",
            "key_path": tmp_path / "keys" / "rig.pem",
            "log_path": tmp_path / "log.jsonl",
            "outbox_path": tmp_path / "outbox.sqlite3",
        }
    )
    registry = ReachableRegistry()
    with SessionRecorder.open(settings, RIG_ID) as running_agent:
        running_agent.append(draft_for(0))
        with pytest.raises(LogLockedError):
            rotate_key(settings, RIG_ID, FileKeyStore(settings.key_path), registry)
        assert not FileKeyStore(settings.key_path).slot_path("next").exists()
        assert registry.registered == []
        assert running_agent.append(draft_for(1))["sequence"] == 2
    with SessionRecorder.open(settings, RIG_ID) as restarted:  # no unfinished rotation left behind
        assert restarted.append(draft_for(2))["sequence"] == 3
