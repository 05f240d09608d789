"""Fan-out of a gate's capture events and status snapshots to listeners on any thread."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.gate.errors import CaptureNotKeptError
from agent.gate.models import CaptureEvent, GateStatus

log = logging.getLogger(__name__)

CaptureListener = Callable[[CaptureEvent], None]
StatusListener = Callable[[GateStatus], None]


class GateListeners:
    """The listeners of one gate; a listener that raises is logged and never stops the others."""

    def __init__(self, backend_name: str) -> None:
        """Listeners for the gate of backend ``backend_name`` (used in log messages)."""
        self._backend_name = backend_name
        self._capture: list[CaptureListener] = []
        self._status: list[StatusListener] = []

    def add_capture_listener(self, listener: CaptureListener) -> None:
        """Call ``listener`` with every capture event."""
        self._capture.append(listener)

    def add_status_listener(self, listener: StatusListener) -> None:
        """Call ``listener`` with every status snapshot."""
        self._status.append(listener)

    def capture(self, event: CaptureEvent) -> str | None:
        """Hand ``event`` to every capture listener; a flagged capture is also logged.

        Returns why the capture's evidence was not kept (a listener raised), or None: a listener
        keeps it durably before this returns, so one that fails means a crash could lose it.
        """
        if event.flag_reason:
            log.warning(
                "%s capture flagged: %s (%s)",
                self._backend_name,
                event.flag_reason,
                event.path or event.photo_id,
            )
        problems: list[str] = []
        for listener in list(self._capture):
            try:
                listener(event)
            except CaptureNotKeptError as exc:
                problems.append(exc.what)
            except Exception as exc:
                log.exception("capture listener failed")
                problems.append(f"a capture listener failed: {exc}")
        return "; ".join(problems) or None

    def status(self, status: GateStatus) -> None:
        """Hand ``status`` to every status listener."""
        for listener in list(self._status):
            try:
                listener(status)
            except Exception:
                log.exception("status listener failed")
