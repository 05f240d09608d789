"""Correction records for late captures: what is kept, and what happens when one cannot be written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agent.session.corrections import MAX_REMEMBERED_SESSIONS, RecordedSessions
from agent.session.model import Capture

AT = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


class _Sink:
    """A record sink that keeps what it is given, or fails like a full disk."""

    def __init__(self, *, fails: bool = False) -> None:
        self.appended: list[dict[str, Any]] = []
        self.fails = fails

    def append(self, draft: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.fails:
            raise OSError(28, "No space left on device")
        stored = {**draft, "sequence": len(self.appended) + 2}
        self.appended.append(stored)
        return stored


def _draft(session_id: str) -> dict[str, Any]:
    return {
        "record_id": f"draft-{session_id}",
        "session_id": session_id,
        "outcome": "refused",
        "reason_codes": ["technician_ended"],
        "captured_files": [],
        "outcome_detail": "",
    }


def _late_capture(session_id: str) -> Capture:
    return Capture(
        name="/captures/late.png",
        sha256="ab" * 32,
        captured_at=AT,
        within_unlock_window=False,
        session_id=session_id,
        capture_type="face",
        flag_reason="taken while the gate was locked",
    )


def test_a_late_capture_is_added_by_a_correction_that_names_the_original() -> None:
    sink, notes = _Sink(), []
    sessions = RecordedSessions(sink, lambda text, _at: notes.append(text))
    sessions.remember("s-1", _draft("s-1"), {"record_id": "stored-1"})
    sessions.correct("s-1", _late_capture("s-1"), AT)
    [correction] = sink.appended
    assert correction["corrects_record_id"] == "stored-1"
    assert correction["outcome"] == "refused", "a flagged capture never turns a refusal into 'captured'"
    assert "capture_flagged" in correction["reason_codes"]
    assert notes == ["Correction record #2: a capture arrived after the record"]


def test_a_correction_that_cannot_be_written_is_told_and_the_session_stays_correctable() -> None:
    notes: list[str] = []
    sink = _Sink(fails=True)
    sessions = RecordedSessions(sink, lambda text, _at: notes.append(text))
    sessions.remember("s-1", _draft("s-1"), {"record_id": "stored-1"})
    sessions.correct("s-1", _late_capture("s-1"), AT)
    assert sink.appended == []
    assert len(notes) == 1 and "could not be recorded" in notes[0] and "No space left" in notes[0]
    assert "stays in the capture folder" in notes[0]
    sink.fails = False
    sessions.correct("s-1", _late_capture("s-1"), AT)
    assert sink.appended[0]["corrects_record_id"] == "stored-1"


def test_only_the_most_recent_sessions_are_kept() -> None:
    sessions = RecordedSessions(_Sink(), lambda _text, _at: None)
    for n in range(MAX_REMEMBERED_SESSIONS + 3):
        sessions.remember(f"s-{n}", _draft(f"s-{n}"), {"record_id": f"stored-{n}"})
    assert "s-0" not in sessions and "s-2" not in sessions
    assert "s-3" in sessions and f"s-{MAX_REMEMBERED_SESSIONS + 2}" in sessions
