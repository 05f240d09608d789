"""Session engine benchmark: face → terms ready, and re-lock trigger → gate locked.

Runs a real demo rig (embedded registry on loopback, real gate, real signed log)
with a stand-in camera that can show an empty set or the performer on demand,
and prints p50/p95 of:

* face enters the frame → consent terms ready for the performer (identification
  with frame voting + registry lookup + signature + policy);
* performer STOP → gate locked; revocation seen → gate locked (target ≤ 200 ms);
* agent hangs → gate locked by its lease (target ≤ lease + 200 ms after the last renewal).

Usage:  python tests/benchmarks/bench_session.py [--rounds 10] [--hangs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.camera.pacing import Pacer
from agent.camera.worker import CameraWorker
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot
from registry.demo.environment import STAND_IN_ID, prepare_demo
from registry.stand_in import FRAME_SIZE, stand_in_frame

TYPES = frozenset({"face", "facs_expressions"})


class SwitchableSource:
    """A 720p stand-in camera showing an empty set or the performer, at 15 fps."""

    def __init__(self, face_present: threading.Event) -> None:
        self._face_present = face_present
        self._face = stand_in_frame()
        self._empty = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), (38, 42, 48), dtype=np.uint8)
        self._pacer = Pacer(1 / 15)
        self._closed = threading.Event()

    @property
    def label(self) -> str:
        return "switchable stand-in"

    @property
    def frame_interval_s(self) -> float | None:
        return 1 / 15

    def open(self) -> None:
        self._closed.clear()
        self._pacer.reset()

    def read(self) -> np.ndarray | None:
        if not self._pacer.wait(self._closed):
            return None
        return self._face if self._face_present.is_set() else self._empty

    def close(self) -> None:
        self._closed.set()


def wait_for(rig: Rig, predicate: Callable[[SessionSnapshot], bool], timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(rig.controller.snapshot()):
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError(f"timed out; snapshot: {rig.controller.snapshot().detail}")


def gate_locked_after(rig: Rig, start: float, timeout: float = 5.0) -> float:
    while time.monotonic() - start < timeout:
        if rig.gate.status().locked:
            return (time.monotonic() - start) * 1000
        time.sleep(0.001)
    raise TimeoutError("the gate did not lock")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, values: list[float], unit: str = "ms") -> None:
    print(
        f"{name:<44} n={len(values):>3}  p50={pct(values, 0.5):8.1f} {unit}  p95={pct(values, 0.95):8.1f} {unit}"
        f"  max={max(values):8.1f} {unit}"
    )


def unlock(rig: Rig, face: threading.Event) -> None:
    face.set()
    rig.controller.start_session("bench", TYPES)
    wait_for(rig, lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    rig.controller.confirm(TYPES)
    wait_for(rig, lambda s: s.phase is Phase.UNLOCKED)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds per measurement")
    parser.add_argument("--hangs", type=int, default=3, help="agent-hang rounds (each takes a few seconds)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        env = prepare_demo(Path(folder))
        face = threading.Event()
        source = SwitchableSource(face)
        camera = CameraWorker(lambda: source, env.config.camera, label="switchable stand-in")
        rig = Rig.from_config(env.config, camera=camera, synthetic_liveness=True)
        consent_id = env.seed.consents[STAND_IN_ID].consent_id
        terms_ready: list[float] = []
        stop_lock: list[float] = []
        revoke_lock: list[float] = []
        hang_lock: list[float] = []
        hang_after_expiry: list[float] = []
        try:
            rig.start()
            wait_for(rig, lambda _s: rig.health().roster_size > 0)
            for _ in range(args.rounds):
                face.clear()
                time.sleep(0.6)  # the voter forgets the last face
                rig.controller.start_session("bench", TYPES)
                wait_for(rig, lambda s: s.phase is Phase.IDENTIFYING)
                start = time.monotonic()
                face.set()
                terms_ready.append(
                    (wait_for(rig, lambda s: s.phase is Phase.AWAITING_CONFIRMATION) - start) * 1000
                )
                rig.controller.confirm(TYPES)
                wait_for(rig, lambda s: s.phase is Phase.UNLOCKED)
                start = time.monotonic()
                rig.controller.stop_capture()
                stop_lock.append(gate_locked_after(rig, start))
                wait_for(rig, lambda s: s.phase is Phase.IDLE)
            for _ in range(args.rounds):
                unlock(rig, face)
                start = time.monotonic()
                rig.controller.on_revocation(consent_id)
                revoke_lock.append(gate_locked_after(rig, start))
                wait_for(rig, lambda s: s.phase is Phase.IDLE)
            lease = env.config.gate.lease_seconds
            for _ in range(args.hangs):
                unlock(rig, face)
                time.sleep(0.5)
                start = time.monotonic()
                rig.controller.inject_stall(lease * 2 + 0.5)
                expires_at = rig.gate.status().lease_expires_at
                hang_lock.append(gate_locked_after(rig, start, lease + 3))
                locked_at = rig.gate.status().changed_at
                if expires_at is not None:
                    hang_after_expiry.append((locked_at - expires_at).total_seconds() * 1000)
                wait_for(rig, lambda s: s.phase is Phase.LOCKED_FAULT, lease * 3 + 10)
                wait_for(rig, lambda s: s.last_record is not None)
                rig.controller.end_session()
                wait_for(rig, lambda s: s.phase is Phase.IDLE)
        finally:
            rig.stop()
            env.close()
        print(f"gate lease: {lease} s, renewed every {env.config.gate.renew_interval_seconds} s")
        report("face enters frame -> terms ready", terms_ready)
        report("performer STOP -> gate locked", stop_lock)
        report("revocation seen -> gate locked", revoke_lock)
        report("agent hangs -> gate locked (from hang)", hang_lock)
        if hang_after_expiry:
            report("lease deadline -> gate locked", hang_after_expiry)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
