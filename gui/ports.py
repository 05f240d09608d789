"""What the screens need from the session engine: its commands (all of them only enqueue)."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


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


class DeferredCommands:
    """The screens' :class:`SessionCommands` before the session engine exists (start-up).

    The windows are shown before the rig has started, so they are built on this stand-in;
    once the rig is up, :meth:`attach` hands it the engine and every command goes there.
    A command before that (the controls are disabled meanwhile) is dropped and logged:
    with no engine nothing can be started, confirmed or unlocked, which is the safe answer.
    """

    def __init__(self) -> None:
        self._target: SessionCommands | None = None

    @property
    def attached(self) -> bool:
        """Whether the session engine is attached."""
        return self._target is not None

    def attach(self, target: SessionCommands) -> None:
        """Send every command from now on to ``target`` (the rig's session controller)."""
        self._target = target

    def _engine(self, command: str) -> SessionCommands | None:
        if self._target is None:
            log.warning("%s ignored: ScanGate is still starting (capture stays locked)", command)
        return self._target

    def start_session(self, technician: str, capture_types: frozenset[str]) -> str:
        """See :meth:`SessionCommands.start_session`; '' while starting."""
        engine = self._engine("start session")
        return engine.start_session(technician, capture_types) if engine is not None else ""

    def end_session(self) -> None:
        """See :meth:`SessionCommands.end_session`."""
        if (engine := self._engine("end session")) is not None:
            engine.end_session()

    def request_fallback(self) -> None:
        """See :meth:`SessionCommands.request_fallback`."""
        if (engine := self._engine("badge + PIN")) is not None:
            engine.request_fallback()

    def capture(self, capture_type: str) -> None:
        """See :meth:`SessionCommands.capture`."""
        if (engine := self._engine("capture")) is not None:
            engine.capture(capture_type)

    def confirm(
        self,
        capture_types: frozenset[str],
        guardian_co_confirmed: bool = False,
        *,
        session_id: str | None = None,
    ) -> None:
        """See :meth:`SessionCommands.confirm`."""
        if (engine := self._engine("confirm")) is not None:
            engine.confirm(capture_types, guardian_co_confirmed, session_id=session_id)

    def decline(self, *, session_id: str | None = None) -> None:
        """See :meth:`SessionCommands.decline`."""
        if (engine := self._engine("decline")) is not None:
            engine.decline(session_id=session_id)

    def stop_capture(self) -> None:
        """See :meth:`SessionCommands.stop_capture`."""
        if (engine := self._engine("stop")) is not None:
            engine.stop_capture()

    def submit_fallback(self, badge_code: str, pin: str, witness: str) -> None:
        """See :meth:`SessionCommands.submit_fallback`."""
        if (engine := self._engine("badge + PIN")) is not None:
            engine.submit_fallback(badge_code, pin, witness)
