"""Captures that arrive after their session's record: a correction record, never a rewrite.

Records are append-only evidence. A capture the gate reports for a session whose record is
already written (a slow capture program, or the faulted session still on screen) is added
by a *correction* record that names the original and lists the capture; the original stays
as it was signed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.session.model import Capture
from agent.session.ports import RecordSink
from agent.session.recording import build_correction_draft

log = logging.getLogger(__name__)

MAX_REMEMBERED_SESSIONS = 20
"""How many recorded sessions can still take a late capture (oldest forgotten first)."""


class RecordedSessions:
    """The last sessions recorded on this rig, and the correction records for their late captures."""

    def __init__(self, records: RecordSink, note: Callable[[str, datetime], None]) -> None:
        """Args: where records are appended, and how a line for the technician's console is noted."""
        self._records = records
        self._note = note
        self._recorded: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._recorded

    def remember(self, session_id: str, draft: dict[str, Any], stored: dict[str, Any]) -> None:
        """Keep a session's record (the draft and what was stored) for later corrections."""
        self._recorded[session_id] = (draft, stored)
        while len(self._recorded) > MAX_REMEMBERED_SESSIONS:
            del self._recorded[next(iter(self._recorded))]

    def correct(self, session_id: str, capture: Capture, at: datetime) -> None:
        """Append a correction record adding ``capture`` to the recorded session ``session_id``.

        A correction that cannot be written is noted on the console; the capture stays in the
        capture folder (and in the gate's own log), so nothing is deleted.
        """
        draft, stored = self._recorded[session_id]
        correction = build_correction_draft(draft, stored, capture)
        try:
            corrected = dict(self._records.append(correction))
        except Exception as exc:
            log.exception("writing a correction record failed")
            self._note(f"A late capture could not be recorded ({exc}); it stays in the capture folder", at)
            return
        self.remember(session_id, correction, corrected)
        self._note(f"Correction record #{corrected.get('sequence')}: a capture arrived after the record", at)
