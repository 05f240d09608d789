"""Smart Shooter gate against a fake Smart Shooter speaking the External API over real ZeroMQ sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureRefusedError, UnlockRefusedError
from agent.gate.settings import SmartShooterGateSettings
from agent.gate.smartshooter import SmartShooterGate
from tests.gate.conftest import MakeGrant, Recorder
from tests.gate.peers import FakeSmartShooter, wait_until

Closing = Callable[[CaptureGate], CaptureGate]


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "smartshooter-downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def shooter(downloads: Path) -> Iterator[FakeSmartShooter]:
    fake = FakeSmartShooter(downloads)
    yield fake
    fake.close()


def _gate(
    shooter: FakeSmartShooter, options: dict[str, Any], closing: Closing, downloads: Path, **overrides: Any
) -> SmartShooterGate:
    settings = SmartShooterGateSettings.model_validate(
        {
            "kind": "smartshooter",
            "request_endpoint": shooter.request_endpoint,
            "event_endpoint": shooter.event_endpoint,
            "request_timeout_s": 1.0,
            **overrides,
        }
    )
    gate = SmartShooterGate(settings, **{**options, "capture_dirs": [downloads], "arrival_grace_s": 0.0})
    closing(gate)
    gate.start()
    assert wait_until(lambda: shooter.subscribers > 0)
    return gate


def test_requests_follow_the_external_api_format(
    shooter: FakeSmartShooter, gate_options: dict[str, Any], closing: Closing, downloads: Path
) -> None:
    _gate(shooter, gate_options, closing, downloads)
    first = shooter.requests[0]
    assert first["msg_type"] == "Request"
    assert isinstance(first["msg_seq_num"], int)
    disconnect = next(r for r in shooter.requests if r["msg_id"] == "Disconnect")
    assert disconnect["CameraSelection"] == "All"


def test_unlock_connects_shoot_reports_photos_and_lock_disconnects(
    shooter: FakeSmartShooter,
    gate_options: dict[str, Any],
    closing: Closing,
    downloads: Path,
    make_grant: MakeGrant,
) -> None:
    gate = _gate(shooter, gate_options, closing, downloads)
    assert shooter.all_disconnected
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    assert not shooter.all_disconnected
    (trigger,) = gate.capture("face")
    assert trigger.kind == "trigger" and trigger.within_unlock_window
    shoot = next(r for r in shooter.requests if r["msg_id"] == "Shoot")
    assert shoot["CameraSelection"] == "All" and shoot["PhotoOrigin"] == "scangate"
    assert wait_until(lambda: sum(e.kind == "file" for e in recorder.events) == 2)
    files = [e for e in recorder.events if e.kind == "file"]
    assert all(e.within_unlock_window and not e.quarantined and e.sha256 for e in files)
    assert {e.camera_id for e in files} == {"CAM-A", "CAM-B"}
    assert all(Path(e.path or "").is_file() for e in files)
    gate.lock("technician ended")
    assert shooter.all_disconnected
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")


def test_lease_lapse_disconnects_the_cameras(
    shooter: FakeSmartShooter,
    gate_options: dict[str, Any],
    closing: Closing,
    downloads: Path,
    make_grant: MakeGrant,
) -> None:
    gate = _gate(shooter, gate_options, closing, downloads)
    gate.unlock(make_grant(lease=0.3))
    assert not shooter.all_disconnected
    assert wait_until(lambda: shooter.all_disconnected, timeout=5)
    assert gate.status().locked


def test_photo_taken_while_locked_is_flagged_and_quarantined(
    shooter: FakeSmartShooter,
    gate_options: dict[str, Any],
    closing: Closing,
    downloads: Path,
    make_grant: MakeGrant,
) -> None:
    gate = _gate(shooter, gate_options, closing, downloads, lock_mode="refuse_only")
    gate.unlock(make_grant())
    gate.lock("performer tapped stop")
    recorder = Recorder(gate)
    original = shooter.camera_button_photo("CAM-B")
    assert wait_until(lambda: any(e.kind == "file" for e in recorder.events))
    seen, downloaded = recorder.events
    assert seen.kind == "photo" and not seen.within_unlock_window and seen.photo_id == downloaded.photo_id
    assert downloaded.kind == "file" and downloaded.quarantined and not downloaded.within_unlock_window
    assert downloaded.session_id == "session-1"
    assert not original.exists()
    moved = Path(downloaded.quarantine_path or "")
    assert moved.parent == gate.session_dir("session-1") / "quarantine"
    assert (
        json.loads(moved.with_name(moved.name + ".quarantine.json").read_text())["photo_id"] == seen.photo_id
    )


def test_cameras_reconnected_by_hand_while_locked_are_disconnected_again(
    shooter: FakeSmartShooter, gate_options: dict[str, Any], closing: Closing, downloads: Path
) -> None:
    gate = _gate(shooter, gate_options, closing, downloads)
    shooter.reconnect_by_hand()
    assert wait_until(lambda: shooter.all_disconnected, timeout=5)
    assert gate.status().healthy and gate.status().locked


def test_unresponsive_smart_shooter_faults_and_refuses_unlock(
    shooter: FakeSmartShooter,
    gate_options: dict[str, Any],
    closing: Closing,
    downloads: Path,
    make_grant: MakeGrant,
) -> None:
    gate = _gate(shooter, gate_options, closing, downloads)
    shooter.unresponsive = True
    assert wait_until(lambda: not gate.status().healthy, timeout=10)
    assert "did not answer" in (gate.status().last_error or "")
    with pytest.raises(UnlockRefusedError, match="faulted"):
        gate.unlock(make_grant())


def test_nobody_listening_is_a_fault_at_start(
    gate_options: dict[str, Any], closing: Closing, tmp_path: Path
) -> None:
    settings = SmartShooterGateSettings(
        kind="smartshooter",
        request_endpoint="tcp://127.0.0.1:9",
        event_endpoint="tcp://127.0.0.1:9",
        request_timeout_s=0.3,
    )
    gate = closing(SmartShooterGate(settings, **gate_options))
    status = gate.start()
    assert not status.healthy and status.locked


def test_single_selection_needs_one_key() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SmartShooterGateSettings(kind="smartshooter", camera_selection="Single")
