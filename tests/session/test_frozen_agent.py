"""A whole agent process frozen (SIGSTOP) while capture is unlocked, end to end.

The agent (tests/session/agent_process.py: the rig of ``scangate run`` with the demo's
embedded registry, stand-in camera clip and real recognition) drives the command gate
backend, whose rig is a real program keeping its state in a file, and runs the lease
guardian process. While the agent is frozen nothing in it runs, its lease watchdog
included: the guardian must disarm the rig within the lease. When the agent runs again,
its signed record must say what happened: the lease lapsed (a fault), with the lock
stamped when the lease ran out, not that the performer left or recognition stalled
(no frames were analysed while it was frozen, which the engine must not misread).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.records.keys import load_public_key_file, trusted_keys
from agent.records.verify import verify_log
from registry.demo import prepare_demo
from tests.conftest import REPO_ROOT
from tests.cpu_load import busy_cores, load_average
from tests.gate.peers import fake_rig_argv, wait_until

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="uses SIGSTOP/SIGCONT"),
    pytest.mark.slow,  # a real agent with recognition, frozen for several seconds: ~30 s per run
]

AGENT = Path(__file__).with_name("agent_process.py")
LEASE_S = 1.0
GUARDIAN_MARGIN_S = 0.15
FROZEN_S = 7.0
"""Longer than the lease, and than the absence timeout (3 s) plus the analysis lag allowance (2 s):
a frozen agent has analysed no frames, which must not be judged a recognition stall."""
GUARDIAN_SLACK_S = 2.0
"""How late the guardian may disarm the rig after lease + margin (scheduling, a loaded machine)."""


class FrozenAgent:
    """A running agent_process.py."""

    def __init__(self, config_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(AGENT), str(config_path)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        words = self.read().split()
        assert words[:1] == ["ready"], f"the agent did not start: {words}"
        self.pid, self.guardian_pid = int(words[1]), int(words[2])
        assert self.guardian_pid, "the command backend must run a lease guardian"

    def read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def state(self) -> str:
        return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.guardian_pid, signal.SIGKILL)


@pytest.fixture
def rig_dir(tmp_path: Path) -> Path:
    path = tmp_path / "rig"
    path.mkdir()
    return path


@pytest.fixture
def config_path(tmp_path: Path, rig_dir: Path) -> Iterator[Path]:
    env = prepare_demo(tmp_path / "demo")
    text = env.config_path.read_text(encoding="utf-8")
    gate = "\n".join(
        [
            "[gate]",
            'capture_root = "captures"',
            f"lease_seconds = {LEASE_S}",
            "renew_interval_seconds = 0.2",
            f"guardian_margin_seconds = {GUARDIAN_MARGIN_S}",
            "",
            "[gate.backend]",
            'kind = "command"',
            f"unlock_command = {json.dumps(fake_rig_argv(rig_dir, 'arm'))}",
            f"lock_command = {json.dumps(fake_rig_argv(rig_dir, 'disarm'))}",
            "",
        ]
    )
    assert '[gate]\ncapture_root = "captures"\n' in text
    env.config_path.write_text(text.replace('[gate]\ncapture_root = "captures"\n', gate), encoding="utf-8")
    try:
        yield env.config_path
    finally:
        env.close()


def _records(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _freeze_and_thaw(config_path: Path, rig_dir: Path) -> None:
    log_path = config_path.parent / "sessions.jsonl"
    agent = FrozenAgent(config_path)
    try:
        answer = agent.send("unlock")
        assert answer.startswith("unlocked "), answer
        assert (rig_dir / "state").read_text() == "armed"
        time.sleep(1.0)  # a few renewals: the agent is healthy before it freezes
        stopped_at, stopped_m = datetime.now(UTC), time.monotonic()
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            assert wait_until(lambda: agent.state() == "T", timeout=5)
            assert wait_until(
                lambda: (rig_dir / "state").read_text() == "disarmed",
                timeout=LEASE_S + GUARDIAN_MARGIN_S + GUARDIAN_SLACK_S,
            ), "the guardian did not disarm the rig of the frozen agent"
            disarmed_after = time.monotonic() - stopped_m
            assert agent.state() == "T", "the agent must still be frozen: the guardian locked the rig"
            time.sleep(max(0.0, FROZEN_S - (time.monotonic() - stopped_m)))
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        thawed_at = datetime.now(UTC)
        assert wait_until(lambda: len(_records(log_path)) == 1, timeout=30), "no record after the thaw"
        assert agent.send("stop") == "stopped"
        agent.process.wait(timeout=30)
    finally:
        agent.close()
    print(
        f"frozen {FROZEN_S:g} s; rig disarmed {disarmed_after * 1000:.0f} ms after SIGSTOP"
        f" (lease {LEASE_S:g} s + margin {GUARDIAN_MARGIN_S:g} s); {load_average()}"
    )
    [record] = _records(log_path)
    assert record["outcome"] == "fault", record["outcome_detail"]
    assert "gate_lease_lapsed" in record["reason_codes"], record["reason_codes"]
    assert "recognition_stalled" not in record["reason_codes"], record["outcome_detail"]
    assert "performer_absent" not in record["reason_codes"]
    lock = record["gate_events"][1]
    assert [e["action"] for e in record["gate_events"]] == ["unlock", "lock"]
    assert lock["reason"] == "gate_lease_lapsed"
    locked_at = _at(lock["at"])
    # The lease ran out at most one lease after the last renewal before the freeze, long before the thaw.
    assert stopped_at - timedelta(seconds=LEASE_S) <= locked_at <= stopped_at + timedelta(seconds=LEASE_S)
    assert locked_at < thawed_at - timedelta(seconds=FROZEN_S - LEASE_S - 1.0)
    verdict = verify_log(
        log_path, trusted_keys([load_public_key_file(config_path.parent / "rig-public.pem")])
    )
    assert verdict.intact and verdict.records == 1


def test_a_frozen_agent_is_locked_by_the_lease_and_its_record_says_so(
    config_path: Path, rig_dir: Path
) -> None:
    _freeze_and_thaw(config_path, rig_dir)


def test_a_frozen_agent_is_locked_by_the_lease_with_both_cores_busy(config_path: Path, rig_dir: Path) -> None:
    with busy_cores(2):
        _freeze_and_thaw(config_path, rig_dir)
