"""What the screens need from the session engine: its commands (all of them only enqueue)."""

from __future__ import annotations

from typing import Protocol


class SessionCommands(Protocol):
    """The commands of :class:`agent.session.controller.SessionController` the screens send.

    Each one only enqueues an input for the engine thread and returns at once, so
    calling them on the GUI thread never blocks it.
    """

    def start_session(self, technician: str, capture_types: frozenset[str]) -> str:
        """Technician: start a session for these capture types."""
        ...

    def end_session(self) -> None:
        """Technician: end the session (also acknowledges a fault)."""
        ...

    def request_fallback(self) -> None:
        """Technician: identify the performer by badge + PIN instead of the face."""
        ...

    def capture(self, capture_type: str) -> None:
        """Technician: capture through the gate (refused unless unlocked)."""
        ...

    def confirm(
        self,
        capture_types: frozenset[str],
        guardian_co_confirmed: bool = False,
        *,
        session_id: str | None = None,
    ) -> None:
        """Performer: confirm these capture types (a subset of those offered narrows).

        ``session_id`` is the session whose terms were shown: a tap arriving after it
        ended is dropped instead of confirming another session.
        """
        ...

    def decline(self, *, session_id: str | None = None) -> None:
        """Performer: decline (``session_id``: see :meth:`confirm`)."""
        ...

    def stop_capture(self) -> None:
        """Performer: STOP."""
        ...

    def submit_fallback(self, badge_code: str, pin: str, witness: str) -> None:
        """Performer + technician: badge code and PIN, witnessed."""
        ...
