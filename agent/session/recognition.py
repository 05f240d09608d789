"""The recognition worker: newest camera frame → identification → session and screens.

Identification (matching a face against the roster) runs only while a session is open:
outside one, frames are only *located* (face box, quality checks; nothing encoded or
matched), so no name, performer or distance of a passer-by ever leaves the agent. 1:N
identification of people who have not presented themselves is what the rig must not do.

Runs on its own thread and always takes the *newest* frame from the camera
worker (frames that arrive while a frame is being analysed are dropped, never
queued), so identification never lags behind the camera and the preview stays
smooth; while the face models load, it takes no frame at all. The roster can be
swapped while running (e.g. after a registry refresh).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.camera.frame import Frame
from agent.camera.worker import CameraWorker
from agent.errors import FaceEngineError
from agent.faces.identifier import FrameAnalysis, withheld
from agent.faces.imaging import RGBImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecognitionResult:
    """One analysed frame: which frame it was and what identification said."""

    frame_sequence: int
    frame_captured_at: float
    frame_size: tuple[int, int]
    analysis: FrameAnalysis


ResultListener = Callable[[RecognitionResult], None]


class FrameIdentifier(Protocol):
    """Anything that identifies the subject of a frame: an Identifier, or one in a child process."""

    def analyse(self, frame: RGBImage) -> FrameAnalysis:
        """Identify the subject of one RGB frame."""
        ...

    def locate(self, frame: RGBImage) -> FrameAnalysis:
        """Find the subject face of one RGB frame without identifying it (no match, no name)."""
        ...


@runtime_checkable
class TrackingIdentifier(FrameIdentifier, Protocol):
    """An identifier that follows the subject between whole-frame analyses (:mod:`agent.faces.tracking`)."""

    def follow(
        self, frame: RGBImage, at_s: float, *, identify: bool, confirmed: str | None = None
    ) -> FrameAnalysis:
        """Identify (or, ``identify`` false, only locate) the subject of a frame taken at camera time
        ``at_s``; followed without encoding only under the ``confirmed`` performer's name."""
        ...


@runtime_checkable
class FollowingIdentifier(FrameIdentifier, Protocol):
    """An identifier that can also follow the face through a liveness challenge."""

    def track(self, frame: RGBImage, at_s: float) -> FrameAnalysis:
        """Analyse a challenge frame taken at camera time ``at_s`` (see :mod:`agent.liveness.tracking`)."""
        ...


@runtime_checkable
class LoadsModels(Protocol):
    """An identifier that must load its face models before it can analyse (a child process)."""

    @property
    def ready(self) -> bool:
        """Whether the models are loaded and it can analyse now."""
        ...

    @property
    def ready_since(self) -> float | None:
        """When (``time.monotonic()``) the models were last loaded; None while loading."""
        ...

    def wait_ready(self) -> None:
        """Load the models, or wait until they are loaded; raises FaceEngineError when they cannot be."""
        ...


class RecognitionWorker:
    """Analyses the newest camera frame in a loop and reports each result to listeners.

    Frames are identified only while ``identifying()`` says so (a session is open); otherwise
    they are located only (:meth:`FrameIdentifier.locate`), and a frame identified just before
    the session ended reaches listeners with its identity taken out. ``identifying`` is
    required: no default could know whether a session is open.

    While ``following()`` says so (a liveness challenge runs) and the identifier can, frames
    are followed rather than each identified afresh: the turns of a challenge need many
    analysed frames a second, and a turned face is often not matched. Otherwise an identifier
    that can track the subject (:class:`TrackingIdentifier`) gets every frame with its camera
    time, and re-detects and re-encodes only when needed (docs/identification.md); it follows
    a face without encoding it only under the name ``identified()`` says the session confirmed.

    While a session is open, a frame that ``counted(captured_at)`` says the session does not
    count (the camera took it before the session started: :class:`~agent.session.frames.FrameEvents`
    drops it, so it cannot vote for whoever stood there before) is skipped, not identified:
    its identity would never be used, and encoding it delays the first frame that counts by a
    whole encoding (measured in 2 of 4 sessions with tracking; docs/performance.md, Goal 2).
    """

    def __init__(
        self,
        camera: CameraWorker,
        identifier: FrameIdentifier,
        *,
        identifying: Callable[[], bool],
        wait_timeout: float = 0.5,
        following: Callable[[], bool] | None = None,
        identified: Callable[[], str | None] = lambda: None,
        counted: Callable[[float], bool] = lambda _captured_at: True,
    ) -> None:
        self._identifying = identifying
        self._counted = counted
        self._identified = identified
        self._camera = camera
        self._identifier = identifier
        self._wait_timeout = wait_timeout
        self._following = following
        self._listeners: list[ResultListener] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scangate-recognition", daemon=True)
        self._lock = threading.Lock()
        self.frames_analysed = 0

    def add_listener(self, listener: ResultListener) -> None:
        """Call ``listener`` (on the recognition thread) with every result."""
        self._listeners.append(listener)

    def set_identifier(self, identifier: FrameIdentifier) -> None:
        """Use another identifier (e.g. a refreshed roster) from the next frame on."""
        with self._lock:
            self._identifier = identifier

    def start(self) -> None:
        """Start analysing frames."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the frame in progress (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        last_sequence: int | None = None
        while not self._stop.is_set():
            with self._lock:
                identifier = self._identifier
            loader = identifier if isinstance(identifier, LoadsModels) else None
            if loader is not None and not loader.ready and not self._load_models(loader):
                self._stop.wait(self._wait_timeout)
                continue
            frame = self._camera.latest(after_sequence=last_sequence, timeout=self._wait_timeout)
            if frame is None:
                continue
            last_sequence = frame.sequence
            if self._identifying() and not self._counted(frame.captured_at):
                continue  # taken before the session started: the session would ignore its identity
            sent_at = time.monotonic()
            try:
                result = self._analyse(frame, identifier)
            except Exception:
                # A frame that breaks the face engine is skipped; the session sees no match for
                # it, so nothing unlocks, and presence times out if it keeps happening.
                log.exception("identification failed on frame %d", frame.sequence)
                continue
            if loader is not None and _loaded_since(loader, sent_at):
                continue  # the models were (re)loaded while this frame waited: its identity is stale
            self.frames_analysed += 1
            for listener in self._listeners:
                try:
                    listener(result)
                except Exception:
                    log.exception("recognition listener failed")

    @staticmethod
    def _load_models(loader: LoadsModels) -> bool:
        """Wait for the face models before taking a frame; False if they cannot load.

        Loading takes seconds (3-5 s with both cores busy). A frame taken before that wait
        would be analysed seconds late: the identity of whoever stood there then.
        """
        try:
            loader.wait_ready()
        except FaceEngineError as exc:
            log.error("face identification is unavailable: %s; trying again", exc.message())
            return False
        return True

    def _analyse(self, frame: Frame, identifier: FrameIdentifier) -> RecognitionResult:
        if not self._identifying():
            if isinstance(identifier, TrackingIdentifier):
                analysis = identifier.follow(frame.image, frame.captured_at, identify=False)
            else:
                analysis = identifier.locate(frame.image)
        else:
            challenge = self._following is not None and self._following()
            if challenge and isinstance(identifier, FollowingIdentifier):
                analysis = identifier.track(frame.image, frame.captured_at)
            elif isinstance(identifier, TrackingIdentifier):
                analysis = identifier.follow(
                    frame.image, frame.captured_at, identify=True, confirmed=self._identified()
                )
            else:
                analysis = identifier.analyse(frame.image)
            if not self._identifying():  # the session ended while this frame was identified
                analysis = withheld(analysis)
        height, width = frame.image.shape[:2]
        return RecognitionResult(frame.sequence, frame.captured_at, (width, height), analysis)


def _loaded_since(loader: LoadsModels, sent_at: float) -> bool:
    """Whether ``loader`` (re)loaded its face models after a frame was sent to it at ``sent_at``
    (``time.monotonic()``): its child was restarted while the frame waited, so the answer
    describes a moment seconds ago. A frame sent to a child already loaded is never judged so,
    however shortly before the load the camera took it."""
    ready_since = loader.ready_since
    return ready_since is None or ready_since > sent_at
