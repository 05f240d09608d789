"""Built-in still capture gate: writes frames only while unlocked under a valid token and lease."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.gate.base import CaptureGate
from agent.gate.builtin import BuiltinStillGate
from agent.gate.errors import CaptureRefusedError, LeaseExpiredError, UnlockRefusedError
from agent.signing import Signer
from tests.gate.conftest import MakeGrant, Recorder
from tests.gate.peers import wait_until

Closing = Callable[[CaptureGate], CaptureGate]


def _frame() -> np.ndarray[Any, np.dtype[np.uint8]]:
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[:, :, 0] = 200  # red in RGB
    return frame


@pytest.fixture
def gate(gate_options: dict[str, Any], closing: Closing) -> BuiltinStillGate:
    built = BuiltinStillGate(_frame, **gate_options)
    closing(built)
    built.start()
    return built


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_locked_at_construction_and_start(gate: BuiltinStillGate) -> None:
    status = gate.status()
    assert status.locked
    assert status.healthy
    assert status.peer_locked is True
    with pytest.raises(CaptureRefusedError, match="locked"):
        gate.capture("face")
    assert _files(gate.capture_root) == []


def test_unlocked_capture_writes_png_with_sha256(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    recorder = Recorder(gate)
    status = gate.unlock(make_grant())
    assert not status.locked
    assert status.session_id == "session-1"
    (event,) = gate.capture("face")
    path = Path(event.path or "")
    assert path.parent == gate.session_dir("session-1")
    assert event.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.within_unlock_window and not event.quarantined and event.flag_reason is None
    assert event.session_id == "session-1" and event.capture_type == "face"
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (48, 64, 3)
    assert image[0, 0].tolist() == [0, 0, 200]  # written as BGR: red stays red
    assert recorder.events == [event]


def test_lock_stops_writing(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant())
    gate.capture("face")
    assert gate.status().lock_cause is None
    status = gate.lock("performer tapped stop")
    assert status.locked and status.reason == "performer tapped stop"
    assert status.lock_cause == "requested"
    with pytest.raises(CaptureRefusedError, match="performer tapped stop"):
        gate.capture("face")
    assert len(_files(gate.capture_root)) == 1


def test_type_outside_the_token_is_refused(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant(capture_types=["face"]))
    with pytest.raises(CaptureRefusedError, match="'full_body' is not granted"):
        gate.capture("full_body")
    assert _files(gate.capture_root) == []


def test_lease_lapse_locks_by_itself(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    recorder = Recorder(gate)
    gate.unlock(make_grant(lease=0.3))
    assert wait_until(lambda: gate.status().locked, timeout=5)
    assert "lease not renewed" in gate.status().reason
    assert gate.status().lock_cause == "lease_lapsed"
    assert any(s.lock_cause == "lease_lapsed" for s in recorder.statuses)
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")
    with pytest.raises(LeaseExpiredError, match="locked"):
        gate.renew()


def test_renew_keeps_the_gate_open(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant(lease=0.5))
    before = gate.status().lease_expires_in_s
    for _ in range(3):
        status = gate.renew()
        assert not status.locked
    assert before is not None and status.lease_expires_in_s is not None
    gate.capture("facs")


def test_lease_never_outlives_the_token(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant(lease=30, lifetime=timedelta(seconds=1)))
    remaining = gate.status().lease_expires_in_s
    assert remaining is not None and remaining <= 1.0
    assert wait_until(lambda: gate.status().locked, timeout=5)
    assert gate.status().reason == "locked: capture token expired"
    assert gate.status().lock_cause == "token_expired"


def test_unlock_refusals_leave_the_gate_locked(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    with pytest.raises(UnlockRefusedError, match="unknown key"):
        gate.unlock(make_grant(signer=stranger))
    with pytest.raises(UnlockRefusedError, match="rig 'rig-9'"):
        gate.unlock(make_grant(rig_id="rig-9"))
    with pytest.raises(UnlockRefusedError, match="expired"):
        gate.unlock(
            make_grant(lifetime=timedelta(seconds=1), now=make_grant().token.issued_at - timedelta(hours=1))
        )
    assert gate.status().locked
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")


def test_camera_without_frame_refuses_capture(
    gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = closing(BuiltinStillGate(lambda: None, **gate_options))
    gate.start()
    gate.unlock(make_grant())
    with pytest.raises(CaptureRefusedError, match="no frame"):
        gate.capture("face")


def test_unwritable_session_folder_faults_and_locks(
    gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the capture root should be")
    gate = closing(BuiltinStillGate(_frame, **{**gate_options, "capture_root": blocker}))
    status = gate.start()
    assert not status.healthy and status.locked
    with pytest.raises(UnlockRefusedError, match="faulted"):
        gate.unlock(make_grant())


def test_close_locks_and_refuses_everything(gate: BuiltinStillGate, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant())
    gate.close()
    assert gate.status().locked
    with pytest.raises(UnlockRefusedError, match="closed"):
        gate.unlock(make_grant())
