"""The recognition worker identifies only frames the open session counts (issue 14, goal 2).

A session counts only frames the camera took after it started (:class:`FrameEvents` drops the
others: they must not vote for whoever stood there before). Encoding such a frame anyway costs
a whole ResNet pass (90–330 ms on the rig's machine) during which the session waits for the
first frame it does count: measured in 2 of 4 identify-to-terms with tracking. The worker skips
those frames instead, which changes no decision (their identity was never used).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from agent.camera.frame import Frame
from agent.errors import FaceEngineError
from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis
from agent.faces.imaging import RGBImage
from agent.faces.roster import Roster
from agent.faces.settings import IdentificationSettings
from agent.faces.subprocess_identifier import SubprocessIdentifier
from agent.session.recognition import RecognitionResult, RecognitionWorker

IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)


class ListedCamera:
    """Hands out the given capture times as frames, one per ``latest`` call, then nothing."""

    def __init__(self, captured_at: list[float]) -> None:
        self._frames = [Frame(IMAGE, k + 1, at, "test") for k, at in enumerate(captured_at)]
        self.done = threading.Event()

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        newer = [f for f in self._frames if after_sequence is None or f.sequence > after_sequence]
        if not newer:
            self.done.set()
            time.sleep(0.01)
            return None
        return newer[0]


class RecordingIdentifier:
    """Says which camera times it was asked to identify and which only to locate."""

    def __init__(self) -> None:
        self.identified: list[float] = []
        self.located: list[float] = []

    def analyse(self, frame: RGBImage) -> FrameAnalysis:
        raise AssertionError("the tracking identifier is given every frame through follow()")

    def locate(self, frame: RGBImage) -> FrameAnalysis:
        raise AssertionError("the tracking identifier is given every frame through follow()")

    def follow(
        self, frame: RGBImage, at_s: float, *, identify: bool, confirmed: str | None = None
    ) -> FrameAnalysis:
        (self.identified if identify else self.located).append(at_s)
        return FrameAnalysis(decision=Decision.NO_FACE, reason="test")


def run_worker(
    captured_at: list[float], *, open_from: float | None
) -> tuple[RecordingIdentifier, list[float]]:
    camera = ListedCamera(captured_at)
    identifier = RecordingIdentifier()
    delivered: list[float] = []
    worker = RecognitionWorker(
        camera,  # type: ignore[arg-type]  # only latest() is used
        identifier,
        identifying=lambda: open_from is not None,
        counted=lambda at: open_from is None or at >= open_from,
    )
    worker.add_listener(lambda result: delivered.append(result.frame_captured_at))
    worker.start()
    try:
        assert camera.done.wait(5.0)
    finally:
        worker.stop()
    return identifier, delivered


def test_frames_taken_before_the_session_started_are_not_identified() -> None:
    identifier, delivered = run_worker([9.90, 9.96, 10.02, 10.06], open_from=10.0)
    assert identifier.identified == [10.02, 10.06]
    assert identifier.located == []
    assert delivered == [10.02, 10.06]


def test_outside_a_session_every_frame_is_located() -> None:
    identifier, delivered = run_worker([9.90, 9.96], open_from=None)
    assert identifier.identified == []
    assert identifier.located == [9.90, 9.96]
    assert delivered == [9.90, 9.96]


class LiveCamera:
    """A camera that always has a frame taken just now (the newest frame of a running camera)."""

    def __init__(self) -> None:
        self.sequence = 0

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        self.sequence += 1
        time.sleep(0.005)
        return Frame(IMAGE, self.sequence, time.monotonic(), "test")


class ReadyTimedIdentifier(SubprocessIdentifier):
    """The real identification child, noting when it had loaded the face models."""

    def __init__(self, settings: IdentificationSettings, roster: Roster) -> None:
        super().__init__(settings, roster)
        self.readied: list[float] = []
        """When each child (the first, and any restarted one) had loaded the models."""
        self.ready_at: float | None = None
        """When the first child had."""

    def _await_ready(self) -> None:  # every way to the child waits here for its "ready"
        was_ready = self._ready
        super()._await_ready()
        if not was_ready:
            self.readied.append(time.monotonic())
            self.ready_at = self.ready_at or self.readied[0]


def test_the_first_frame_analysed_is_taken_once_the_face_models_are_loaded() -> None:
    """Loading the models takes 2-3 s quiet and 3-5 s with both cores busy. The first frame
    identified used to be taken before that wait, so the first result (and the identity of the
    person in front of the camera) was seconds old: the maximum lag in every rehearsal under
    load (docs/performance.md, Goal 2). The worker now waits for the models, then takes the
    newest frame."""
    identifier = ReadyTimedIdentifier(IdentificationSettings(), Roster(()))
    first = threading.Event()
    delivered: list[float] = []

    def on_result(result: RecognitionResult) -> None:
        delivered.append(result.frame_captured_at)
        first.set()

    worker = RecognitionWorker(LiveCamera(), identifier, identifying=lambda: True)  # type: ignore[arg-type]
    worker.add_listener(on_result)
    started = time.monotonic()
    worker.start()
    try:
        assert first.wait(120.0), "no frame was analysed"
    finally:
        worker.stop()
        identifier.close()
    assert identifier.ready_at is not None and identifier.ready_at > started
    assert delivered[0] >= identifier.ready_at, (
        f"the first frame analysed was taken {identifier.ready_at - delivered[0]:.2f} s before the models were loaded"
    )


class NeverReadyIdentifier:
    """An identifier whose face models never load."""

    def __init__(self) -> None:
        self.attempts = 0

    @property
    def ready(self) -> bool:
        return False

    @property
    def ready_since(self) -> float | None:
        return None

    def wait_ready(self) -> None:
        self.attempts += 1
        raise FaceEngineError("the face models could not be loaded: test")

    def analyse(self, frame: RGBImage) -> FrameAnalysis:
        raise AssertionError("no frame is analysed without the models")

    def locate(self, frame: RGBImage) -> FrameAnalysis:
        raise AssertionError("no frame is analysed without the models")


def test_models_that_cannot_load_leave_no_result_and_are_tried_again() -> None:
    identifier = NeverReadyIdentifier()
    delivered: list[RecognitionResult] = []
    worker = RecognitionWorker(LiveCamera(), identifier, identifying=lambda: True, wait_timeout=0.05)  # type: ignore[arg-type]
    worker.add_listener(delivered.append)
    worker.start()
    deadline = time.monotonic() + 10.0
    while identifier.attempts < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    assert identifier.attempts >= 3
    assert delivered == []


class CrashingAfterFrameCamera(LiveCamera):
    """A live camera; on the given calls the identification child dies (killed, as in a crash)
    just after the frame is taken, before the worker sends it."""

    def __init__(self, identifier: SubprocessIdentifier, crash_on: set[int]) -> None:
        super().__init__()
        self.identifier = identifier
        self.crash_on = crash_on

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        frame = super().latest(after_sequence, timeout)
        if self.sequence in self.crash_on:
            process = self.identifier._process
            process.kill()
            process.join(10.0)
        return frame


def test_no_frame_taken_before_a_restarted_child_was_ready_is_reported_after_it() -> None:
    """The same fault when the child is restarted mid-session (it crashed): the frame taken
    just before the crash is analysed by the new child once it has loaded the models, seconds
    later; it must not be reported as what the camera sees."""
    identifier = ReadyTimedIdentifier(IdentificationSettings(), Roster(()))
    camera = CrashingAfterFrameCamera(identifier, crash_on={5, 12})
    delivered: list[tuple[float, float]] = []  # (taken, reported)
    worker = RecognitionWorker(camera, identifier, identifying=lambda: True)  # type: ignore[arg-type]
    worker.add_listener(lambda result: delivered.append((result.frame_captured_at, time.monotonic())))
    worker.start()
    deadline = time.monotonic() + 180.0
    try:
        while (len(identifier.readied) < 3 or camera.sequence < 16) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        identifier.close()
    assert len(identifier.readied) >= 3, "the crashed children were not replaced"
    assert len(delivered) >= 8
    stale = [
        round(ready - taken, 2)
        for ready in identifier.readied[1:]
        for taken, reported in delivered
        if taken < ready <= reported
    ]
    assert stale == [], f"frames reported after a new child loaded, taken this many seconds before: {stale}"


class SlotCamera:
    """A camera like :class:`agent.camera.worker.CameraWorker`: a thread puts a new frame in one
    slot every 33 ms, and ``latest`` hands out the frame in the slot."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        sequence = 0
        while not self._stop.is_set():
            sequence += 1
            with self._changed:
                self._frame = Frame(IMAGE, sequence, time.monotonic(), "test")
                self._changed.notify_all()
            time.sleep(0.033)

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        def newer() -> bool:
            return self._frame is not None and (
                after_sequence is None or self._frame.sequence > after_sequence
            )

        with self._changed:
            return self._frame if self._changed.wait_for(newer, timeout) else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


class RequestCountingIdentifier(ReadyTimedIdentifier):
    """Also counts the frames sent to the child."""

    def __init__(self, settings: IdentificationSettings, roster: Roster) -> None:
        super().__init__(settings, roster)
        self.frames_sent = 0

    def _request(self, kind: str, payload: object) -> object:
        if kind in ("analyse", "locate", "follow", "track"):
            self.frames_sent += 1
        return super()._request(kind, payload)


def test_a_frame_sent_once_the_models_are_loaded_is_never_thrown_away() -> None:
    """The frame in the camera's slot when the models finish loading was taken a few ms before;
    it is current, and its answer must be reported (a review of the stale-frame check found it
    analysed and then dropped, one wasted identification at every start)."""
    camera = SlotCamera()
    identifier = RequestCountingIdentifier(IdentificationSettings(), Roster(()))
    delivered: list[float] = []
    worker = RecognitionWorker(camera, identifier, identifying=lambda: True)  # type: ignore[arg-type]
    worker.add_listener(lambda result: delivered.append(result.frame_captured_at))
    worker.start()
    deadline = time.monotonic() + 120.0
    try:
        while len(delivered) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        identifier.close()
        camera.stop()
    assert len(delivered) >= 5
    assert identifier.frames_sent == len(delivered), (
        f"{identifier.frames_sent - len(delivered)} frame(s) analysed and not reported"
    )
