"""The open-session journal: a session that the agent never finished still gets its record.

When a session starts, a small JSON file beside the session log says so (and
later, that capture was unlocked). When the session's record is written, the
file is removed. If the agent dies in between (crash, SIGKILL, power loss), the
file is still there at the next start, and the controller writes the missing
record: outcome ``fault``, reason ``agent_stopped_mid_session``, with what the
journal knew. No biometric data is ever written here.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.durable import replace_file_atomically
from agent.records.model import utc_timestamp
from agent.session.model import SessionContext

log = logging.getLogger(__name__)
CRASH_REASON = "agent_stopped_mid_session"


class SessionJournal:
    """One JSON file describing the session in progress (none when idle)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, ctx: SessionContext) -> None:
        """Record (atomically, fsynced) that this session is open, and whether it unlocked."""
        entry = {
            "session_id": ctx.session_id,
            "technician": ctx.technician,
            "capture_types_requested": sorted(ctx.requested_capture_types),
            "started_at": utc_timestamp(ctx.started_at) if ctx.started_at else None,
            "performer_id": ctx.identity.performer_id if ctx.identity else None,
            "unlocked_at": utc_timestamp(ctx.unlocked_at) if ctx.unlocked_at else None,
            "unlocked_capture_types": sorted(ctx.confirmed_capture_types) if ctx.unlocked_at else [],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file_atomically(self.path, json.dumps(entry).encode("utf-8"))

    def clear(self) -> None:
        """The session's record is written: forget it."""
        self.path.unlink(missing_ok=True)

    def read(self) -> dict[str, Any] | None:
        """The unfinished session left by a previous run, if any (a damaged file counts too)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(text)
            return entry if isinstance(entry, dict) else {"damaged": text[:200]}
        except json.JSONDecodeError:
            return {"damaged": text[:200]}


def crash_record_draft(entry: dict[str, Any], production_id: str, detected_at: datetime) -> dict[str, Any]:
    """The record of a session the agent never finished (see module docstring)."""
    started = entry.get("started_at")
    if not isinstance(started, str) or not started:
        started = utc_timestamp(detected_at)  # a damaged journal must not stop the rig from starting
    detail = (
        "the agent stopped without ending this session (crash, kill or power loss); this record was"
        " written when it started again"
    )
    gate_events: list[dict[str, Any]] = []
    if entry.get("unlocked_at"):
        detail += "; capture had been unlocked, and the gate's lease locked it when renewals stopped"
        gate_events = [
            {
                "at": entry["unlocked_at"],
                "action": "unlock",
                "reason": "consent_confirmed",
                "capture_types": entry.get("unlocked_capture_types", []),
            }
        ]
    if "damaged" in entry:
        detail += "; the open-session journal was damaged"
    draft: dict[str, Any] = {
        "production": {"production_id": production_id, "name": None},
        "capture_types_requested": entry.get("capture_types_requested", []),
        "technician": {"technician_id": entry["technician"]} if entry.get("technician") else None,
        "outcome": "fault",
        "reason_codes": [CRASH_REASON],
        "outcome_detail": detail,
        "gate_events": gate_events,
        "started_at": started,
        "ended_at": max(started, utc_timestamp(detected_at)),
    }
    if entry.get("performer_id"):
        draft["performer"] = {"performer_id": entry["performer_id"], "display_name": None, "minor": False}
    return draft
