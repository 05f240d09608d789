"""The open-session journal's crash record, from whatever a previous run left behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.session.journal import CRASH_REASON, SessionJournal, crash_record_draft

DETECTED = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_a_journal_with_wrongly_typed_fields_still_gives_a_crash_record(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "open-session.json")
    journal.path.write_text('{"session_id": "s", "started_at": 5, "technician": "t"}')
    entry = journal.read()
    assert entry is not None
    draft = crash_record_draft(entry, "prod", DETECTED)
    assert draft["reason_codes"] == [CRASH_REASON]
    assert draft["started_at"] == draft["ended_at"] == "2026-11-22T09:00:00.000Z"


def test_a_damaged_journal_says_so_in_the_crash_record(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "open-session.json")
    journal.path.write_text('{"session_id": "s", "start')
    entry = journal.read()
    assert entry is not None
    assert "damaged" in crash_record_draft(entry, "prod", DETECTED)["outcome_detail"]
