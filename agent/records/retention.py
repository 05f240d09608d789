"""Which records hold captures whose consent is past ``destroy_by``, for ``verify`` and the review window.

A record (format 3) names its consent's ``destroy_by`` date (``consent.destroy_by``).
Once that day is over (judged on a calendar date, by default today in UTC: the day
itself is still allowed, as the registry judges it, see
:func:`agent.wire.destroy_by_passed`), the clean captured files the record lists must
have been destroyed. This is a notice for the reviewer, not a problem with the log:
the record is authentic and unchanged; what is overdue is an action on the scans,
which the log cannot show. Flagged captures are left out: they are already reported
(``capture_flagged``) and were quarantined, not kept as consented scans.

Works on records as read (unvalidated): a missing or malformed member gives None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from agent.records.record_view import is_clean_capture, nested

PAST_DESTROY_BY: Final = "past_destroy_by"
"""Stable notice code (docs/records.md)."""
LABEL: Final = "PAST destroy-by"
"""A few words for a table cell."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class RetainedCaptures:
    """The clean captures of one record and the date by which their consent says they must be destroyed."""

    consent_id: str
    destroy_by: date
    clean_files: int

    def past(self, as_of: date) -> bool:
        """True once the day ``destroy_by`` is over at date ``as_of``."""
        return as_of > self.destroy_by

    def message(self) -> str:
        """One plain sentence for a notice or a details pane."""
        return (
            f"{self.clean_files} captured file(s) belong to consent {self.consent_id}, whose destroy-by date"
            f" {self.destroy_by.isoformat()} is over: these scans should have been destroyed"
        )


def retained_captures(record: Mapping[str, Any]) -> RetainedCaptures | None:
    """The record's clean captures with their consent's destroy_by, or None (no date, no clean capture)."""
    text = nested(record, "consent", "destroy_by")
    consent_id = nested(record, "consent", "consent_id")
    if not isinstance(text, str) or not _DATE.match(text) or not isinstance(consent_id, str):
        return None
    try:
        destroy_by = date.fromisoformat(text)
    except ValueError:
        return None
    files = record.get("captured_files")
    clean = sum(1 for entry in files if is_clean_capture(entry)) if isinstance(files, list) else 0
    return RetainedCaptures(consent_id, destroy_by, clean) if clean else None


def past_destroy_by(record: Mapping[str, Any], as_of: date) -> RetainedCaptures | None:
    """The record's retained captures if their destroy_by is over at ``as_of``, else None."""
    retained = retained_captures(record)
    return retained if retained is not None and retained.past(as_of) else None


def today_utc() -> date:
    """Today's date on the UTC calendar (the registry's calendar for destroy_by)."""
    return datetime.now(UTC).date()


__all__ = [
    "LABEL",
    "PAST_DESTROY_BY",
    "RetainedCaptures",
    "past_destroy_by",
    "retained_captures",
    "today_utc",
]
