"""Identification runs only while a session is open (issue 11, finding 4).

Outside a session the rig may find a face (the preview draws its box) but must not
match it against the roster: naming whoever walks past the camera is 1:N
identification of people who have not presented themselves. Driven on the real demo
rig: embedded registry on loopback, the camera worker on the stand-in clip, the real
identification child process and the session engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.faces.decision import Decision
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.recognition import RecognitionResult
from registry.demo import prepare_demo
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME

WAIT_S = 45.0
"""Upper bound for anything waited for (dlib on a shared 2-core machine)."""
FRAMES_OUTSIDE = 4
"""How many frames with a face in view must arrive before a session starts."""


class Results:
    """Every recognition result the rig hands its listeners (as the screens would get them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[RecognitionResult] = []

    def __call__(self, result: RecognitionResult) -> None:
        with self._lock:
            self.items.append(result)

    def snapshot(self) -> list[RecognitionResult]:
        with self._lock:
            return list(self.items)

    def wait(
        self, what: str, predicate: Callable[[list[RecognitionResult]], bool]
    ) -> list[RecognitionResult]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            items = self.snapshot()
            if predicate(items):
                return items
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {[r.analysis.decision for r in items]}")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    environment = prepare_demo(tmp_path / "demo")
    built = Rig.from_config(environment.config, synthetic_liveness=True)
    try:
        built.start()
        yield built
    finally:
        built.stop()
        environment.close()


def _with_face(items: list[RecognitionResult]) -> list[RecognitionResult]:
    return [r for r in items if r.analysis.box is not None]


def test_no_name_or_distance_reaches_listeners_while_no_session_is_open(rig: Rig) -> None:
    results = Results()
    rig.recognition.add_listener(results)
    items = results.wait("face boxes with no session open", lambda i: len(_with_face(i)) >= FRAMES_OUTSIDE)
    assert rig.controller.snapshot().phase is Phase.IDLE

    for result in _with_face(items):
        analysis = result.analysis
        assert analysis.performer_id is None, analysis
        assert analysis.display_name is None
        assert analysis.distance is None and analysis.margin is None
        assert analysis.template_id is None and analysis.template_version is None
        assert STAND_IN_NAME not in analysis.reason, analysis.reason
        assert analysis.decision is Decision.FACE_IN_VIEW, analysis
    snapshot = rig.controller.snapshot()
    assert snapshot.performer_id is None and snapshot.performer_name is None
    assert snapshot.match_distance is None
    assert not any(STAND_IN_ID in text or STAND_IN_NAME in text for _at, text in snapshot.events)


def test_a_session_identifies_and_the_end_of_it_stops_identifying(rig: Rig) -> None:
    results = Results()
    rig.recognition.add_listener(results)
    results.wait("a face in view", lambda i: len(_with_face(i)) >= 1)

    rig.controller.start_session("Sam Okafor", frozenset({"face"}))
    items = results.wait("a match in the session", lambda i: any(r.analysis.is_match for r in i))
    match = next(r.analysis for r in items if r.analysis.is_match)
    assert match.performer_id == STAND_IN_ID and match.distance is not None

    rig.controller.end_session()
    deadline = time.monotonic() + WAIT_S
    while rig.controller.snapshot().phase is not Phase.IDLE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.controller.snapshot().phase is Phase.IDLE
    seen = len(results.snapshot())
    # Give the frame in flight at the end (asked for while the session was still open) time to land.
    results.wait("frames after the session", lambda i: len(_with_face(i[seen:])) >= FRAMES_OUTSIDE)
    after = _with_face(results.snapshot()[seen + 1 :])
    assert after
    assert all(r.analysis.performer_id is None and r.analysis.distance is None for r in after)
