"""Lease guardian: the rig is locked even when the whole agent process dies or freezes.

A real agent process (tests/gate/agent_process.py) builds the gate from settings,
starts it (which starts the guardian process) and unlocks; the test then kills
or freezes that process and checks the real peer ends up locked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.gate.errors import UnlockRefusedError
from agent.gate.factory import build_gate
from agent.gate.settings import GateSettings
from tests.gate.conftest import RIG_ID, MakeGrant
from tests.gate.peers import FakeTriggerBox, fake_rig_argv, wait_until

AGENT = Path(__file__).with_name("agent_process.py")

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses SIGKILL/SIGSTOP and ptys")


class AgentProcess:
    """A running agent_process.py."""

    def __init__(self, settings: GateSettings, lease: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(AGENT), settings.model_dump_json(), str(lease)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().split()
        assert first and first[0] == "unlocked", f"agent did not unlock: {first}"
        self.guardian_pid = int(first[1])

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


@pytest.fixture
def box() -> Iterator[FakeTriggerBox]:
    fake = FakeTriggerBox()
    yield fake
    fake.close()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.kill()
        if _running(agent.guardian_pid):
            os.kill(agent.guardian_pid, signal.SIGKILL)


def _settings(tmp_path: Path, backend: dict[str, Any]) -> GateSettings:
    return GateSettings.model_validate(
        {
            "backend": backend,
            "capture_root": str(tmp_path / "captures"),
            "lease_seconds": 1.0,
            "renew_interval_seconds": 0.2,
            "guardian_margin_seconds": 0.3,
        }
    )


def test_killed_agent_leaves_the_triggerbox_locked(
    box: FakeTriggerBox, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    agent = AgentProcess(_settings(tmp_path, {"kind": "triggerbox", "port": box.port}), lease=30)
    agents.append(agent)
    assert not box.locked
    agent.send("crash")  # SIGKILL: no atexit, no close(), no watchdog
    assert wait_until(lambda: box.locked, timeout=15)
    assert wait_until(lambda: not _running(agent.guardian_pid), timeout=10)


def test_frozen_agent_is_locked_out_by_the_guardian(
    box: FakeTriggerBox, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    agent = AgentProcess(_settings(tmp_path, {"kind": "triggerbox", "port": box.port}), lease=0.5)
    agents.append(agent)
    agent.send("renew-loop")
    assert agent.process.stdout is not None and agent.process.stdout.readline().strip() == "renewing"
    assert not box.locked
    os.kill(agent.process.pid, signal.SIGSTOP)  # the whole process, watchdog thread included
    try:
        assert wait_until(lambda: box.locked, timeout=15)
    finally:
        os.kill(agent.process.pid, signal.SIGCONT)


def test_killed_agent_leaves_the_command_rig_disarmed(tmp_path: Path, agents: list[AgentProcess]) -> None:
    rig = tmp_path / "rig"
    rig.mkdir()
    backend = {
        "kind": "command",
        "unlock_command": fake_rig_argv(rig, "arm"),
        "lock_command": fake_rig_argv(rig, "disarm"),
    }
    agent = AgentProcess(_settings(tmp_path, backend), lease=30)
    agents.append(agent)
    assert (rig / "state").read_text() == "armed"
    agent.send("crash")
    assert wait_until(lambda: (rig / "state").read_text() == "disarmed", timeout=15)


def test_clean_close_stops_the_guardian_without_acting(
    box: FakeTriggerBox, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    agent = AgentProcess(_settings(tmp_path, {"kind": "triggerbox", "port": box.port}), lease=30)
    agents.append(agent)
    agent.send("close")
    assert agent.process.stdout is not None and agent.process.stdout.readline().strip() == "closed"
    assert box.locked
    assert wait_until(lambda: not _running(agent.guardian_pid), timeout=10)
    received_after_close = len(box.received)
    agent.kill()
    assert box.received[received_after_close:] == []  # the guardian sent nothing


def test_dead_guardian_faults_the_gate_and_blocks_unlock(
    box: FakeTriggerBox, tmp_path: Path, make_grant: MakeGrant, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    gate = build_gate(
        _settings(tmp_path, {"kind": "triggerbox", "port": box.port}),
        trusted_keys=trusted_keys,
        rig_id=RIG_ID,
    )
    try:
        assert gate.start().healthy
        guardian = gate._guardian
        assert guardian is not None and guardian.pid is not None
        os.kill(guardian.pid, signal.SIGKILL)
        assert wait_until(lambda: not gate.status().healthy, timeout=10)
        assert "guardian" in (gate.status().last_error or "")
        with pytest.raises(UnlockRefusedError):
            gate.unlock(make_grant())
        assert gate.recover().healthy  # starts a new guardian
        assert guardian.alive and guardian.pid is not None
        gate.unlock(make_grant())
        assert not box.locked
    finally:
        gate.close()
    assert box.locked


def test_recover_after_a_failed_start_starts_the_guardian(
    box: FakeTriggerBox, tmp_path: Path, make_grant: MakeGrant, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    port = tmp_path / "ttyTriggerBox"  # not there yet: the box is unplugged when ScanGate starts
    gate = build_gate(
        _settings(tmp_path, {"kind": "triggerbox", "port": str(port)}),
        trusted_keys=trusted_keys,
        rig_id=RIG_ID,
    )
    try:
        assert not gate.start().healthy
        port.symlink_to(box.port)  # plugged in
        assert gate.recover().healthy and box.locked
        guardian = gate._guardian
        assert guardian is not None and guardian.alive
        gate.unlock(make_grant())
        assert not box.locked
    finally:
        gate.close()
    assert box.locked


def test_closing_a_gate_whose_start_failed_raises_no_guardian_alarm(
    tmp_path: Path, trusted_keys: dict[str, Ed25519PublicKey], caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, {"kind": "triggerbox", "port": str(tmp_path / "no-such-port")})
    gate = build_gate(settings, trusted_keys=trusted_keys, rig_id=RIG_ID)
    assert not gate.start().healthy
    gate.close()
    assert not any("leaving the lease guardian running" in r.getMessage() for r in caplog.records)


def test_backends_that_cannot_outlive_the_agent_get_no_guardian(
    tmp_path: Path, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    settings = _settings(tmp_path, {"kind": "http_api", "port": 0, "auth_token_file": str(tmp_path / "t")})
    assert build_gate(settings, trusted_keys=trusted_keys)._guardian is None
