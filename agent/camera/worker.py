"""The camera worker: reads a :class:`FrameSource` on a thread, newest frame wins.

One daemon thread reads frames and puts each into a single slot, replacing the
previous one; a frame nobody took before the next arrived is *dropped* (and
counted), never queued, so a slow consumer always gets the newest image and
memory stays flat. Consumers (recognition, GUI preview) call :meth:`CameraWorker.latest`.

When the source fails (it raises, a read fails, or no frame arrives within
``frame_timeout_s``) the worker closes it, reports ``lost``, and re-opens it
after ``reconnect_initial_delay_s``; each further failure without a frame in
between doubles the wait, up to ``reconnect_max_delay_s``. Every attempt is
reported as ``reconnecting`` with its wait and the last error. The worker never
raises into consumer threads and never busy-loops. A second small watchdog
thread reports ``lost`` while a driver hangs inside ``read()``, which the
reading thread itself cannot do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

import numpy as np

from agent.camera.frame import Frame, FrameSource, RgbImage
from agent.camera.settings import CameraSettings
from agent.camera.status import CameraState, CameraStatus, StatusCallback
from agent.errors import ScanGateError

logger = logging.getLogger(__name__)

STOP_JOIN_TIMEOUT_S = 5.0
"""How long :meth:`CameraWorker.stop` waits for a driver stuck in a read before giving up."""


def _describe(exc: BaseException) -> tuple[str, str]:
    """(short reason for the status line, full message for ``last_error``)."""
    if isinstance(exc, ScanGateError):
        short = f"{exc.where}: {exc.what}" if exc.where else exc.what
        return short, exc.message()
    text = f"{type(exc).__name__}: {exc}"
    return text, text


class _Failure:
    """Why streaming from a source stopped (returned by the read loop)."""

    def __init__(self, reason: str, full: str | None = None) -> None:
        self.reason = reason
        self.full = full or reason


class CameraWorker:
    """Reads frames from a source on a daemon thread and hands out the newest one.

    Args:
        source_factory: returns an **opened** :class:`FrameSource`, raising
            :class:`~agent.errors.CameraError` when it cannot; called again for
            every re-open. Usually ``functools.partial(open_source, settings.source)``
            (see :meth:`from_settings`).
        settings: timeouts and backoff delays.
        on_status: called with a :class:`CameraStatus` on every state change, from a
            worker thread (GUI code must hop to its own thread, e.g. a queued Qt
            signal). Exceptions it raises are logged and ignored.
        label: name of the source for statuses before it is first opened.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        source_factory: Callable[[], FrameSource],
        settings: CameraSettings,
        on_status: StatusCallback | None = None,
        *,
        label: str = "camera",
    ) -> None:
        self._factory = source_factory
        self._settings = settings
        self._on_status = on_status
        self._cond = threading.Condition()  # guards everything below; notified on frame/state change
        self._status = CameraStatus(CameraState.STARTING, "not started", label, changed_at=time.monotonic())
        self._frame: Frame | None = None
        self._frame_taken = True
        self._sequence = 0
        self._source: FrameSource | None = None
        self._last_frame_at: float | None = None  # set while a source is open
        self._hang_reported = False
        self._read_limit_s = settings.frame_timeout_s
        self._finished = False  # no more frames will come (stopped or ended)
        self._publish_lock = threading.Lock()  # keeps callbacks in state-change order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: CameraSettings, on_status: StatusCallback | None = None) -> CameraWorker:
        """A worker for the source ``settings.source`` describes (OpenCV device, video or images)."""
        # Imported here so that the worker (and fake sources in tests) do not load OpenCV.
        from agent.camera.sources import make_source, open_source  # noqa: PLC0415

        return cls(
            lambda: open_source(settings.source),
            settings,
            on_status,
            label=make_source(settings.source).label,
        )

    # -- consumer side -------------------------------------------------------------

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting for one newer than ``after_sequence``.

        Args:
            after_sequence: the sequence of the last frame this consumer handled; only
                a newer frame is returned. None: any frame currently held.
            timeout: longest wait in seconds; None waits until a frame comes or the worker
                stops or ends; 0 does not wait.

        Returns:
            The frame, or None on timeout or when no newer frame will come (the worker
            stopped, or a non-looping file ended and its last frame was taken). When
            the source fails the slot is emptied, so a frame from a lost camera is
            never handed out afterwards.

        Each frame is handed out to any number of consumers; a frame replaced before
        *any* consumer took it counts as dropped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self._frame
                if frame is not None and (after_sequence is None or frame.sequence > after_sequence):
                    self._frame_taken = True
                    return frame
                if self._finished:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def status(self) -> CameraStatus:
        """The current health snapshot (thread-safe)."""
        with self._cond:
            return self._status

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the reading thread (once; a stopped worker cannot be restarted)."""
        with self._cond:
            if self._thread is not None or self._stop.is_set():
                raise RuntimeError("a CameraWorker can be started only once")
            self._thread = threading.Thread(target=self._run, name="scangate-camera", daemon=True)
            self._watchdog = threading.Thread(
                target=self._watch, name="scangate-camera-watchdog", daemon=True
            )
        self._set_state(CameraState.STARTING, f"opening {self._status.source_label}")
        self._thread.start()
        self._watchdog.start()

    def stop(self, timeout: float = STOP_JOIN_TIMEOUT_S) -> None:
        """Stop reading, release the source and join the threads (idempotent).

        A pacing wait is cut short; a driver stuck inside a read is waited for up to
        ``timeout`` seconds, after which the (daemon) thread is left to finish alone
        and a warning is logged. Safe to call before :meth:`start`.
        """
        self._stop.set()
        with self._cond:
            source = self._source
        if source is not None:
            source.close()  # interrupts a paced wait; the reading thread closes again when it returns
        threads = [t for t in (self._thread, self._watchdog) if t is not None]
        if threading.current_thread() in threads:
            return  # called from a status callback: the threads end on their own
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning(
                    "%s did not stop within %.1f s (driver stuck in a read?)", thread.name, timeout
                )
        self._finish(CameraState.STOPPED, "camera worker stopped")  # no-op if the thread already did

    def __enter__(self) -> CameraWorker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- worker thread ---------------------------------------------------------------

    def _run(self) -> None:
        failures = 0  # consecutive failures without a frame in between
        reason = ""
        try:
            while not self._stop.is_set():
                if failures:
                    delay = min(
                        self._settings.reconnect_initial_delay_s * 2 ** (failures - 1),
                        self._settings.reconnect_max_delay_s,
                    )
                    with self._cond:
                        attempts = self._status.reconnect_attempts + 1
                    self._set_state(
                        CameraState.RECONNECTING,
                        f"re-opening in {delay:.2g} s (attempt {attempts}); last error: {reason}",
                        reconnect_attempts=attempts,
                        retry_delay_s=delay,
                    )
                    if self._stop.wait(delay):
                        break
                outcome = self._open_and_stream()
                if outcome is None or self._stop.is_set():  # stopped, or a non-looping file ended
                    break
                delivered, failure = outcome
                failures = 1 if delivered else failures + 1
                reason = failure.reason
                self._set_state(CameraState.LOST, failure.reason, last_error=failure.full)
        except Exception as exc:  # a bug must not leave consumers waiting on a silent thread
            logger.exception("camera worker crashed")
            with self._cond:
                self._status = replace(self._status, last_error=f"internal error: {_describe(exc)[1]}")
            self._finish(CameraState.STOPPED, "camera worker stopped after an internal error (see log)")
        finally:
            with self._cond:
                ended = self._status.state is CameraState.ENDED
            if ended:
                self._finish(CameraState.ENDED, self._status.detail)
            else:
                self._finish(CameraState.STOPPED, "camera worker stopped")
            self._stop.set()  # ends the watchdog

    def _open_and_stream(self) -> tuple[bool, _Failure] | None:
        """Open a source and stream from it; (delivered any frame, failure), or None when done."""
        try:
            source = self._factory()
        except Exception as exc:
            if not isinstance(exc, ScanGateError):
                logger.exception("opening the camera source failed unexpectedly")
            return False, _Failure(*_describe(exc))
        with self._cond:
            self._source = source
            self._read_limit_s = self._settings.frame_timeout_s + (source.frame_interval_s or 0.0)
            self._last_frame_at = time.monotonic()
            self._hang_reported = False
            self._status = replace(self._status, source_label=source.label)
        try:
            if self._stop.is_set():
                return None
            # STREAMING is reported with the first frame (see _offer), not on open.
            delivered, outcome = self._stream(source)
            if outcome is None and not self._stop.is_set():
                self._set_state(CameraState.ENDED, f"{source.label} played to its end")
                return None
            return (delivered, outcome) if outcome is not None else None
        finally:
            with self._cond:
                self._source = None
                self._last_frame_at = None
            source.close()

    def _stream(self, source: FrameSource) -> tuple[bool, _Failure | None]:
        """Read until the source fails (failure), ends or the worker stops (None)."""
        delivered = False
        while not self._stop.is_set():
            try:
                image = source.read()
            except Exception as exc:
                if not isinstance(exc, ScanGateError):
                    logger.exception("reading from %s failed unexpectedly", source.label)
                return delivered, _Failure(*_describe(exc))
            now = time.monotonic()
            if self._stop.is_set() or image is None:
                return delivered, None
            with self._cond:
                waited = now - (self._last_frame_at or now)
            if waited > self._read_limit_s:
                return delivered, _Failure(
                    f"{source.label}: no frame for {waited:.1f} s (limit {self._read_limit_s:.1f} s)"
                )
            problem = _image_problem(image)
            if problem:
                return delivered, _Failure(f"{source.label}: {problem}")
            self._offer(image, now, source.label)
            delivered = True
        return delivered, None

    def _offer(self, image: RgbImage, captured_at: float, label: str) -> None:
        """Put a frame into the single slot, dropping an untaken older one."""
        image.flags.writeable = False  # shared by all consumers
        with self._cond:
            streaming = self._status.state is CameraState.STREAMING
        if not streaming:  # first frame from this source, or a reported hang has passed
            self._set_state(CameraState.STREAMING, f"streaming from {label}")
        with self._cond:
            self._sequence += 1
            self._drop_held_frame()
            self._frame = Frame(image, self._sequence, captured_at, label)
            self._frame_taken = False
            self._last_frame_at = captured_at
            self._hang_reported = False
            self._status = replace(self._status, frames_delivered=self._status.frames_delivered + 1)
            self._cond.notify_all()

    def _drop_held_frame(self) -> None:
        """Empty the slot, counting its frame as dropped if no consumer took it. Holds ``_cond``."""
        if self._frame is not None and not self._frame_taken:
            self._status = replace(self._status, frames_dropped=self._status.frames_dropped + 1)
        self._frame = None
        self._frame_taken = True

    def _watch(self) -> None:
        """Report ``lost`` while a read hangs longer than the frame timeout (the reader cannot)."""
        period = min(0.5, self._settings.frame_timeout_s / 4)
        while not self._stop.wait(period):
            with self._cond:
                since = self._last_frame_at
                hung = (
                    since is not None
                    and not self._hang_reported
                    and time.monotonic() - since > self._read_limit_s
                )
                if hung:
                    self._hang_reported = True
                label = self._status.source_label
            if hung and not self._stop.is_set():
                reason = (
                    f"{label}: no frame for over {self._read_limit_s:.1f} s (the source is not responding)"
                )
                self._set_state(CameraState.LOST, reason, last_error=reason)

    # -- state publication -----------------------------------------------------------

    def _set_state(
        self,
        state: CameraState,
        detail: str,
        *,
        reconnect_attempts: int | None = None,
        retry_delay_s: float | None = None,
        last_error: str | None = None,
    ) -> None:
        """Change the state and tell ``on_status``, keeping callbacks in order."""
        with self._publish_lock:
            with self._cond:
                if self._finished:
                    return
                status = replace(
                    self._status,
                    state=state,
                    detail=detail,
                    retry_delay_s=retry_delay_s,
                    changed_at=time.monotonic(),
                )
                if reconnect_attempts is not None:
                    status = replace(status, reconnect_attempts=reconnect_attempts)
                if last_error is not None:
                    status = replace(status, last_error=last_error)
                self._status = status
                if state is CameraState.LOST:
                    self._drop_held_frame()  # never hand out a frame from a failed source
                snapshot = self._status
                self._cond.notify_all()
            self._log(snapshot)
            self._notify(snapshot)

    def _finish(self, state: CameraState, detail: str) -> None:
        """Final state: wake every waiting consumer; no frame will come any more."""
        with self._publish_lock:
            with self._cond:
                if self._finished:
                    return
                self._finished = True
                if state is CameraState.STOPPED:
                    self._drop_held_frame()  # an ended file's last frame stays available until taken
                self._status = replace(
                    self._status, state=state, detail=detail, retry_delay_s=None, changed_at=time.monotonic()
                )
                snapshot = self._status
                self._cond.notify_all()
            if state is not CameraState.ENDED:  # ENDED was already published with its detail
                self._log(snapshot)
                self._notify(snapshot)

    @staticmethod
    def _log(status: CameraStatus) -> None:
        level = (
            logging.WARNING if status.state in (CameraState.LOST, CameraState.RECONNECTING) else logging.INFO
        )
        logger.log(level, "camera %s: %s", status.state.value, status.detail)

    def _notify(self, status: CameraStatus) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(status)
        except Exception:
            logger.exception("camera status callback failed")


def _image_problem(image: object) -> str | None:
    """Why ``image`` is not a valid RGB frame, or None."""
    if not isinstance(image, np.ndarray):
        return f"the source returned {type(image).__name__}, not an image"
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        return f"the source returned an unusable image (shape {image.shape}, dtype {image.dtype})"
    return None
