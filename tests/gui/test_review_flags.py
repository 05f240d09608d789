"""A session with refused or quarantined captures never reads as a clean capture in the review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gui.review.details import record_html
from gui.review.rows import row_from_record

CLEAN = {
    "name": "/captures/s1/a.jpg",
    "sha256": "a" * 64,
    "within_unlock_window": True,
    "capture_type": "face",
    "quarantined": False,
    "flag_reason": None,
}


def _record(*files: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": "captured", "reason_codes": ["capture_flagged"], "captured_files": list(files)}


def test_flagged_captures_are_counted_and_named() -> None:
    """Finding 9.1: the review showed a type not granted and a wrong hash as clean captures."""
    refused = {**CLEAN, "name": "/etc/passwd", "sha256": None, "flag_reason": "refused: outside the folders"}
    wrong_type = {
        **CLEAN,
        "name": "/captures/s1/b.jpg",
        "capture_type": "full_body",
        "quarantined": True,
        "flag_reason": "capture type 'full_body' was not granted",
    }
    record = _record(CLEAN, refused, wrong_type)
    row = row_from_record(Path("sessions.jsonl"), 1, 0, record)
    assert row.flagged_files == 2
    assert row.outcome_label == "Captured · 2 flagged"
    html = record_html(row, record)
    assert "refused: outside the folders" in html and "not read" in html
    assert "&#x27;full_body&#x27; was not granted (quarantined)" in html


def test_a_clean_session_has_a_plain_label() -> None:
    row = row_from_record(Path("sessions.jsonl"), 1, 0, {"outcome": "captured", "captured_files": [CLEAN]})
    assert row.flagged_files == 0 and row.outcome_label == "Captured"
