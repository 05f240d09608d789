"""The badge + PIN fallback check: the registry verifies the badge off the engine thread.

When the face cannot be used, the technician asks for the fallback and the performer enters
a badge code and PIN, with a witness named. :class:`BadgeCheck` runs the verification on the
controller's lookup pool (it asks the registry, which may take seconds) and hands the
answer back to the engine's queue as ``IdentityConfirmed``, but only while the session it
was asked for is still the open one. A refusal or a failure is only noted: the session
stays where it was, capture locked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime

from agent.errors import ScanGateError
from agent.session import events as ev
from agent.session.model import IdentificationMethod, Identity
from agent.session.ports import FallbackVerifier

log = logging.getLogger(__name__)

EventMaker = Callable[[datetime], ev.Event | None]
Post = Callable[[EventMaker], None]
"""Queue an input for the engine thread (stamped when posted)."""
ForSession = Callable[[str, Callable[[datetime], ev.Event]], EventMaker]
"""Wrap an input so it is dropped if its session is over when the engine gets to it."""


class BadgeCheck:
    """Verifies badge + PIN for the open session on ``pool``; answers become engine inputs."""

    def __init__(
        self,
        verifier: FallbackVerifier | None,
        pool: Executor,
        *,
        post: Post,
        for_session: ForSession,
        note_later: Callable[[str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._verifier = verifier
        self._pool = pool
        self._post = post
        self._for_session = for_session
        self._note_later = note_later
        self._clock = clock

    def start(
        self, session_id: str, badge_code: str, pin: str, witness: str, at: datetime
    ) -> ev.Event | None:
        """On the engine thread: bind the check to ``session_id`` and run it; without a verifier
        configured, the ``Fault`` that says so (to dispatch)."""
        if self._verifier is None:
            return ev.Fault(at, "fallback", "no badge verifier is configured")
        verifier = self._verifier

        def check() -> None:
            try:
                performer_id, name = verifier.verify(badge_code, pin)
            except ScanGateError as exc:
                self._note_later(f"Badge/PIN refused: {exc.what}")
                return
            except Exception as exc:  # a pool swallows it: without this note, nobody would know
                log.exception("badge/PIN check failed")
                self._note_later(f"Badge/PIN check failed unexpectedly: {exc}; try again")
                return
            identity = Identity(
                performer_id,
                IdentificationMethod.FALLBACK_BADGE_PIN,
                self._clock(),
                name,
                witness=witness.strip(),
            )
            self._post(self._for_session(session_id, lambda when: ev.IdentityConfirmed(when, identity)))

        self._pool.submit(check)
        return None
