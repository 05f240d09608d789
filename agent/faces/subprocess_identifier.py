"""Identification in a child process, so dlib never stalls the camera, the engine or the screens.

dlib's detector and encoder hold Python's GIL while they compute (about 75 ms
per face on this class of machine). In a thread they freeze every other thread
of the process for that long: the preview drops below 20 fps and the camera
reader falls behind. A child process has its own interpreter, so the rig's
process keeps only the cheap work (decode, paint, the session engine).

The child is started with ``spawn`` (no inherited threads or locks), loads the
face models once, and answers one request at a time over a pipe. A child that
dies or stops answering is reported as a :class:`FaceEngineError`; the caller
skips that frame (nothing can unlock without matching frames) and the next
request starts a fresh child.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from agent.errors import FaceEngineError
from agent.faces.identifier import FrameAnalysis, Identifier
from agent.faces.imaging import RGBImage
from agent.faces.roster import Roster
from agent.faces.settings import IdentificationSettings
from agent.faces.tracking import SubjectTracker
from agent.liveness.errors import LandmarkModelError
from agent.liveness.landmarks import FaceLandmarker
from agent.liveness.tracking import ChallengeTracker

log = logging.getLogger(__name__)
ANSWER_TIMEOUT_S = 30.0
"""Longest wait for one frame's answer once the child has loaded its models."""
STARTUP_TIMEOUT_S = 180.0
"""Longest wait for a new child to load the face models: 2–3 s on a quiet machine, many
times that when capture software keeps every core busy. Waiting is safe (nothing can
unlock before a frame is identified); giving up and restarting would never finish."""


def _landmarker_or_none(wanted: bool) -> FaceLandmarker | None:
    if not wanted:
        return None
    try:
        return FaceLandmarker()
    except LandmarkModelError as exc:
        # Frames then carry no landmarks: every liveness step times out, nothing unlocks.
        log.error("liveness landmarks unavailable, no challenge can pass: %s", exc)
        return None


def _serve(
    connection: Connection, settings: IdentificationSettings, roster: Roster, landmarks: bool = False
) -> None:
    """The child's loop: ("analyse" | "locate", frame) | ("track", (frame, at_s))
    | ("follow", (frame, at_s, identify, confirmed)) → ("ok", FrameAnalysis) | ("error", text).

    "locate" frames (outside a session) are only detected and checked: no encoding, no
    match against the roster (:meth:`Identifier.locate`). "track" frames (during a liveness
    challenge) follow the face between identifications (:class:`ChallengeTracker`). "follow"
    frames are identified (or only located) by following the subject between whole-frame
    analyses (:class:`SubjectTracker`; with tracking off, as "analyse" or "locate"). A frame
    of another kind or a new roster ends either track.
    """
    # The parent decides when this process ends (closing the pipe ends it): a Ctrl-C in the
    # technician's terminal reaches the whole process group and must not print a traceback here.
    if threading.current_thread() is threading.main_thread():  # tests serve from a thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        identifier = Identifier(settings, roster)  # loads the dlib models
        landmarker = _landmarker_or_none(landmarks)
    except Exception as exc:
        with contextlib.suppress(OSError):
            connection.send(("error", f"the face models could not be loaded: {type(exc).__name__}: {exc}"))
        return
    try:
        connection.send(("ready", None))
    except OSError:
        return
    # A lambda, not the bound method: a new roster rebinds ``identifier``.
    tracker = ChallengeTracker(lambda image: identifier.analyse(image), landmarker) if landmarker else None  # noqa: PLW0108
    subject = SubjectTracker(identifier, settings.tracking)
    while True:
        try:
            request, payload = connection.recv()
        except (EOFError, OSError):
            return
        if request == "stop":
            return
        answer: tuple[str, object]
        try:
            if request != "follow":
                subject.reset()
            if request == "roster":  # keep the loaded models: reloading them takes seconds
                identifier = Identifier(settings, payload, engine=identifier.analyser.engine)
                subject = SubjectTracker(identifier, settings.tracking)
                if tracker is not None:
                    tracker.reset()
                answer = ("ok", None)
            elif request == "follow":
                if tracker is not None:
                    tracker.reset()
                answer = ("ok", _followed(subject, *payload))
            elif request == "encode":  # a template from a still (the demo's stand-in), no matching
                observation = identifier.analyser.observe(payload)
                encoding = observation.encoding
                # The template, or (a str) why the still gave none.
                answer = ("ok", observation.reason if encoding is None else tuple(float(v) for v in encoding))
            elif request == "locate":
                if tracker is not None:
                    tracker.reset()
                answer = ("ok", identifier.locate(payload))
            elif request == "track" and tracker is not None:
                image, at_s = payload
                answer = ("ok", tracker.analyse(image, at_s))
            else:
                if tracker is not None:
                    tracker.reset()
                # Outside a challenge nothing needs landmarks: identification only.
                image = payload[0] if request == "track" else payload
                answer = ("ok", identifier.analyse(image))
        except Exception as exc:  # report, keep serving: one bad frame must not kill the child
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except OSError:  # the rig's process is gone (BrokenPipeError): nobody is left to answer
            return


class _FrameError(FaceEngineError):
    """The child could not analyse one frame but is still serving."""


def _followed(
    subject: SubjectTracker, image: RGBImage, at_s: float, identify: bool, confirmed: str | None
) -> FrameAnalysis:
    """A "follow" frame: through the subject tracker, or analysed afresh when tracking is off."""
    if not subject.settings.enabled:
        identifier = subject.identifier
        return identifier.analyse(image) if identify else identifier.locate(image)
    return subject.analyse(image, at_s, confirmed=confirmed) if identify else subject.locate(image, at_s)


class SubprocessIdentifier:
    """An :class:`Identifier` running in a child process; same ``analyse`` interface.

    Thread-safe (one request at a time); use :meth:`close` to end the child.
    """

    def __init__(self, settings: IdentificationSettings, roster: Roster, *, landmarks: bool = False) -> None:
        """Args: identification settings, the first roster, and whether to measure landmarks (liveness)."""
        self.settings = settings
        self._landmarks = landmarks
        self._roster = roster
        self._lock = threading.Lock()
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Connection | None = None
        self._ready = False
        """Whether the running child said it has loaded its models."""
        self._ready_since: float | None = None
        """When (monotonic seconds) the running child said so."""
        self._unacknowledged_rosters = 0
        """Rosters sent to the running child whose acknowledgement has not been read yet."""

    @property
    def running(self) -> bool:
        """Whether the child process is running (started and not closed)."""
        process = self._process
        return process is not None and bool(process.is_alive())

    @property
    def ready(self) -> bool:
        """Whether the running child has loaded its face models (it can analyse now)."""
        return self._ready and self.running

    @property
    def ready_since(self) -> float | None:
        """When (``time.monotonic()``) the running child had loaded its models; None while it loads."""
        return self._ready_since

    @property
    def landmarks(self) -> bool:
        """Whether the child measures landmarks (liveness challenges)."""
        return self._landmarks

    @property
    def roster(self) -> Roster:
        """The roster the child matches against."""
        return self._roster

    def analyse(self, frame: RGBImage) -> FrameAnalysis:
        """Identify the subject of one RGB frame (see :meth:`Identifier.analyse`).

        Raises:
            FaceEngineError: the child failed or did not answer in time.
        """
        answer = self._request("analyse", frame)
        assert isinstance(answer, FrameAnalysis)
        return answer

    def locate(self, frame: RGBImage) -> FrameAnalysis:
        """Find the subject face without identifying it (see :meth:`Identifier.locate`).

        The child detects and checks the face only: nothing is encoded or matched.
        Raises :class:`FaceEngineError` as :meth:`analyse` does.
        """
        answer = self._request("locate", frame)
        assert isinstance(answer, FrameAnalysis)
        return answer

    def track(self, frame: RGBImage, at_s: float) -> FrameAnalysis:
        """Analyse a frame of a liveness challenge, taken at camera time ``at_s``.

        Follows the face between identifications (:mod:`agent.liveness.tracking`); without
        the landmark model it is :meth:`analyse`. Raises :class:`FaceEngineError` as that does.
        """
        answer = self._request("track", (frame, at_s))
        assert isinstance(answer, FrameAnalysis)
        return answer

    def follow(
        self, frame: RGBImage, at_s: float, *, identify: bool, confirmed: str | None = None
    ) -> FrameAnalysis:
        """Identify (``identify``: a session is open) or only locate the subject of a frame taken at
        camera time ``at_s``, following it between whole-frame analyses (:mod:`agent.faces.tracking`),
        without encoding it only under the name the session confirmed (``confirmed``).

        With ``[identification.tracking] enabled = false`` it is :meth:`analyse` or :meth:`locate`.
        Raises :class:`FaceEngineError` as :meth:`analyse` does.
        """
        answer = self._request("follow", (frame, at_s, identify, confirmed))
        assert isinstance(answer, FrameAnalysis)
        return answer

    def set_roster(self, roster: Roster) -> None:
        """Match against ``roster`` from the next frame on; returns without waiting for the child.

        A child that is not running yet starts with this roster (loading its models in the
        background, so the rig's windows need not wait for them). A running child acknowledges
        the new roster before it answers the next frame; if it cannot take it, it is stopped
        and the next frame starts a fresh child with this roster: it never goes on matching
        against an older one.
        """
        with self._lock:
            self._roster = roster
            if self._process is None or not self._process.is_alive():
                self._start_child()
                return
            assert self._connection is not None
            try:
                self._connection.send(("roster", roster))
            except OSError:
                self._stop_child()
                return
            self._unacknowledged_rosters += 1

    def start(self) -> None:
        """Start the child now (it loads the face models meanwhile) instead of at the first request."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_child()

    def encode(self, frame: RGBImage) -> tuple[float, ...]:
        """The subject face's 128-d template from one still, by the child's models (no roster match).

        Raises:
            FaceEngineError: no usable face in the frame, or the child failed.
        """
        answer = self._request("encode", frame)
        if not isinstance(answer, tuple):
            raise FaceEngineError(f"no face template from this picture: {answer}")
        return answer

    def wait_ready(self) -> None:
        """Start the child if it is not running and wait until it has loaded the face models.

        Raises:
            FaceEngineError: the models could not be loaded, or not within ``STARTUP_TIMEOUT_S``.
        """
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_child()
            try:
                self._await_ready()
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise FaceEngineError(f"the identification process stopped while loading: {exc}") from None
            except FaceEngineError:
                self._stop_child()
                raise

    def close(self) -> None:
        """End the child process (idempotent)."""
        with self._lock:
            self._stop_child()

    def _request(self, kind: str, payload: object) -> object:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_child()
            assert self._connection is not None
            try:
                self._await_ready()
                while self._unacknowledged_rosters:
                    self._receive("roster")
                    self._unacknowledged_rosters -= 1
                self._connection.send((kind, payload))
                return self._receive(kind)
            except _FrameError:
                raise  # one frame failed; the child keeps serving
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise FaceEngineError(f"the identification process stopped: {exc}") from None
            except FaceEngineError:
                self._stop_child()
                raise

    def _await_ready(self) -> None:
        """Wait (once per child) until it has loaded its models; raises FaceEngineError if it could not."""
        if self._ready:
            return
        assert self._connection is not None
        if not self._connection.poll(STARTUP_TIMEOUT_S):
            raise FaceEngineError(
                f"the identification process did not load the face models in {STARTUP_TIMEOUT_S:g} s",
                hint="the machine may be overloaded; ScanGate starts it again with the next frame",
            )
        status, detail = self._connection.recv()
        if status != "ready":
            raise FaceEngineError(f"the identification process could not start: {detail}")
        self._ready, self._ready_since = True, time.monotonic()

    def _receive(self, kind: str) -> object:
        """The child's answer to the oldest request not yet answered."""
        assert self._connection is not None
        if not self._connection.poll(ANSWER_TIMEOUT_S):
            raise FaceEngineError(f"the identification process gave no answer in {ANSWER_TIMEOUT_S:g} s")
        status, result = self._connection.recv()
        if status == "error":
            if kind == "roster":  # it would go on with the older roster: start afresh instead
                raise FaceEngineError(f"the identification process could not take the new roster: {result}")
            raise _FrameError(f"identification failed in the child process: {result}")
        return result

    def _start_child(self) -> None:
        self._stop_child()
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(child, self.settings, self._roster, self._landmarks),
            name="scangate-identify",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent
        self._ready, self._ready_since, self._unacknowledged_rosters = False, None, 0
        log.info("identification process started (pid %s)", process.pid)

    def _stop_child(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):  # the child may already be gone
                self._connection.send(("stop", None))
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(2.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(2.0)
            self._process = None
