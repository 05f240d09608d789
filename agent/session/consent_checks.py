"""The session's consent lookups: the first check after identification and the periodic re-checks.

Both ask the registry (through :class:`~agent.session.ports.ConsentService`) on the
controller's lookup pool, never on the engine thread, and hand their answers back
as inputs to the engine's queue:

* the **lookup** after identification becomes ``ConsentChecked`` (or a registry
  ``Fault``), but only while the session still waits for that very lookup;
* the **re-check**, every ``consent_recheck_interval`` while the terms are shown
  or capture is unlocked, becomes ``ConsentRechecked``; a re-check that fails is
  only noted: the maximum age of the last good answer decides (the machine's tick).

The consent record the session relies on (shown to the performer, journaled and
referenced by the record) is kept here too, since only a lookup's answer sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agent.errors import ScanGateError
from agent.session import events as ev
from agent.session.model import IdentificationMethod, Phase, SessionState
from agent.session.ports import ConsentAnswer, ConsentService
from agent.wire.consent import ConsentRecord

Clock = Callable[[], datetime]
EventMaker = Callable[[datetime], ev.Event | None]
Post = Callable[[EventMaker], None]
"""Queue an input for the engine thread (stamped when posted)."""
Note = Callable[[str, datetime], None]
"""Add a line to the session's event list (engine thread only)."""


@dataclass(frozen=True)
class ConsentCheckWiring:
    """How the consent checks reach the rest of the controller."""

    service: ConsentService
    """Looks up and evaluates the performer's consent."""
    pool: Executor
    """Runs the registry calls (they may take seconds) off the engine thread."""
    state: Callable[[], SessionState]
    """The engine's current state (read on the engine thread when an answer arrives)."""
    post: Post
    """Queues an answer for the engine thread."""
    note: Note
    """Notes a line for the technician (engine thread)."""
    clock: Clock
    """Wall clock; the time a question was asked is part of its answer."""


class ConsentChecks:
    """Asks the registry about the consent a session needs, and again while the session relies on it."""

    def __init__(self, wiring: ConsentCheckWiring, recheck_interval: timedelta) -> None:
        """Args: the wiring to the controller, and how often a relied-on consent is checked again."""
        self._wiring = wiring
        self._recheck_interval = recheck_interval
        self._recheck_started: datetime | None = None
        self._recheck_in_flight = False
        self.record: ConsentRecord | None = None
        """The signed consent the open session relies on (None: none found, or not verified)."""

    def session_opened(self) -> None:
        """A new session started identifying: its first re-check is due as soon as it relies on consent."""
        self._recheck_started = None

    def fetch(self, performer_id: str) -> None:
        """Look up ``performer_id``'s consent for the current session (answer queued for the engine)."""
        w = self._wiring
        ctx = w.state().context
        session_id, types = ctx.session_id, ctx.requested_capture_types
        method = ctx.identity.method if ctx.identity else IdentificationMethod.FACE
        request = (session_id, performer_id, method)

        def lookup() -> None:
            asked_at = w.clock()
            try:
                result: ConsentAnswer = w.service.lookup(performer_id, types, method)
                result = replace(result, check=replace(result.check, asked_at=asked_at))
            except Exception as exc:
                detail = (
                    exc.what
                    if isinstance(exc, ScanGateError)
                    else f"consent lookup failed unexpectedly: {exc}"
                )
                w.post(self._for_lookup(request, lambda at: ev.Fault(at, "registry", detail)))
                return
            w.post(self._for_lookup(request, lambda at: self._answer(result, at)))

        w.pool.submit(lookup)

    def recheck_if_due(self, at: datetime) -> None:
        """Start a re-check when the session relies on consent and the last one is old enough."""
        phase = self._wiring.state().phase
        due = self._recheck_started is None or at - self._recheck_started >= self._recheck_interval
        if phase in (Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED) and due and not self._recheck_in_flight:
            self._recheck(at)

    def _recheck(self, at: datetime) -> None:
        """Ask the registry again about the consent the session relies on (terms shown, or unlocked)."""
        w = self._wiring
        ctx = w.state().context
        if ctx.identity is None:
            return
        session_id, types = ctx.session_id, ctx.requested_capture_types
        performer_id, method = ctx.identity.performer_id, ctx.identity.method
        self._recheck_started, self._recheck_in_flight = at, True

        def recheck() -> None:
            asked_at = w.clock()
            try:
                result = w.service.lookup(performer_id, types, method)
                check = replace(result.check, asked_at=asked_at)
                w.post(self._for_session(session_id, lambda when: ev.ConsentRechecked(when, check)))
            except Exception as exc:  # the maximum age decides; the technician is told why
                what = exc.what if isinstance(exc, ScanGateError) else str(exc)
                text = f"Consent re-check failed: {what}"
                w.post(lambda when: w.note(text, when))
            finally:
                self._recheck_in_flight = False

        w.pool.submit(recheck)

    def _answer(self, result: ConsentAnswer, at: datetime) -> ev.Event:
        # Unverified content (bad signature, unknown key) is never shown or recorded.
        self.record = result.record if result.check.terms is not None else None
        if not result.check.allowed:
            for code, message in result.check.reasons:
                self._wiring.note(f"Consent refused ({code}): {message}", at)
        return ev.ConsentChecked(at, result.check)

    def _for_session(self, session_id: str, make: Callable[[datetime], ev.Event]) -> EventMaker:
        """Drop an answer if its session is over by the time it arrives."""
        state = self._wiring.state
        return lambda at: make(at) if state().context.session_id == session_id else None

    def _for_lookup(
        self, request: tuple[str, str, IdentificationMethod], make: Callable[[datetime], ev.Event | None]
    ) -> EventMaker:
        """Drop a consent lookup's answer unless the session still waits for that very lookup
        (session, performer, method): after a switch to badge + PIN, an earlier lookup's answer
        is about another person or another identification method."""

        def current(at: datetime) -> ev.Event | None:
            state = self._wiring.state()
            ctx = state.context
            identity = ctx.identity
            waiting = (
                state.phase is Phase.CHECKING_CONSENT
                and identity is not None
                and (ctx.session_id, identity.performer_id, identity.method) == request
            )
            return make(at) if waiting else None

        return current
