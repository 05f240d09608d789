"""Bringing a rig's parts up one by one, off the screens' thread, and saying how far it got.

The technician console is shown first (a window in under a second or two); the
parts that take seconds (the demo's embedded registry, the rig's log, gate and
camera, the identification child and its face models) then start here, in order,
on a worker thread. Every change is reported as an immutable
:class:`StartupProgress`, so the console can say truthfully what is still
starting and, if a part fails, what failed and what to do. Nothing here can
unlock capture: until the rig is up, no session engine exists to unlock it.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.errors import ScanGateError

if TYPE_CHECKING:  # imported by whoever assembles the rig, after the first paint
    from agent.rig import Rig

log = logging.getLogger(__name__)


class PartState(enum.Enum):
    """Where one part is in the start-up."""

    WAITING = "waiting"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class StartupStep:
    """One part to start: a stable key, the label the technician reads, and the work (blocking)."""

    key: str
    label: str
    run: Callable[[], object]
    degraded: str | None = None
    """If set, a failure of this part does not stop the start-up: the rest starts without it,
    and this says what that means and what to do (shown beside what happened)."""


@dataclass(frozen=True)
class PartProgress:
    """One part's state."""

    key: str
    label: str
    state: PartState


@dataclass(frozen=True)
class StartupFailure:
    """Why start-up stopped: the part, what happened (with where) and what to do."""

    part: str
    what: str
    hint: str


UNEXPECTED_HINT = "close ScanGate and start it again; if it happens again, run it with -v and report the log"


@dataclass(frozen=True)
class StartupProgress:
    """Every part's state, in start order, and the failure that stopped start-up, if any."""

    parts: tuple[PartProgress, ...]
    failure: StartupFailure | None = None
    cancelled: bool = False
    degraded: tuple[StartupFailure, ...] = ()
    """Parts that failed without stopping the start-up (their step allowed it)."""

    @property
    def ready(self) -> bool:
        """Every part started, or failed in a way its step allowed (see :attr:`degraded`)."""
        return (
            self.failure is None
            and not self.cancelled
            and all(part.state in (PartState.READY, PartState.FAILED) for part in self.parts)
        )

    @property
    def finished(self) -> bool:
        """Nothing more will happen: every part started, one failed, or start-up was cancelled."""
        return self.ready or self.failure is not None or self.cancelled

    def pending(self) -> list[str]:
        """Labels of the parts not started yet (the one starting first)."""
        return [part.label for part in self.parts if part.state in (PartState.STARTING, PartState.WAITING)]


ProgressListener = Callable[[StartupProgress], None]
"""Called on the start-up thread after every change (post it to the GUI thread, do not block)."""


class StartupSequence:
    """Runs :class:`StartupStep` s in order on a daemon thread; the first failure stops it."""

    def __init__(self, steps: Sequence[StartupStep], on_progress: ProgressListener) -> None:
        self._steps = tuple(steps)
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._progress = StartupProgress(
            tuple(PartProgress(step.key, step.label, PartState.WAITING) for step in self._steps)
        )
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None

    def progress(self) -> StartupProgress:
        """The latest progress (any thread)."""
        with self._lock:
            return self._progress

    def start(self) -> None:
        """Start the parts on a new thread and return at once; raises RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("this start-up sequence was already started")
        self._thread = threading.Thread(target=self._run, name="scangate-startup", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Start no further part (the one starting now finishes; its owner cleans it up)."""
        self._cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread has ended; False if it is still running after ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        for index, step in enumerate(self._steps):
            if self._cancelled.is_set():
                self._publish(replace(self.progress(), cancelled=True))
                return
            self._set_state(index, PartState.STARTING)
            try:
                step.run()
            except ScanGateError as exc:
                failure = StartupFailure(step.label, exc.brief(), exc.hint or UNEXPECTED_HINT)
            except Exception as exc:  # a start-up thread that dies silently would leave "starting…" forever
                log.exception("starting %s failed", step.label)
                what = f"unexpected error: {type(exc).__name__}: {exc}"
                failure = StartupFailure(step.label, what, UNEXPECTED_HINT)
            else:
                self._set_state(index, PartState.READY)
                continue
            if step.degraded is None:
                self._fail(index, failure)
                return
            self._degrade(index, replace(failure, hint=step.degraded))

    def _set_state(
        self,
        index: int,
        state: PartState,
        *,
        failure: StartupFailure | None = None,
        degraded: StartupFailure | None = None,
    ) -> None:
        """Part ``index`` is now in ``state``; ``failure`` stops the start-up, ``degraded`` is a
        part it goes on without."""
        with self._lock:
            progress = self._progress
            parts = list(progress.parts)
            parts[index] = replace(parts[index], state=state)
            progress = replace(progress, parts=tuple(parts))
            if failure is not None:
                progress = replace(progress, failure=failure)
            if degraded is not None:
                progress = replace(progress, degraded=(*progress.degraded, degraded))
        self._publish(progress)

    def _fail(self, index: int, failure: StartupFailure) -> None:
        log.error("start-up stopped: %s: %s", failure.part, failure.what)
        self._set_state(index, PartState.FAILED, failure=failure)

    def _degrade(self, index: int, failure: StartupFailure) -> None:
        log.error("%s did not start (going on without it): %s", failure.part, failure.what)
        self._set_state(index, PartState.FAILED, degraded=failure)

    def _publish(self, progress: StartupProgress) -> None:
        with self._lock:
            self._progress = progress
        try:
            self._on_progress(progress)
        except Exception:  # the listener is the screens' business; start-up goes on
            log.exception("start-up progress listener failed")


FACE_MODELS_DEGRADED = (
    "Nobody can be identified by face, so face sessions stay locked; badge + PIN still works."
    " ScanGate loads the models again with the next frame. If this persists, reinstall ScanGate"
    " (its face models) and run it with -v for details"
)


class RigStartup:
    """The parts of a rig in start order, after any parts it depends on, and the teardown of all.

    ``make_rig`` assembles the rig (imports and all: call it here, not before the first
    paint); ``before`` starts what the rig needs first (the demo's embedded registry);
    ``close_before`` stops that again after the rig has stopped.
    """

    def __init__(
        self,
        make_rig: Callable[[], Rig],
        *,
        before: Sequence[StartupStep] = (),
        close_before: Callable[[], None] | None = None,
    ) -> None:
        self._make_rig = make_rig
        self._before = tuple(before)
        self._close_before = close_before
        self._lock = threading.Lock()
        self._rig: Rig | None = None
        self._closed = False

    @property
    def rig(self) -> Rig | None:
        """The rig once assembled (it may not be started yet)."""
        with self._lock:
            return self._rig

    def steps(self) -> list[StartupStep]:
        """The steps for a :class:`StartupSequence`, in order."""
        return [
            *self._before,
            StartupStep("rig", "Signed log, capture gate and camera", self._assemble),
            StartupStep("start", "Camera, roster and registry link", self._start),
            StartupStep("models", "Face models (identification process)", self._models, FACE_MODELS_DEGRADED),
        ]

    def close(self) -> None:
        """Stop the rig (if it was assembled) and then what ``before`` started; idempotent.

        Call it after the start-up thread has ended, or a part starting meanwhile stays up.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            rig = self._rig
        try:
            if rig is not None:
                rig.stop()  # locks the gate and closes the log, started or not
        finally:
            if self._close_before is not None:
                self._close_before()

    def _assemble(self) -> None:
        rig = self._make_rig()
        with self._lock:
            self._rig = rig
            if not self._closed:
                return
        rig.stop()  # closed while it was being assembled

    def _start(self) -> None:
        rig = self._require_rig()
        rig.start()

    def _models(self) -> None:
        self._require_rig().wait_for_face_models()

    def _require_rig(self) -> Rig:
        with self._lock:
            if self._rig is None or self._closed:
                raise ScanGateError("start-up was stopped before the rig was ready")
            return self._rig
