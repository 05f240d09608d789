"""Tracking in the whole rig, with both cores kept busy: the performer stays, a swap still locks.

The real demo rig (embedded registry on loopback, real gate and signed log, dlib and the
subject tracker in the identification child) watches a 720p stand-in camera while two other
processes keep both cores busy. The performer is identified, confirms, and stays in view
longer than the absence timeout and its stall allowance: capture must stay unlocked (the
followed frames show them). Then another person's face appears exactly where theirs was, a
swap the face box tracker follows: capture must lock (as an unknown subject, or, when the
loaded rig is slower than the absence timeout, as the performer's absence), and no frame taken
after the swap may carry the performer's name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.camera.worker import CameraWorker
from agent.faces.decision import Decision
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.recognition import RecognitionResult
from agent.session.snapshot import SessionSnapshot
from registry.demo.environment import DemoEnvironment, prepare_demo
from tests.cpu_load import busy_cores
from tests.stand_in_camera import StandInSource

TYPES = frozenset({"face"})
WAIT_S = 90.0
STAYING_S = 8.0
"""How long the unlocked performer stays in view: longer than absence timeout (3 s) + allowance (2 s)."""


class Results:
    """Every recognition result, as (camera time, analysis), from the recognition thread."""

    def __init__(self) -> None:
        self.items: list[RecognitionResult] = []
        self._lock = threading.Lock()

    def add(self, result: RecognitionResult) -> None:
        with self._lock:
            self.items.append(result)

    def since(self, at: float) -> list[RecognitionResult]:
        with self._lock:
            return [r for r in self.items if r.frame_captured_at >= at]

    def tail(self, count: int = 15) -> str:
        """The last results, for a failure message: camera time, decision, analysis time."""
        with self._lock:
            last = self.items[-count:]
        return ", ".join(
            f"{r.frame_captured_at:.2f} {r.analysis.decision.value} {r.analysis.timings.total_ms:.0f} ms"
            for r in last
        )


def wait_for(
    rig: Rig,
    results: Results,
    what: str,
    predicate: Callable[[SessionSnapshot], bool],
    timeout: float = WAIT_S,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(rig.controller.snapshot()):
            return
        time.sleep(0.02)
    snapshot = rig.controller.snapshot()
    raise AssertionError(
        f"timed out waiting for {what}: phase {snapshot.phase.value}, {snapshot.detail}; last results: {results.tail()}"
    )


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[DemoEnvironment]:
    env = prepare_demo(tmp_path / "demo")
    try:
        yield env
    finally:
        env.close()


@pytest.mark.faces
def test_under_load_the_followed_performer_stays_unlocked_and_a_swap_mid_track_locks(
    environment: DemoEnvironment, faces_dir: Path
) -> None:
    source = StandInSource(other_face=faces_dir / "identities" / "barack_obama" / "1.jpg")
    camera = CameraWorker(lambda: source, environment.config.camera, label="stand-in camera")
    rig = Rig.from_config(environment.config, camera=camera, synthetic_liveness=True)
    results = Results()
    rig.recognition.add_listener(results.add)
    with busy_cores(2):
        rig.start()
        try:
            wait_for(rig, results, "the roster", lambda _s: rig.health().roster_size > 0)
            rig.controller.start_session("technician", TYPES)
            wait_for(rig, results, "the terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
            rig.controller.confirm(TYPES)
            wait_for(rig, results, "the unlock", lambda s: s.phase is Phase.UNLOCKED)
            unlocked_at = time.monotonic()
            time.sleep(STAYING_S)
            snapshot = rig.controller.snapshot()
            assert snapshot.phase is Phase.UNLOCKED, f"{snapshot.detail}; last results: {results.tail()}"
            staying = [r.analysis.decision for r in results.since(unlocked_at)]
            assert Decision.TRACKED in staying, staying  # followed, not re-identified every frame
            assert Decision.MATCH in staying  # ... and re-verified on real encodings

            source.switch("other")
            wait_for(rig, results, "the lock", lambda s: s.phase is not Phase.UNLOCKED, 30.0)
            wait_for(
                rig, results, "the record", lambda s: s.last_record is not None and s.phase is Phase.IDLE
            )
            record = dict(rig.controller.snapshot().last_record or {})
        finally:
            rig.stop()
    assert source.switched_at is not None
    codes = record["reason_codes"]
    assert isinstance(codes, list)
    # Someone else in view locks as an unknown subject once three frames voted for it, or, when
    # the loaded rig takes longer than the absence timeout to analyse them, as the performer's
    # absence (a frame taken 3 s after the last sighting still shows someone else): both are
    # the designed answers to a swap (docs/session.md). A stall would be a failure here.
    assert {"unknown_subject", "performer_absent"} & set(codes), codes
    assert "recognition_stalled" not in codes, codes
    after_swap = results.since(source.switched_at)
    decisions = [r.analysis.decision for r in after_swap]
    assert Decision.UNKNOWN in decisions, decisions
    # The other face looks different from the performer's last match (resemblance 0.36-0.52,
    # doubt below 0.7): it is encoded at once, never followed under the performer's name.
    assert all(r.analysis.performer_id is None for r in after_swap), decisions
