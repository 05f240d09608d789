"""The camera worker's health, as screens and logs see it (no NumPy: the console shows it first)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class CameraState(enum.Enum):
    """Health of the camera as the worker sees it."""

    STARTING = "starting"
    """Opening the source for the first time."""
    STREAMING = "streaming"
    """Frames are arriving."""
    LOST = "lost"
    """The source failed (detail says why); the worker is about to re-open it."""
    RECONNECTING = "reconnecting"
    """Waiting (with backoff) to re-open the source; detail gives the attempt, wait and last error."""
    ENDED = "ended"
    """A non-looping video file or image folder played to its end; no more frames will come."""
    STOPPED = "stopped"
    """The worker was stopped; the source is released."""


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot of the worker's health, delivered to ``on_status`` and by :meth:`CameraWorker.status`.

    Attributes:
        state: the current :class:`CameraState`.
        detail: one plain-language line for screens and logs.
        source_label: the source concerned, e.g. ``camera 0``.
        frames_delivered: frames read from the source and offered to consumers.
        frames_dropped: frames replaced by a newer one before any consumer took them.
        reconnect_attempts: re-open attempts since the worker started.
        retry_delay_s: while ``reconnecting``, the wait before this attempt; otherwise None.
        last_error: the latest failure's full message (what, where, hint), or None.
        changed_at: ``time.monotonic()`` of the last state change.
    """

    state: CameraState
    detail: str
    source_label: str
    frames_delivered: int = 0
    frames_dropped: int = 0
    reconnect_attempts: int = 0
    retry_delay_s: float | None = None
    last_error: str | None = None
    changed_at: float = 0.0

    @property
    def healthy(self) -> bool:
        """True while frames are arriving."""
        return self.state is CameraState.STREAMING


StatusCallback = Callable[[CameraStatus], None]
"""Receives every state change, in order, on a worker thread (or on the thread calling
``start()``/``stop()`` for those two changes); must be quick and must not block."""
