"""Keeping the open-session journal in step with the session, so a crash loses nothing.

The controller calls :class:`JournalKeeper` after every transition and for every
capture. The keeper decides what goes into the journal (:mod:`agent.session.journal`):
the session line when a session opens, the record draft whenever something the
record would say changes (identity, consent, confirmation, gate events, the end),
and each capture the moment the gate reports it, before it is acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agent.session.journal import SessionJournal, recovery_record_draft
from agent.session.model import Capture, Phase, SessionState
from agent.session.recording import build_record_draft, captured_file_entry
from agent.wire.consent import ConsentRecord

log = logging.getLogger(__name__)

_ENDED = (Phase.CLOSING, Phase.LOCKED_FAULT)


class JournalKeeper:
    """Writes the journal of the open session (does nothing without a journal path)."""

    def __init__(self, journal: SessionJournal | None, production_id: str) -> None:
        """Args: the journal (None: journaling off, e.g. in unit tests) and the rig's production."""
        self._journal = journal
        self._production_id = production_id
        self._last_key: tuple[Any, ...] | None = None
        self._open_session_id: str | None = None
        """The session whose journal is on disk (set once the file exists, cleared with it)."""

    @property
    def enabled(self) -> bool:
        """Whether a journal is kept at all."""
        return self._journal is not None

    def recover(self, detected_at: datetime) -> dict[str, Any] | None:
        """The record draft of a session a previous run left unfinished, or None."""
        if self._journal is None:
            return None
        contents = self._journal.read()
        if contents is None:
            return None
        return recovery_record_draft(contents, self._production_id, detected_at)

    def after_transition(
        self,
        before: SessionState,
        after: SessionState,
        consent: ConsentRecord | None,
        at: datetime,
        credentials: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Journal what changed (``credentials``: signing outcomes so far, by capture event id).

        Raises OSError when the journal cannot be written.
        """
        if self._journal is None:
            return
        ctx = after.context
        if before.phase is Phase.IDLE and after.phase is Phase.IDENTIFYING:
            self._open_session_id, self._last_key = None, None
            self._journal.open(ctx)
            self._open_session_id = ctx.session_id
        if after.phase is Phase.IDLE or ctx.record_written:
            return
        key = (
            after.phase,
            ctx.identity,
            ctx.unlock_identity,
            ctx.consent,
            ctx.confirmed_at,
            ctx.declined,
            ctx.gate_events,
            ctx.lock_reasons,
            ctx.refusal_codes,
            ctx.fault_detail,
            ctx.consent_offline,
            len(credentials or {}),
        )
        if key == self._last_key:
            return
        draft = build_record_draft(
            ctx, production_id=self._production_id, consent=consent, ended_at=at, credentials=credentials
        )
        self._journal.record_draft(
            draft, [c.event_id for c in ctx.captures if c.event_id], final=after.phase in _ENDED
        )
        self._last_key = key

    def capture(self, capture: Capture) -> None:
        """Journal a capture of the session whose journal is open, durably (any thread).

        A capture of no open session (idle, or its record already written) is not
        journaled: it reaches the session record or a correction record instead.

        Raises:
            OSError: the journal could not be written (a crash could lose this capture).
        """
        open_session = self._open_session_id
        if self._journal is None or open_session is None:
            return
        if capture.session_id is not None and capture.session_id != open_session:
            return
        self._journal.record_capture(capture.event_id, captured_file_entry(capture))

    def clear(self) -> None:
        """The session's record is in the log: the journal is no longer needed."""
        if self._journal is None:
            return
        self._open_session_id = None
        try:
            self._journal.clear()
        except OSError as exc:  # the record is written; a stale journal only costs a spurious record
            log.error("cannot remove the open-session journal %s: %s", self._journal.path, exc)
