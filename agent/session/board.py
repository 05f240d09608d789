"""The session's notice board: the technician's event lines and the latest snapshot, with listeners.

The engine thread notes lines and publishes a snapshot after every change; screens
read the latest snapshot from any thread, or are called with each new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.session.liveness_checks import ChallengeView
from agent.session.model import SessionState
from agent.session.snapshot import SessionSnapshot, snapshot_of
from agent.wire.consent import ConsentRecord

log = logging.getLogger(__name__)

SnapshotListener = Callable[[SessionSnapshot], None]
MAX_EVENT_LINES = 200


class SnapshotBoard:
    """Event lines and snapshots of one controller (written on the engine thread, read from any)."""

    def __init__(self, clock: Callable[[], datetime], initial: SessionState) -> None:
        """Args: the clock stamping lines noted without a time, and the state shown first."""
        self._clock = clock
        self._events: list[tuple[datetime, str]] = []
        self._listeners: list[SnapshotListener] = []
        self._lock = threading.Lock()
        self._snapshot = snapshot_of(initial, None, None, None, ())

    def add_listener(self, listener: SnapshotListener) -> None:
        """Call ``listener`` (on the engine thread) with a snapshot after every change."""
        self._listeners.append(listener)

    def latest(self) -> SessionSnapshot:
        """The latest snapshot (any thread)."""
        with self._lock:
            return self._snapshot

    def note(self, text: str, at: datetime | None = None) -> None:
        """Add a line to the session's event list (engine thread; the oldest lines drop off)."""
        self._events.append((at or self._clock(), text))
        del self._events[:-MAX_EVENT_LINES]

    def publish(
        self,
        state: SessionState,
        consent: ConsentRecord | None,
        last_record: dict[str, Any] | None,
        last_record_hash: str | None,
        challenge: ChallengeView | None = None,
    ) -> None:
        """Make the snapshot of this state; listeners hear of it only when it changed."""
        snapshot = snapshot_of(state, consent, last_record, last_record_hash, tuple(self._events), challenge)
        with self._lock:
            changed = snapshot != self._snapshot
            self._snapshot = snapshot
        if not changed:
            return
        for listener in self._listeners:
            try:
                listener(snapshot)
            except Exception:
                log.exception("snapshot listener failed")
