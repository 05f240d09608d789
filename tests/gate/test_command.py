"""Command gate against a real rig controller program (tests/gate/fake_rig.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.gate.base import CaptureGate
from agent.gate.command import CommandGate
from agent.gate.errors import CaptureRefusedError, GateFaultError, UnlockRefusedError
from agent.gate.settings import CommandGateSettings
from tests.gate.conftest import MakeGrant, Recorder
from tests.gate.peers import fake_rig_argv, wait_until

Closing = Callable[[CaptureGate], CaptureGate]


@pytest.fixture
def rig(tmp_path: Path) -> Path:
    state = tmp_path / "rig"
    state.mkdir()
    return state


def _state(rig: Path) -> str:
    return (rig / "state").read_text()


def _settings(rig: Path, **overrides: Any) -> CommandGateSettings:
    fields: dict[str, Any] = {
        "kind": "command",
        "unlock_command": fake_rig_argv(rig, "arm"),
        "lock_command": fake_rig_argv(rig, "disarm"),
        "capture_command": fake_rig_argv(rig, "capture", "{session_dir}", "{capture_type}"),
        "status_command": fake_rig_argv(rig, "status"),
        "command_timeout_s": 10,
    }
    fields.update(overrides)
    return CommandGateSettings.model_validate(fields)


@pytest.fixture
def gate(rig: Path, gate_options: dict[str, Any], closing: Closing) -> CommandGate:
    built = CommandGate(_settings(rig), **{**gate_options, "health_check_interval_s": 30})
    closing(built)
    built.start()
    return built


def test_start_disarms_the_rig(gate: CommandGate, rig: Path) -> None:
    assert _state(rig) == "disarmed"
    assert gate.status().peer_locked is True


def test_unlock_arms_capture_finds_printed_file_and_lock_disarms(
    gate: CommandGate, rig: Path, make_grant: MakeGrant
) -> None:
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    assert _state(rig) == "armed"
    (event,) = gate.capture("facs")
    assert event.path == str(gate.session_dir("session-1") / "facs_001.jpg")
    assert event.within_unlock_window and event.sha256 and not event.quarantined
    assert recorder.events == [event]
    gate.lock("technician ended the session")
    assert _state(rig) == "disarmed"


def test_lease_lapse_disarms_the_rig(gate: CommandGate, rig: Path, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant(lease=0.3))
    assert _state(rig) == "armed"
    assert wait_until(lambda: _state(rig) == "disarmed", timeout=10)
    assert gate.status().locked


def test_failing_lock_command_is_a_loud_fault(
    gate: CommandGate, rig: Path, make_grant: MakeGrant, caplog: pytest.LogCaptureFixture
) -> None:
    gate.unlock(make_grant())
    (rig / "fail_disarm").touch()
    status = gate.lock("session ended")
    assert status.locked and not status.healthy
    assert status.peer_locked is False  # the physical rig may still be armed
    assert "relay stuck" in (status.last_error or "")
    assert any(r.levelname == "CRITICAL" and "ARMED" in r.getMessage() for r in caplog.records)
    with pytest.raises(UnlockRefusedError, match="faulted"):
        gate.unlock(make_grant())
    (rig / "fail_disarm").unlink()
    assert gate.recover().healthy
    assert _state(rig) == "disarmed"


def test_failing_unlock_command_faults_and_stays_locked(
    gate: CommandGate, rig: Path, make_grant: MakeGrant
) -> None:
    (rig / "fail_arm").touch()
    with pytest.raises(UnlockRefusedError, match="cannot arm"):
        gate.unlock(make_grant())
    status = gate.status()
    assert status.locked and not status.healthy
    assert _state(rig) == "disarmed"  # the gate sent the lock after the failure


def test_capture_refused_while_locked_never_runs_the_program(gate: CommandGate, rig: Path) -> None:
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")
    assert not any(gate.capture_root.rglob("*.jpg"))


def test_failing_capture_faults_the_gate(gate: CommandGate, rig: Path, make_grant: MakeGrant) -> None:
    gate.unlock(make_grant())
    (rig / "state").write_text("disarmed")  # the rig refuses: the program exits 3
    with pytest.raises(GateFaultError, match="exited with code 3"):
        gate.capture("face")
    assert gate.status().locked and not gate.status().healthy


def test_lock_during_capture_kills_it_and_quarantines_its_files(
    rig: Path, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = CommandGate(_settings(rig, discovery="folder"), **gate_options)
    closing(gate)
    gate.start()
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    (rig / "slow_capture").write_text("30")

    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture_into(gate, outcome))
    worker.start()
    session_dir = gate.session_dir("session-1")
    assert wait_until(lambda: any(session_dir.glob("face_*.jpg")), timeout=10)
    gate.lock("performer tapped stop")
    worker.join(timeout=10)
    assert outcome and isinstance(outcome[0], CaptureRefusedError)
    (event,) = recorder.events
    assert not event.within_unlock_window and event.quarantined
    quarantined = Path(event.quarantine_path or "")
    assert quarantined.parent == session_dir / "quarantine"
    sidecar = json.loads(quarantined.with_name(quarantined.name + ".quarantine.json").read_text())
    assert "outside an unlock window" in sidecar["reason"]
    assert not any(session_dir.glob("face_*.jpg"))


def test_lock_landing_while_a_capture_starts_still_kills_it(
    gate: CommandGate, rig: Path, make_grant: MakeGrant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lock() flips the state and kills the running captures *before* it waits for the I/O lock;
    # a capture authorised just before holds that lock while it spawns its program, which must
    # still be killed when lock() gets the I/O lock.
    gate.unlock(make_grant())
    (rig / "slow_capture").write_text("5")
    aborted = threading.Event()
    abort, spawn = gate._peer_abort_inflight, gate._spawn_process

    def abort_and_tell() -> None:
        abort()
        aborted.set()

    def spawn_after_lock_began(*args: Any) -> Any:
        threading.Thread(target=gate.lock, args=("performer tapped stop",)).start()
        assert aborted.wait(timeout=5)  # lock() is now waiting for the I/O lock held here
        return spawn(*args)

    monkeypatch.setattr(gate, "_peer_abort_inflight", abort_and_tell)
    monkeypatch.setattr(gate, "_spawn_process", spawn_after_lock_began)
    started = time.monotonic()
    with pytest.raises(CaptureRefusedError, match="interrupted"):
        gate.capture("face")
    assert time.monotonic() - started < 4  # killed, not left to run its 5 s after the lock
    assert wait_until(lambda: _state(rig) == "disarmed")


def _capture_into(gate: CommandGate, outcome: list[BaseException]) -> None:
    try:
        gate.capture("face")
    except BaseException as exc:
        outcome.append(exc)


def test_failing_status_command_faults_and_locks(
    rig: Path, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = closing(CommandGate(_settings(rig), **gate_options))
    gate.start()
    gate.unlock(make_grant())
    (rig / "fail_status").touch()
    assert wait_until(lambda: not gate.status().healthy, timeout=10)
    assert gate.status().locked
    assert wait_until(lambda: _state(rig) == "disarmed", timeout=10)


def test_missing_program_is_a_clear_fault(
    gate_options: dict[str, Any], closing: Closing, tmp_path: Path
) -> None:
    settings = CommandGateSettings(kind="command", lock_command=[str(tmp_path / "no-such-program")])
    gate = closing(CommandGate(settings, **gate_options))
    status = gate.start()
    assert not status.healthy and status.locked
    assert "could not run" in (status.last_error or "")


def test_unknown_placeholder_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        CommandGateSettings(kind="command", lock_command=["disarm", "{sesion_id}"])
