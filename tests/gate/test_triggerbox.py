"""TriggerBox gate against a firmware emulator on a real pseudo-terminal (pyserial opens the pty)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureRefusedError, UnlockRefusedError
from agent.gate.settings import TriggerBoxGateSettings
from agent.gate.triggerbox import TriggerBoxGate
from tests.gate.conftest import MakeGrant, Recorder
from tests.gate.peers import FakeTriggerBox, wait_until

Closing = Callable[[CaptureGate], CaptureGate]


@pytest.fixture
def box() -> Iterator[FakeTriggerBox]:
    fake = FakeTriggerBox()
    yield fake
    fake.close()


def _gate(box: FakeTriggerBox, options: dict[str, Any], closing: Closing, **overrides: Any) -> TriggerBoxGate:
    settings = TriggerBoxGateSettings.model_validate({"kind": "triggerbox", "port": box.port, **overrides})
    gate = TriggerBoxGate(settings, **options)
    closing(gate)
    gate.start()
    return gate


def test_start_disables_all_outputs_and_saves_locked_state(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing
) -> None:
    assert not box.locked  # a fresh box would fire every camera
    gate = _gate(box, gate_options, closing)
    assert box.locked and box.focus == "000000"
    assert box.eeprom_shutter == "000000"  # power cycle comes back locked
    assert gate.status().peer_locked is True
    assert not box.press_trigger_input()  # the hand trigger is gated too


def test_unlock_enables_mask_fire_fires_and_lock_disables(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = _gate(box, gate_options, closing, enable_mask="110011")
    recorder = Recorder(gate)
    gate.unlock(make_grant())
    assert box.shutter == "110011"
    (event,) = gate.capture("face")
    assert event.kind == "trigger" and event.within_unlock_window
    assert wait_until(lambda: box.fired == ["110011"])
    assert recorder.events == [event]
    gate.lock("performer absent")
    assert box.locked
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")
    assert box.fired == ["110011"]


def test_lease_lapse_disables_outputs_at_the_box(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = _gate(box, gate_options, closing)
    gate.unlock(make_grant(lease=0.3))
    assert not box.locked
    assert wait_until(lambda: box.locked, timeout=5)
    assert gate.status().locked


def test_mask_changed_behind_our_back_faults_and_relocks(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = _gate(box, gate_options, closing)
    box.set_shutter_by_hand("111111")
    assert wait_until(lambda: not gate.status().healthy, timeout=5)
    assert "reports shutter outputs" in (gate.status().last_error or "")
    assert wait_until(lambda: box.locked, timeout=5)
    with pytest.raises(UnlockRefusedError, match="faulted"):
        gate.unlock(make_grant())


def test_unplugged_box_faults_and_locks(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    gate = _gate(box, gate_options, closing)
    gate.unlock(make_grant())
    box.unplug()
    assert wait_until(lambda: not gate.status().healthy, timeout=5)
    status = gate.status()
    assert status.locked
    assert status.peer_locked is False  # nothing could confirm the box is disabled
    with pytest.raises(CaptureRefusedError):
        gate.capture("face")


def test_silent_box_is_a_fault_at_start(
    box: FakeTriggerBox, gate_options: dict[str, Any], closing: Closing
) -> None:
    box.silent = True
    gate = _gate(box, gate_options, closing, reply_timeout_s=0.2)
    status = gate.status()
    assert not status.healthy and status.locked
    assert "did not answer" in (status.last_error or "")


def test_missing_port_is_a_fault(gate_options: dict[str, Any], closing: Closing) -> None:
    settings = TriggerBoxGateSettings(kind="triggerbox", port="/dev/does-not-exist-scangate")
    gate = closing(TriggerBoxGate(settings, **gate_options))
    status = gate.start()
    assert not status.healthy and "cannot open TriggerBox port" in (status.last_error or "")


def test_loop_url_dry_run_without_acknowledgements(
    gate_options: dict[str, Any], closing: Closing, make_grant: MakeGrant
) -> None:
    settings = TriggerBoxGateSettings(
        kind="triggerbox", port="loop://", ack=None, query_shutter_command=None, persist_command=None
    )
    gate = closing(TriggerBoxGate(settings, **gate_options))
    assert gate.start().healthy
    gate.unlock(make_grant())
    gate.capture("face")
    assert gate.lock("done").peer_locked is True


def test_mask_must_match_outputs() -> None:
    with pytest.raises(ValueError, match="4 digits"):
        TriggerBoxGateSettings(kind="triggerbox", port="loop://", outputs=4)


@pytest.mark.parametrize(
    ("command", "problem"),
    [("s{masks}", "unknown placeholder"), ("s{mask", "bad placeholder"), ("s{0}", "unknown placeholder")],
)
def test_mask_command_typo_is_a_config_error(command: str, problem: str) -> None:
    # At start the lock could not even be formatted: the box would stay as it was (maybe armed).
    with pytest.raises(ValueError, match=problem):
        TriggerBoxGateSettings(kind="triggerbox", port="loop://", shutter_command=command)
    with pytest.raises(ValueError, match=problem):
        TriggerBoxGateSettings(kind="triggerbox", port="loop://", focus_command=command)
