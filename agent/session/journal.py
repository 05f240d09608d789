"""The open-session journal: a session the agent never finished still gets its true record.

While a session is open, a small append-only file beside the session log holds
what its record will need, written durably as it happens:

* ``session``: the first line (written atomically): session id, technician, start;
* ``draft``: the record draft so far (identification summary, consent reference,
  unlock and lock events), re-written whenever one of those changes; ``final``
  marks the draft of a session that has ended and only waits to be written;
* ``capture``: every capture the gate reported, appended *before* the gate
  acknowledges it to the capture software or the technician.

When the session's record is in the log, the file is removed. If the agent dies
in between (crash, SIGKILL, power loss, or a log that could not be written), the
file is still there at the next start and the controller writes the record from
it: a ``final`` draft exactly as the session ended (never a thinner record in its
place), otherwise the last draft with every journaled capture, outcome ``fault``
(or ``captured`` when consented captures were made) and reason
``agent_stopped_mid_session``. No biometric data is ever written here: the draft
holds what the signed record holds and nothing more.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.durable import O_BINARY, replace_file_atomically, write_all
from agent.private_files import private_dir
from agent.records.model import flagged_capture_count, is_clean_capture, utc_timestamp
from agent.session.model import SessionContext

log = logging.getLogger(__name__)
CRASH_REASON = "agent_stopped_mid_session"
WRITTEN_LATE_NOTE = (
    "this record was written when the agent started again: the session log could not be written"
    " when the session ended"
)


@dataclass
class JournalContents:
    """What a journal file says about the unfinished session."""

    header: dict[str, Any]
    """The ``session`` line (or a legacy one-object journal); ``{"damaged": ...}`` if unreadable."""
    draft: dict[str, Any] | None = None
    """The last record draft journaled, if any."""
    final: bool = False
    """The draft is that of a session that had ended (its record only waited to be written)."""
    draft_capture_ids: frozenset[str] = frozenset()
    """Ids of the captures the last draft already lists."""
    captures: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every journaled capture, in order: (event id, captured-file entry)."""
    torn_lines: int = 0
    """Lines that could not be read (a torn last write, or damage)."""


class SessionJournal:
    """The journal file of the session in progress (none when idle). Safe to use from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()

    def open(self, ctx: SessionContext) -> None:
        """Start the journal of a new session (atomically; replaces any previous file)."""
        header = {
            "kind": "session",
            "session_id": ctx.session_id,
            "technician": ctx.technician,
            "capture_types_requested": sorted(ctx.requested_capture_types),
            "started_at": utc_timestamp(ctx.started_at) if ctx.started_at else None,
        }
        with self._mutex:
            private_dir(self.path.parent)
            replace_file_atomically(self.path, _line(header))

    def record_draft(self, draft: dict[str, Any], capture_ids: list[str], *, final: bool) -> None:
        """Journal the record draft so far (``final``: the session has ended)."""
        self._append({"kind": "draft", "final": final, "capture_ids": capture_ids, "draft": draft})

    def record_capture(self, event_id: str, captured_file: dict[str, Any]) -> None:
        """Journal one capture durably; returns only once it is on disk.

        Raises:
            OSError: it could not be written (the caller must not acknowledge the capture as safe).
        """
        self._append({"kind": "capture", "event_id": event_id, "file": captured_file})

    def _append(self, entry: dict[str, Any]) -> None:
        with self._mutex:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | O_BINARY)
            try:
                write_all(fd, _line(entry))
                os.fsync(fd)
            finally:
                os.close(fd)

    def clear(self) -> None:
        """The session's record is written: forget it."""
        with self._mutex:
            self.path.unlink(missing_ok=True)

    def read(self) -> JournalContents | None:
        """The unfinished session left by a previous run, if any (a damaged file counts too)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        lines = data.split(b"\n")
        contents: JournalContents | None = None
        torn = 0
        for raw in lines:
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                entry = None
            if not isinstance(entry, dict):
                torn += 1
                if contents is None:
                    contents = JournalContents(header={"damaged": raw[:200].decode("utf-8", "replace")})
                continue
            if contents is None:
                contents = JournalContents(header=entry)  # 'session' (or a legacy one-object journal)
                continue
            _apply(contents, entry)
        if contents is None:
            return JournalContents(header={"damaged": ""})
        contents.torn_lines = torn
        return contents


def _apply(contents: JournalContents, entry: dict[str, Any]) -> None:
    kind = entry.get("kind")
    if kind == "draft" and isinstance(entry.get("draft"), dict):
        contents.draft = entry["draft"]
        contents.final = entry.get("final") is True
        ids = entry.get("capture_ids")
        contents.draft_capture_ids = (
            frozenset(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else frozenset()
        )
    elif kind == "capture" and isinstance(entry.get("file"), dict) and isinstance(entry.get("event_id"), str):
        contents.captures.append((entry["event_id"], entry["file"]))
    else:
        contents.torn_lines += 1


def _line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def recovery_record_draft(
    contents: JournalContents, production_id: str, detected_at: datetime
) -> dict[str, Any]:
    """The record of a session the agent never finished (see module docstring)."""
    if contents.final and contents.draft is not None:
        draft = dict(contents.draft)
        draft["outcome_detail"] = _joined(draft.get("outcome_detail"), WRITTEN_LATE_NOTE)
        return _with_late_captures(draft, contents)
    if contents.draft is not None:
        draft = dict(contents.draft)
        started = draft.get("started_at")
    else:
        draft = _draft_from_header(contents.header, production_id)
        started = draft["started_at"]
    if not isinstance(started, str) or not started:
        started = utc_timestamp(detected_at)  # a damaged journal must not stop the rig from starting
        draft["started_at"] = started
    draft = _with_late_captures(draft, contents)
    unlocked = any(e.get("action") == "unlock" for e in draft.get("gate_events", []) if isinstance(e, dict))
    detail = (
        "the agent stopped without ending this session (crash, kill or power loss); this record was"
        " written from the open-session journal when it started again"
    )
    if unlocked:
        detail += "; capture had been unlocked, and the gate's lease locked it when renewals stopped"
    if "damaged" in contents.header or contents.torn_lines:
        detail += "; the open-session journal was damaged (what could be read is recorded)"
    clean = any(is_clean_capture(f) for f in draft.get("captured_files", []))
    codes = [c for c in draft.get("reason_codes", []) if isinstance(c, str)]
    draft["outcome"] = "captured" if clean else "fault"
    draft["reason_codes"] = list(dict.fromkeys([CRASH_REASON, *codes]))
    draft["outcome_detail"] = detail
    draft["ended_at"] = max(started, utc_timestamp(detected_at))
    return draft


def _with_late_captures(draft: dict[str, Any], contents: JournalContents) -> dict[str, Any]:
    """The draft plus every journaled capture it does not list yet."""
    listed = contents.draft_capture_ids
    late = [entry for event_id, entry in contents.captures if event_id not in listed]
    if late:
        draft["captured_files"] = [*draft.get("captured_files", []), *late]
        if flagged_capture_count(late):
            codes = list(draft.get("reason_codes", []))
            if "capture_flagged" not in codes:
                draft["reason_codes"] = [*codes, "capture_flagged"]
    return draft


def _draft_from_header(header: dict[str, Any], production_id: str) -> dict[str, Any]:
    """A draft from the session line alone (or a legacy one-object journal)."""
    started = header.get("started_at")
    draft: dict[str, Any] = {
        "production": {"production_id": production_id, "name": None},
        "capture_types_requested": [
            t for t in header.get("capture_types_requested", []) if isinstance(t, str)
        ]
        if isinstance(header.get("capture_types_requested"), list)
        else [],
        "technician": {"technician_id": header["technician"], "name": None}
        if isinstance(header.get("technician"), str) and header.get("technician")
        else None,
        "gate_events": [],
        "captured_files": [],
        "reason_codes": [],
        "started_at": started if isinstance(started, str) else None,
    }
    if header.get("unlocked_at"):  # written by versions before the draft lines existed
        draft["gate_events"] = [
            {
                "at": header["unlocked_at"],
                "action": "unlock",
                "reason": "consent_confirmed",
                "capture_types": header.get("unlocked_capture_types", []),
            }
        ]
    if isinstance(header.get("performer_id"), str) and header.get("performer_id"):
        draft["performer"] = {"performer_id": header["performer_id"], "display_name": None, "minor": False}
    return draft


def _joined(first: object, second: str) -> str:
    return second if not isinstance(first, str) or not first else f"{first}; {second}"
