"""The open-session journal: what a crash leaves behind becomes the session's true record."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from agent.records.model import RecordDraft
from agent.session.evidence import JournalKeeper
from agent.session.journal import CRASH_REASON, WRITTEN_LATE_NOTE, SessionJournal
from agent.session.model import (
    Capture,
    ConsentCheck,
    IdentificationMethod,
    Identity,
    Phase,
    SessionContext,
    SessionState,
)

DETECTED = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
STARTED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _keeper(tmp_path: Path) -> tuple[JournalKeeper, SessionJournal]:
    journal = SessionJournal(tmp_path / "open-session.json")
    return JournalKeeper(journal, "prod"), journal


def _unlocked_context() -> SessionContext:
    identity = Identity("perf-1", IdentificationMethod.FACE, STARTED, "Ana", 0.31, 0.12, 3, "enrol-1")
    return SessionContext(
        session_id="s1",
        technician="tech",
        requested_capture_types=frozenset({"face"}),
        started_at=STARTED,
        identity=identity,
        last_seen_at=STARTED,
        consent=ConsentCheck(True),
        confirmed_capture_types=frozenset({"face"}),
        confirmed_at=STARTED,
        unlock_identity=identity,
        unlocked_at=STARTED,
        gate_events=(("unlock", STARTED, "consent_confirmed"),),
    )


def _capture(event_id: str, *, flag: str | None = None) -> Capture:
    return Capture(
        name=f"/captures/s1/{event_id}.jpg",
        sha256="a" * 64,
        captured_at=STARTED,
        within_unlock_window=True,
        session_id="s1",
        size_bytes=10,
        capture_type="face",
        quarantined=flag is not None,
        flag_reason=flag,
        event_id=event_id,
    )


def test_a_crash_after_a_capture_keeps_the_capture_and_identification(tmp_path: Path) -> None:
    """Finding 9.3: the recovery record once had no captures, no consent, no identification."""
    keeper, _journal = _keeper(tmp_path)
    ctx = _unlocked_context()
    keeper.after_transition(SessionState(), SessionState(Phase.IDENTIFYING, ctx), None, STARTED)
    keeper.after_transition(
        SessionState(Phase.AWAITING_CONFIRMATION, ctx), SessionState(Phase.UNLOCKED, ctx), None, STARTED
    )
    keeper.capture(_capture("e1"))
    keeper.capture(_capture("e2", flag="capture type 'full_body' was not granted"))
    # SIGKILL here: the engine never saw the captures, nothing else was written.
    draft = keeper.recover(DETECTED)
    assert draft is not None
    checked = RecordDraft.model_validate(draft)
    assert checked.outcome == "captured"
    assert checked.reason_codes[0] == CRASH_REASON and "capture_flagged" in checked.reason_codes
    assert [f.name for f in checked.captured_files] == ["/captures/s1/e1.jpg", "/captures/s1/e2.jpg"]
    assert checked.captured_files[1].quarantined and checked.captured_files[1].flag_reason
    assert checked.identification is not None and checked.identification.distance == 0.31
    assert [e.action for e in checked.gate_events] == ["unlock"]


def test_a_capture_the_draft_already_lists_is_not_listed_twice(tmp_path: Path) -> None:
    keeper, _journal = _keeper(tmp_path)
    ctx = _unlocked_context()
    keeper.after_transition(SessionState(), SessionState(Phase.IDENTIFYING, ctx), None, STARTED)
    keeper.capture(_capture("e1"))
    with_capture = SessionState(Phase.UNLOCKED, replace(ctx, captures=(_capture("e1"),)))
    keeper.after_transition(SessionState(Phase.AWAITING_CONFIRMATION, ctx), with_capture, None, STARTED)
    draft = keeper.recover(DETECTED)
    assert draft is not None and len(draft["captured_files"]) == 1


def test_an_ended_session_whose_record_could_not_be_written_keeps_its_real_record(tmp_path: Path) -> None:
    """Finding 9.4: a read-only log at the end once left only a thin crash record at restart."""
    keeper, _journal = _keeper(tmp_path)
    ctx = _unlocked_context()
    keeper.after_transition(SessionState(), SessionState(Phase.IDENTIFYING, ctx), None, STARTED)
    ended = replace(ctx, closed_at=STARTED, captures=(_capture("e1"),))
    keeper.after_transition(
        SessionState(Phase.UNLOCKED, ctx), SessionState(Phase.CLOSING, ended), None, STARTED
    )
    draft = keeper.recover(DETECTED)
    assert draft is not None
    assert CRASH_REASON not in draft["reason_codes"]
    assert WRITTEN_LATE_NOTE in draft["outcome_detail"]
    assert draft["ended_at"] == "2026-11-22T08:00:00.000Z", "ended when the session ended, not at restart"
    assert draft["record_id"], "the same record id as the record the session would have written"


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    keeper, journal = _keeper(tmp_path)
    ctx = _unlocked_context()
    keeper.after_transition(SessionState(), SessionState(Phase.IDENTIFYING, ctx), None, STARTED)
    keeper.capture(_capture("e1"))
    with journal.path.open("ab") as handle:
        handle.write(b'{"kind": "capture", "event_id": "e2", "fi')
    draft = keeper.recover(DETECTED)
    assert draft is not None
    assert len(draft["captured_files"]) == 1
    assert "damaged" in draft["outcome_detail"]


def test_a_legacy_journal_still_gives_a_crash_record(tmp_path: Path) -> None:
    keeper, journal = _keeper(tmp_path)
    journal.path.write_text(json.dumps({"session_id": "s", "started_at": 5, "technician": "t"}))
    draft = keeper.recover(DETECTED)
    assert draft is not None
    assert draft["reason_codes"] == [CRASH_REASON]
    assert draft["started_at"] == draft["ended_at"] == "2026-11-22T09:00:00.000Z"


def test_a_damaged_journal_says_so_in_the_crash_record(tmp_path: Path) -> None:
    keeper, journal = _keeper(tmp_path)
    journal.path.write_text('{"session_id": "s", "start')
    draft = keeper.recover(DETECTED)
    assert draft is not None
    assert "damaged" in draft["outcome_detail"]
