"""Benchmark: how fast each capture gate backend gets its peer locked.

For every backend, against the same real loopback peers the tests use
(tests/gate/peers.py), it measures:

* explicit lock: from calling ``lock()`` to the peer being locked
  (TriggerBox emulator sees ``s000000``; fake Smart Shooter sees Disconnect;
  the rig program has written "disarmed"; the HTTP API answers allowed=false
  to a real client; the built-in gate refuses to write). Target <= 200 ms.
* lease lapse (a crashed/hung session engine): from the last unlock/renew to
  the peer being locked, with nobody calling ``lock()``. Target <= lease + 200 ms.
  Also printed: the overshoot past the lease deadline.
* agent process killed (SIGKILL) or frozen (SIGSTOP) while unlocked, for the
  backends with a lease guardian: from the signal to the peer being locked.
  A killed agent is locked at once; a frozen one when its lease (renewed every
  lease/5 s) plus the guardian margin has run out, i.e. <= lease + margin + action.

Run: ``python tests/benchmarks/bench_gate.py [--runs 30] [--lapse-runs 10] [--lease 1.0]``.
Numbers depend on machine load; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.gate.base import CaptureGate
from agent.gate.builtin import BuiltinStillGate
from agent.gate.command import CommandGate
from agent.gate.http_api import HttpApiGate
from agent.gate.models import UnlockGrant
from agent.gate.settings import (
    CommandGateSettings,
    GateSettings,
    HttpApiGateSettings,
    SmartShooterGateSettings,
    TriggerBoxGateSettings,
)
from agent.gate.smartshooter import SmartShooterGate
from agent.gate.token import mint_capture_token
from agent.gate.triggerbox import TriggerBoxGate
from agent.signing import Signer
from tests.gate.peers import FakeSmartShooter, FakeTriggerBox, fake_rig_argv

AGENT_PROCESS = Path(__file__).resolve().parents[1] / "gate" / "agent_process.py"

SIGNER = Signer(Ed25519PrivateKey.generate())
RIG_ID = "bench-rig"
EXPLICIT_TARGET_MS = 200.0
LAPSE_MARGIN_MS = 200.0


@dataclass
class Rig:
    """A started gate plus a function telling when its peer became locked after ``since``."""

    gate: CaptureGate
    locked_at: Callable[[float], float | None]


def _grant(lease: float) -> UnlockGrant:
    token = mint_capture_token(
        SIGNER,
        session_id="bench",
        rig_id=RIG_ID,
        performer_id="p",
        production_id="x",
        capture_types=["face"],
        lifetime=timedelta(minutes=30),
    )
    return UnlockGrant(token=token, lease_seconds=lease)


def _options(root: Path) -> dict[str, Any]:
    return {
        "trusted_keys": {SIGNER.key_id: SIGNER.public_key},
        "capture_root": root / "captures",
        "rig_id": RIG_ID,
        "health_check_interval_s": 1.0,
    }


def _poll(predicate: Callable[[], bool], timeout: float = 10.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.001)
    return None


def _first_change(
    changes: list[tuple[float, str]], since: float, locked_value: Callable[[str], bool]
) -> float | None:
    for moment, value in list(changes):
        if moment >= since and locked_value(value):
            return moment
    return None


@contextmanager
def builtin_rig(root: Path) -> Iterator[Rig]:
    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    gate = BuiltinStillGate(lambda: frame, **_options(root))
    gate.start()
    try:
        yield Rig(gate, lambda since: _poll(lambda: gate.status().locked))
    finally:
        gate.close()


@contextmanager
def command_rig(root: Path) -> Iterator[Rig]:
    state = root / "rig"
    state.mkdir()
    settings = CommandGateSettings(
        kind="command",
        unlock_command=fake_rig_argv(state, "arm"),
        lock_command=fake_rig_argv(state, "disarm"),
    )
    gate = CommandGate(settings, **_options(root))
    gate.start()

    def disarmed_at(since: float) -> float | None:
        def found() -> float | None:
            for line in (state / "changes").read_text().splitlines():
                moment, value = line.split()
                if float(moment) >= since and value == "disarmed":
                    return float(moment)
            return None

        _poll(lambda: found() is not None)
        return found()

    try:
        yield Rig(gate, disarmed_at)
    finally:
        gate.close()


@contextmanager
def triggerbox_rig(root: Path) -> Iterator[Rig]:
    box = FakeTriggerBox()
    gate = TriggerBoxGate(TriggerBoxGateSettings(kind="triggerbox", port=box.port), **_options(root))
    gate.start()

    def locked_at(since: float) -> float | None:
        _poll(lambda: _first_change(box.changes, since, lambda mask: "1" not in mask) is not None)
        return _first_change(box.changes, since, lambda mask: "1" not in mask)

    try:
        yield Rig(gate, locked_at)
    finally:
        gate.close()
        box.close()


@contextmanager
def smartshooter_rig(root: Path) -> Iterator[Rig]:
    downloads = root / "downloads"
    downloads.mkdir()
    shooter = FakeSmartShooter(downloads)
    settings = SmartShooterGateSettings(
        kind="smartshooter", request_endpoint=shooter.request_endpoint, event_endpoint=shooter.event_endpoint
    )
    gate = SmartShooterGate(settings, **_options(root))
    gate.start()

    def locked_at(since: float) -> float | None:
        _poll(lambda: _first_change(shooter.changes, since, lambda v: v == "disconnected") is not None)
        return _first_change(shooter.changes, since, lambda v: v == "disconnected")

    try:
        yield Rig(gate, locked_at)
    finally:
        gate.close()
        shooter.close()


@contextmanager
def http_api_rig(root: Path) -> Iterator[Rig]:
    token_file = root / "api.token"
    gate = HttpApiGate(
        HttpApiGateSettings(kind="http_api", port=0, auth_token_file=token_file), **_options(root)
    )
    gate.start()
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
    url = f"{gate.url}/v1/gate"

    def refused_at(since: float) -> float | None:
        return _poll(lambda: client.get(url, timeout=5).json()["allowed"] is False)

    try:
        yield Rig(gate, refused_at)
    finally:
        client.close()
        gate.close()


RIGS: dict[str, Callable[[Path], Any]] = {
    "builtin": builtin_rig,
    "command": command_rig,
    "triggerbox": triggerbox_rig,
    "smartshooter": smartshooter_rig,
    "http_api": http_api_rig,
}


def measure_explicit(rig: Rig, runs: int) -> list[float]:
    """Milliseconds from calling lock() to the peer being locked."""
    samples = []
    for _ in range(runs):
        rig.gate.unlock(_grant(lease=30))
        time.sleep(0.02)
        started = time.monotonic()
        rig.gate.lock("benchmark")
        locked = rig.locked_at(started)
        if locked is None:
            raise RuntimeError(f"{rig.gate.backend_name}: peer never locked")
        samples.append((locked - started) * 1000)
    return samples


def measure_lapse(rig: Rig, runs: int, lease: float) -> tuple[list[float], list[float]]:
    """Milliseconds from the last unlock to the peer being locked, and the overshoot past the deadline."""
    totals, overshoots = [], []
    for _ in range(runs):
        started = time.monotonic()
        status = rig.gate.unlock(_grant(lease=lease))
        deadline = time.monotonic() + (status.lease_expires_in_s or 0.0)
        locked = rig.locked_at(started + lease * 0.5)
        if locked is None:
            raise RuntimeError(f"{rig.gate.backend_name}: peer never locked after the lease lapsed")
        totals.append((locked - started) * 1000)
        overshoots.append((locked - deadline) * 1000)
        time.sleep(0.05)
    return totals, overshoots


@contextmanager
def process_peer(kind: str, root: Path) -> Iterator[tuple[dict[str, Any], Callable[[float], float | None]]]:
    """A peer for an out-of-process agent: its backend settings and a 'locked at' function."""
    if kind == "triggerbox":
        box = FakeTriggerBox()
        try:
            yield (
                {"kind": "triggerbox", "port": box.port},
                lambda since: _wait_first(lambda: _first_change(box.changes, since, lambda m: "1" not in m)),
            )
        finally:
            box.close()
    elif kind == "smartshooter":
        downloads = root / "downloads"
        downloads.mkdir(exist_ok=True)
        shooter = FakeSmartShooter(downloads)
        try:
            yield (
                {
                    "kind": "smartshooter",
                    "request_endpoint": shooter.request_endpoint,
                    "event_endpoint": shooter.event_endpoint,
                },
                lambda since: _wait_first(
                    lambda: _first_change(shooter.changes, since, lambda v: v == "disconnected")
                ),
            )
        finally:
            shooter.close()
    else:
        state = root / "rig"
        state.mkdir(exist_ok=True)

        def disarmed(since: float) -> float | None:
            changes = (state / "changes").read_text().splitlines() if (state / "changes").exists() else []
            pairs = [(float(t), v) for t, v in (line.split() for line in changes)]
            return _first_change(pairs, since, lambda v: v == "disarmed")

        yield (
            {
                "kind": "command",
                "unlock_command": fake_rig_argv(state, "arm"),
                "lock_command": fake_rig_argv(state, "disarm"),
            },
            lambda since: _wait_first(lambda: disarmed(since)),
        )


def _wait_first(find: Callable[[], float | None], timeout: float = 15.0) -> float | None:
    _poll(lambda: find() is not None, timeout)
    return find()


def measure_process_loss(kind: str, runs: int, lease: float, how: str) -> list[float]:
    """Milliseconds from killing/freezing an unlocked agent process to the peer being locked."""
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix=f"bench-gate-{how}-") as folder:
            root = Path(folder)
            with process_peer(kind, root) as (backend, locked_at):
                settings = GateSettings.model_validate(
                    {
                        "backend": backend,
                        "capture_root": str(root / "captures"),
                        "lease_seconds": lease,
                        "renew_interval_seconds": lease / 5,
                    }
                )
                agent = subprocess.Popen(
                    [sys.executable, str(AGENT_PROCESS), settings.model_dump_json(), str(lease)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                assert agent.stdin is not None and agent.stdout is not None
                guardian_pid = int(agent.stdout.readline().split()[1])
                gone = _gone_checker(guardian_pid)
                try:
                    agent.stdin.write("renew-loop\n")
                    agent.stdin.flush()
                    agent.stdout.readline()
                    time.sleep(lease)
                    started = time.monotonic()
                    os.kill(agent.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
                    locked = locked_at(started)
                finally:
                    agent.kill()
                    agent.wait(timeout=10)
                    _poll(gone, 5)
                if locked is None:
                    raise RuntimeError(f"{kind}: peer never locked after the agent was {how}ed")
                samples.append((locked - started) * 1000)
    return samples


def _gone_checker(pid: int) -> Callable[[], bool]:
    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    return gone


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(backend: str, metric: str, samples: list[float], target: float | None) -> str:
    p50, p95, worst = statistics.median(samples), _pct(samples, 0.95), max(samples)
    verdict = "" if target is None else ("ok" if p95 <= target else "OVER")
    target_text = "" if target is None else f"{target:.0f}"
    return f"{backend:<13} {metric:<22} {len(samples):>4} {p50:>8.1f} {p95:>8.1f} {worst:>8.1f} {target_text:>7} {verdict:>5}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print p50/p95/max per backend."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="explicit lock measurements per backend")
    parser.add_argument("--lapse-runs", type=int, default=10, help="lease lapse measurements per backend")
    parser.add_argument("--lease", type=float, default=1.0, help="lease seconds for the lapse measurement")
    parser.add_argument(
        "--backends", nargs="*", default=list(RIGS), choices=list(RIGS), help="backends to measure"
    )
    parser.add_argument(
        "--process-runs", type=int, default=5, help="killed/frozen agent measurements per backend"
    )
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"bench_gate: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"lease {args.lease:g} s; explicit runs {args.runs}; lapse runs {args.lapse_runs}; times in ms")
    print(f"{'backend':<13} {'metric':<22} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8} {'target':>7} {'':>5}")
    lapse_target = args.lease * 1000 + LAPSE_MARGIN_MS
    for name in args.backends:
        with (
            tempfile.TemporaryDirectory(prefix=f"bench-gate-{name}-") as folder,
            RIGS[name](Path(folder)) as rig,
        ):
            explicit = measure_explicit(rig, args.runs)
            totals, overshoots = measure_lapse(rig, args.lapse_runs, args.lease)
        print(_row(name, "lock() -> peer locked", explicit, EXPLICIT_TARGET_MS))
        print(_row(name, "renew -> peer locked", totals, lapse_target))
        print(_row(name, "  overshoot past lease", overshoots, None))
    guarded = [name for name in args.backends if name in ("command", "triggerbox", "smartshooter")]
    if args.process_runs > 0:
        for name in guarded:
            killed = measure_process_loss(name, args.process_runs, args.lease, "kill")
            frozen = measure_process_loss(name, args.process_runs, args.lease, "stop")
            print(_row(name, "SIGKILL -> peer locked", killed, lapse_target))
            print(_row(name, "SIGSTOP -> peer locked", frozen, lapse_target))
    load = os.getloadavg()
    print(f"bench_gate: load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
