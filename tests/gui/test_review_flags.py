"""A session with refused or quarantined captures never reads as a clean capture in the review."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt

from gui.review.details import record_html
from gui.review.export import write_csv
from gui.review.rows import row_from_record
from gui.review.table import OUTCOME, SessionTableModel

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


def _face_record(liveness: dict[str, Any] | None, *, method: str = "face") -> dict[str, Any]:
    return {
        "outcome": "captured",
        "captured_files": [CLEAN],
        "identification": {"method": method, "liveness": liveness},
    }


SYNTHETIC: dict[str, Any] = {
    "method": "synthetic",
    "passed": True,
    "completed_at": "2026-12-03T10:00:04.000Z",
    "attempt": 1,
    "steps": [
        {"step": "turn-left", "passed": True, "reason": "synthetic: passed by time", "evidence": {}},
        {"step": "blink", "passed": True, "reason": "synthetic: passed by time", "evidence": {}},
    ],
    "model": "synthetic (demo stand-in camera)",
    "earlier_attempts": [],
}
OFF: dict[str, Any] = {
    "method": "off",
    "passed": None,
    "completed_at": None,
    "attempt": 0,
    "steps": [],
    "model": "",
    "earlier_attempts": [],
}
CHALLENGE: dict[str, Any] = {
    **SYNTHETIC,
    "method": "challenge",
    "steps": [
        {
            "step": "turn-right",
            "passed": True,
            "reason": "the head turned in depth",
            "evidence": {"turn": 0.3361, "planarity_residual": 0.0912},
        }
    ],
    "model": "mediapipe-face_landmark@1055cb9d4a9c",
    "earlier_attempts": [],
}


def test_synthetic_and_switched_off_liveness_are_flagged_in_the_table_and_details() -> None:
    """Issue 10: the review showed a demo (synthetic) or switched-off liveness check like a real one."""
    synthetic = _face_record(SYNTHETIC)
    row = row_from_record(Path("sessions.jsonl"), 1, 0, synthetic)
    assert row.liveness == "synthetic"
    assert row.outcome_label == "Captured · SYNTHETIC liveness"
    html = record_html(row, synthetic)
    assert (
        "liveness was synthetic (demo stand-in camera): not evidence that a live person was present" in html
    )
    assert "Turn head left" in html and "Blink" in html

    off = _face_record(OFF)
    row = row_from_record(Path("sessions.jsonl"), 2, 0, off)
    assert row.liveness == "off" and row.outcome_label == "Captured · liveness OFF"
    assert "switched off in the rig&#x27;s configuration" in record_html(row, off)

    unrecorded = _face_record(None)
    row = row_from_record(Path("sessions.jsonl"), 3, 0, unrecorded)
    assert row.liveness == "none" and row.outcome_label == "Captured · liveness not recorded"


def test_a_real_challenge_and_badge_pin_carry_no_liveness_flag() -> None:
    real = _face_record(CHALLENGE)
    row = row_from_record(Path("sessions.jsonl"), 1, 0, real)
    assert row.liveness == "challenge" and row.outcome_label == "Captured"
    html = record_html(row, real)
    assert "LIVENESS" in html and "Turn head right" in html and "planarity_residual 0.0912" in html
    badge = _face_record(None, method="fallback_badge_pin")
    row = row_from_record(Path("sessions.jsonl"), 2, 0, badge)
    assert row.liveness == "none" and row.outcome_label == "Captured"


def test_the_csv_export_says_how_liveness_was_established(tmp_path: Path) -> None:
    records = [_face_record(CHALLENGE), _face_record(SYNTHETIC), _face_record(OFF), _face_record(None)]
    rows = [row_from_record(Path("sessions.jsonl"), i, 0, r) for i, r in enumerate(records, 1)]
    path = tmp_path / "sessions.csv"
    write_csv(path, rows)
    with open(path, encoding="utf-8", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [line["liveness"] for line in exported] == ["challenge", "synthetic", "off", "none"]


def _consented(destroy_by: str | None, *files: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": "captured",
        "captured_files": list(files),
        "consent": {"consent_id": "c-raven-7", "version": 1, "destroy_by": destroy_by},
    }


def test_captures_past_their_consents_destroy_by_are_flagged_in_table_details_and_csv(
    qtbot: Any, tmp_path: Path
) -> None:
    """Issue 11: the review reports captured files whose consent is past destroy_by."""
    as_of = date(2026, 2, 1)
    overdue = _consented("2026-01-31", CLEAN)
    row = row_from_record(Path("sessions.jsonl"), 1, 0, overdue, as_of=as_of)
    assert row.past_destroy_by is not None
    assert row.outcome_label == "Captured · PAST destroy-by"
    html = record_html(row, overdue)
    assert "whose destroy-by date 2026-01-31 is over" in html and "c-raven-7" in html
    on_the_day = row_from_record(Path("sessions.jsonl"), 2, 0, overdue, as_of=date(2026, 1, 31))
    later = row_from_record(Path("sessions.jsonl"), 3, 0, _consented("2031-01-01", CLEAN), as_of=as_of)
    flagged_only = _consented(
        "2026-01-31", {**CLEAN, "within_unlock_window": False, "flag_reason": "outside"}
    )
    quarantined = row_from_record(Path("sessions.jsonl"), 4, 0, flagged_only, as_of=as_of)
    for plain in (on_the_day, later, quarantined):
        assert plain.past_destroy_by is None and "destroy-by" not in plain.outcome_label

    model = SessionTableModel()
    model.set_rows([row, later])
    cell = model.index(0, OUTCOME)
    assert model.data(cell) == "Captured · PAST destroy-by"
    assert "should have been destroyed" in str(model.data(cell, Qt.ItemDataRole.ToolTipRole))
    assert model.data(model.index(1, OUTCOME)) == "Captured"

    path = tmp_path / "sessions.csv"
    write_csv(path, [row, on_the_day, later])
    with open(path, encoding="utf-8", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [line["past_destroy_by"] for line in exported] == ["2026-01-31", "", ""]
