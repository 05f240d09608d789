"""What the review window and the performer's receipt say about each file's Content Credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.provenance.outcomes import not_written, unknown
from agent.records.receipt import make_receipt
from gui.review.details import record_html
from gui.review.rows import row_from_record

WRITTEN = {
    "status": "embedded",
    "manifest_label": "urn:c2pa:0f3e",
    "file": "a.png",
    "file_sha256": "e" * 64,
    "consent_assertion": True,
    "reason": None,
}


def _file(name: str, credentials: dict[str, Any] | None, *, flag: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "sha256": "a" * 64,
        "size_bytes": 10,
        "captured_at": "2026-03-01T12:00:00.000Z",
        "within_unlock_window": flag is None,
        "capture_type": "face",
        "quarantined": flag is not None,
        "flag_reason": flag,
        "content_credentials": credentials,
    }


def _record(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "record_id": "3f0c8a52-5a3e-4d0e-9a51-0c2f6f1f7b11",
        "rig_id": "rig-1",
        "sequence": 1,
        "outcome": "captured",
        "reason_codes": [],
        "started_at": "2026-03-01T12:00:00.000Z",
        "ended_at": "2026-03-01T12:05:00.000Z",
        "captured_files": files,
        "signature": {"alg": "Ed25519", "key_id": "ed25519:" + "0" * 32, "value": "x"},
    }


def test_the_receipt_says_the_files_carry_the_performers_terms() -> None:
    record = _record([_file("a.png", WRITTEN), _file("b.png", WRITTEN)])
    assert "Files:       2 of 2 carry your consent terms (C2PA)" in make_receipt(record).text()
    missing = _record([_file("a.png", WRITTEN), _file("b.png", not_written("no rig certificate"))])
    assert (
        "1 of 2 carry your consent terms (C2PA); 1 consented file(s) without" in make_receipt(missing).text()
    )
    assert "Files:" not in make_receipt(_record([])).text()
    assert max(len(line) for line in make_receipt(missing).text().splitlines()) <= 80


def test_the_review_window_shows_per_file_whether_credentials_were_written() -> None:
    files = [
        _file("a.png", WRITTEN),
        _file("b.cr3", {**WRITTEN, "status": "sidecar", "file": "b.cr3.c2pa"}),
        _file("c.png", not_written("no rig certificate: the registry cannot be reached")),
        _file("d.png", unknown()),
        _file("e.png", not_written("not a consented capture"), flag="capture type 'hands' was not granted"),
    ]
    record = _record(files)
    html = record_html(row_from_record(Path("log.jsonl"), 1, 0, record), record)
    assert "credentials embedded" in html and "credentials in b.cr3.c2pa" in html
    assert "<span class=bad>no credentials: no rig certificate" in html  # a consented file without: red
    assert "<span class=bad>credentials unknown: the agent stopped" in html
    assert "no credentials: not a consented capture" in html
    assert "<span class=bad>no credentials: not a consented" not in html  # flagged already; not red twice
    assert "2 of 5 carry the consent terms (C2PA); 2 consented file(s) without" in html
