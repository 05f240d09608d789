"""Session logs as table rows for the review window (no Qt here).

A log is streamed line by line; each line becomes a :class:`SessionRow` holding
only what the table shows plus the line's byte offset, so a large log stays
small in memory and a record's full JSON is read again when it is opened.
Lines that are not JSON records (a torn tail, garbage) become rows too, marked
unreadable, so nothing in the file is silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from agent.records.errors import RecordError
from agent.records.liveness_evidence import (
    LivenessEstablished,
    LivenessFlag,
    liveness_established,
    liveness_flag,
)
from agent.records.log import read_lines
from agent.records.model import parse_timestamp
from agent.records.record_view import flagged_capture_count, nested
from agent.records.retention import LABEL as PAST_DESTROY_BY_LABEL
from agent.records.retention import RetainedCaptures, past_destroy_by, today_utc
from agent.records.verify import ProblemCode, Verdict
from agent.session.snapshot import reason_text
from agent.signing import CanonicalJsonError, object_hash_hex
from gui.presenters import OUTCOME_LABELS, capture_types_text

NOT_VERIFIED = "not verified"
VERIFIED = "verified"

_PROBLEM_LABELS = {
    ProblemCode.MODIFIED_RECORD: "TAMPERED: changed after signing",
    ProblemCode.BAD_SIGNATURE: "TAMPERED: no valid signature",
    ProblemCode.UNKNOWN_KEY: "UNTRUSTED: signed by an unknown key",
    ProblemCode.MISSING_RECORD: "GAP: records missing before this one",
    ProblemCode.REORDERED_RECORDS: "REORDERED",
    ProblemCode.DUPLICATED_RECORD: "DUPLICATED",
    ProblemCode.CONFLICTING_RECORD: "CONFLICT: two different records with this number",
    ProblemCode.BROKEN_CHAIN: "CHAIN BROKEN",
    ProblemCode.CHECKPOINT_MISMATCH: "DIFFERS from the registry's copy",
    ProblemCode.TORN_LINE: "TORN: incomplete line",
    ProblemCode.MALFORMED_RECORD: "MALFORMED",
    ProblemCode.RIG_MISMATCH: "FOREIGN: another rig's record",
    ProblemCode.QUARANTINE_MISMATCH: "QUARANTINE mismatch",
}


@dataclass(frozen=True)
class SessionRow:
    """One line of a session log, as the review table shows it."""

    log: Path
    line: int
    offset: int
    readable: bool
    started_at: datetime | None = None
    ended_at: datetime | None = None
    performer: str = ""
    production: str = ""
    rig: str = ""
    outcome: str = ""
    capture_types: str = ""
    files: int = 0
    flagged_files: int = 0
    """Captures the gate refused, quarantined or saw outside an unlock window."""
    liveness: LivenessEstablished = "none"
    """How the record says liveness was established (the CSV's ``liveness`` column)."""
    liveness_flag: LivenessFlag | None = None
    """Why its face identification is not evidence of a live person (None if it is, or if not by face)."""
    past_destroy_by: RetainedCaptures | None = None
    """Its clean captures, when their consent's destroy-by date is over (judged when the log was loaded)."""
    sequence: int | None = None
    record_id: str = ""
    record_hash: str = ""
    reasons: str = ""
    technician: str = ""
    verification: str = NOT_VERIFIED
    problems: tuple[str, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        """True when the row is unreadable or verification found a problem with it."""
        return not self.readable or bool(self.problems)

    @property
    def outcome_label(self) -> str:
        """'Captured', 'Declined', ... or 'Unreadable'."""
        if not self.readable:
            return "Unreadable"
        parts = [OUTCOME_LABELS.get(self.outcome, self.outcome)]
        if self.flagged_files:
            parts.append(f"{self.flagged_files} flagged")
        if self.liveness_flag is not None:
            parts.append(self.liveness_flag.label)
        if self.past_destroy_by is not None:
            parts.append(PAST_DESTROY_BY_LABEL)
        return " · ".join(parts)


@dataclass
class LoadedLog:
    """The rows of one log file, or why it could not be read."""

    path: Path
    rows: list[SessionRow] = field(default_factory=list)
    error: str | None = None
    unreadable_lines: int = 0
    verdict: Verdict | None = None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else [] (an edited or malformed record may hold anything)."""
    return value if isinstance(value, list) else []


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else {} (an edited or malformed record may hold anything)."""
    return value if isinstance(value, Mapping) else {}


def types_text(value: Any) -> str:
    """The capture types a record field lists, as text ('none' when it lists none or is malformed)."""
    return capture_types_text([str(code) for code in as_list(value)])


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def row_from_record(
    log: Path, line: int, offset: int, record: Mapping[str, Any], *, as_of: date | None = None
) -> SessionRow:
    """The table row of one decoded record (tolerant: a malformed record still shows what it has).

    ``as_of``: the date consents' destroy-by dates are judged against (default: today, UTC).
    """
    name = nested(record, "performer", "display_name")
    performer_id = nested(record, "performer", "performer_id")
    confirmed = nested(record, "confirmation", "capture_types")
    types = confirmed if isinstance(confirmed, list) and confirmed else record.get("capture_types_requested")
    codes = record.get("reason_codes")
    try:
        digest = object_hash_hex(record)
    except (CanonicalJsonError, TypeError, ValueError):
        digest = ""
    sequence = record.get("sequence")
    files = record.get("captured_files")
    technician = nested(record, "technician", "name") or nested(record, "technician", "technician_id")
    return SessionRow(
        log=log,
        line=line,
        offset=offset,
        readable=True,
        started_at=_when(record.get("started_at")),
        ended_at=_when(record.get("ended_at")),
        performer=_text(name or performer_id or "(not identified)"),
        production=_text(
            nested(record, "production", "name") or nested(record, "production", "production_id")
        ),
        rig=_text(record.get("rig_id")),
        outcome=_text(record.get("outcome")),
        capture_types=types_text(types) if isinstance(types, list) else "",
        files=len(as_list(files)),
        flagged_files=flagged_capture_count(files),
        liveness=liveness_established(record),
        liveness_flag=liveness_flag(record),
        past_destroy_by=past_destroy_by(record, as_of or today_utc()),
        sequence=sequence if isinstance(sequence, int) else None,
        record_id=_text(record.get("record_id")),
        record_hash=digest,
        reasons="; ".join(reason_text(str(c)) for c in as_list(codes)),
        technician=_text(technician),
    )


def load_log(path: Path, progress: Callable[[int, int], None] | None = None) -> LoadedLog:
    """Read every line of the log at ``path`` into rows (never raises for a bad file).

    ``progress(bytes_read, total_bytes)`` is called every few hundred lines.
    """
    loaded = LoadedLog(path)
    try:
        total = path.stat().st_size
    except OSError as exc:
        loaded.error = f"cannot open {path}: {exc.strerror or exc}"
        return loaded
    if path.is_dir():
        loaded.error = f"{path} is a folder, not a session log"
        return loaded
    try:
        for log_line in read_lines(path):
            loaded.rows.append(
                _row_of_line(path, log_line.number, log_line.offset, log_line.data, log_line.complete)
            )
            if progress is not None and log_line.number % 500 == 0:
                progress(log_line.offset, total)
    except RecordError as exc:
        loaded.error = exc.what
    loaded.unreadable_lines = sum(1 for row in loaded.rows if not row.readable)
    if progress is not None:
        progress(total, total)
    return loaded


def _row_of_line(path: Path, number: int, offset: int, data: bytes, complete: bool) -> SessionRow:
    unreadable = SessionRow(log=path, line=number, offset=offset, readable=False)
    if not complete:
        return replace(unreadable, problems=("torn or overlong line (an interrupted write)",))
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to decode
        return replace(unreadable, problems=("not a JSON record",))
    if not isinstance(record, dict):
        return replace(unreadable, problems=("not a JSON object",))
    return row_from_record(path, number, offset, record)


def read_record(row: SessionRow) -> dict[str, Any] | None:
    """The full decoded record of ``row`` (read again from its log), or None if unreadable now."""
    try:
        with open(row.log, "rb") as handle:
            handle.seek(row.offset)
            data = handle.readline()
        record = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def apply_verdict(loaded: LoadedLog, verdict: Verdict) -> None:
    """Mark each row with its verification result: verified, or the problems found on its line."""
    loaded.verdict = verdict
    by_line: dict[int, list[str]] = {}
    for problem in verdict.problems:
        if problem.line is not None:
            by_line.setdefault(problem.line, []).append(_PROBLEM_LABELS.get(problem.code, str(problem.code)))
    for index, row in enumerate(loaded.rows):
        labels = by_line.get(row.line, [])
        if not row.readable:
            labels = labels or list(row.problems)
            loaded.rows[index] = replace(
                row, verification=labels[0] if labels else "unreadable", problems=tuple(labels)
            )
        elif labels:
            loaded.rows[index] = replace(row, verification=labels[0], problems=tuple(dict.fromkeys(labels)))
        else:
            loaded.rows[index] = replace(row, verification=VERIFIED, problems=())


def verdict_summary(verdict: Verdict) -> tuple[str, str]:
    """(headline, tone) for one log's verdict."""
    if verdict.intact:
        return f"INTACT — {verdict.records} record(s), all signed and chained", "unlocked"
    counts = ", ".join(f"{code.replace('_', ' ')}: {count}" for code, count in verdict.problem_counts.items())
    return f"NOT INTACT — {counts}", "locked"


def log_level_problems(verdict: Verdict) -> list[str]:
    """Problems not tied to one line (truncated tail, checkpoint, quarantine files)."""
    return [problem.message for problem in verdict.problems if problem.line is None]
