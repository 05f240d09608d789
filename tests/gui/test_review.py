"""The review window on real signed logs: load, filter, verify (tampering flagged), export CSV and PDF."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from agent.records.keys import public_key_pem
from agent.records.log import RecordLog
from agent.signing import Signer
from gui.review.rows import VERIFIED, load_log
from gui.review.window import ReviewWindow
from tests.records.factories import captured_draft, refused_draft

WAIT_MS = 20_000


@pytest.fixture
def signer() -> Signer:
    """The rig key that signs the test log."""
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def signed_log(tmp_path: Path, signer: Signer) -> Path:
    """A real signed log: three captured sessions and two refusals."""
    path = tmp_path / "rig" / "sessions.jsonl"
    path.parent.mkdir()
    with RecordLog.open(path, signer, "rig-7") as log:
        for draft in (
            captured_draft(0),
            refused_draft(1),
            captured_draft(2),
            refused_draft(3),
            captured_draft(4),
        ):
            log.append(draft)
    return path


def tamper(path: Path, line: int) -> None:
    """Change one signed record's content, keeping it valid JSON (what a forger would do)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[line - 1])
    assert record["outcome"] == "captured"
    lines[line - 1] = lines[line - 1].replace('"Ana Lima"', '"Someone Else"')
    path.write_text("".join(lines), encoding="utf-8")


def click(qtbot: QtBot, widget: object) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def open_window(qtbot: QtBot, signer: Signer | None) -> ReviewWindow:
    keys = {signer.key_id: signer.public_key} if signer is not None else {}
    window = ReviewWindow(keys=keys, key_source="test rig key")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    window.show()
    return window


def open_through_dialog(
    qtbot: QtBot, window: ReviewWindow, monkeypatch: pytest.MonkeyPatch, *paths: Path
) -> None:
    """Press 'Open logs…' and pick ``paths`` in the (patched) file dialog."""
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *_a, **_k: ([str(p) for p in paths], ""))
    click(qtbot, window.open_button)
    qtbot.waitUntil(lambda: not window.jobs.busy and window.open_button.isEnabled(), timeout=WAIT_MS)


def verify(qtbot: QtBot, window: ReviewWindow) -> None:
    click(qtbot, window.verify_button)
    qtbot.waitUntil(lambda: window.verdict.text().startswith(("VERIFIED", "NOT INTACT")), timeout=WAIT_MS)


def test_loads_filters_and_flags_a_tampered_record(
    qtbot: QtBot, themed_app: QApplication, signed_log: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tamper(signed_log, 3)
    window = open_window(qtbot, signer)
    open_through_dialog(qtbot, window, monkeypatch, signed_log)
    assert window.model.rowCount() == 5
    assert window.proxy.rowCount() == 5

    window.outcome.setCurrentIndex(window.outcome.findData("refused"))
    assert window.proxy.rowCount() == 2
    window.outcome.setCurrentIndex(0)
    qtbot.keyClicks(window.search, "perf-0099")  # type: ignore[no-untyped-call]
    assert window.proxy.rowCount() == 2
    window.search.clear()
    window.rig.setCurrentIndex(window.rig.findData("rig-7"))
    assert window.proxy.rowCount() == 5

    verify(qtbot, window)
    assert window.verdict.text().startswith("NOT INTACT")
    assert window.notice.isVisible()
    rows = {row.line: row for row in window.model.rows()}
    assert rows[3].verification.startswith("TAMPERED")
    assert rows[3].flagged
    assert all(rows[line].verification == VERIFIED for line in (1, 2, 4, 5))

    click(qtbot, window.problems_only)
    assert window.proxy.rowCount() == 1
    window.table.selectRow(0)
    assert "Verification failed" in window.details.toPlainText()
    assert "Someone Else" in window.details.toPlainText()


def test_an_intact_log_verifies(
    qtbot: QtBot, themed_app: QApplication, signed_log: Path, signer: Signer
) -> None:
    window = open_window(qtbot, signer)
    window.open_logs([signed_log])
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=WAIT_MS)
    verify(qtbot, window)
    assert window.verdict.text() == "VERIFIED — 5 record(s) intact"
    assert window.progress.value() == window.progress.maximum()
    assert not any(row.flagged for row in window.model.rows())


def test_exports_csv_and_pdf_of_the_rows_shown(
    qtbot: QtBot,
    themed_app: QApplication,
    signed_log: Path,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tamper(signed_log, 5)
    window = open_window(qtbot, signer)
    window.open_logs([signed_log])
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=WAIT_MS)
    verify(qtbot, window)
    window.outcome.setCurrentIndex(window.outcome.findData("captured"))

    csv_path = tmp_path / "sessions.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(csv_path), ""))
    click(qtbot, window.csv_button)
    with open(csv_path, encoding="utf-8", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 3
    assert {row["outcome"] for row in exported} == {"captured"}
    flagged = [row for row in exported if row["verification"].startswith("TAMPERED")]
    assert [row["line"] for row in flagged] == ["5"]
    assert all(len(row["record_hash"]) == 64 for row in exported)

    pdf_path = tmp_path / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(pdf_path), ""))
    click(qtbot, window.pdf_button)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert b"ScanGate session report" in data  # the document title (info dictionary)
    assert "PDF report exported" in window.notice.title.text()


def test_a_bad_file_and_a_torn_line_are_reported_not_raised(
    qtbot: QtBot, themed_app: QApplication, signed_log: Path, signer: Signer, tmp_path: Path
) -> None:
    with open(signed_log, "ab") as handle:
        handle.write(b'{"schema_version": "scangate.session-rec')  # a crash in the middle of an append
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xff\xfe not a log at all\n{]\n")
    missing = tmp_path / "missing.jsonl"
    window = open_window(qtbot, signer)
    window.open_logs([signed_log, garbage, missing])
    qtbot.waitUntil(lambda: not window.jobs.busy and window.model.rowCount() == 8, timeout=WAIT_MS)
    assert window.notice.isVisible()
    unreadable = [row for row in window.model.rows() if not row.readable]
    assert len(unreadable) == 3
    assert all(row.flagged for row in unreadable)
    window.outcome.setCurrentIndex(window.outcome.findData("unreadable"))
    assert window.proxy.rowCount() == 3

    verify(qtbot, window)
    assert window.verdict.text().startswith("NOT INTACT")
    torn = next(row for row in window.model.rows() if row.log == signed_log and not row.readable)
    assert torn.verification.startswith("TORN")
    window.show_details(torn)
    assert "interrupted write" in window.details.toPlainText()


def test_without_a_key_it_says_how_to_get_one_and_accepts_a_key_file(
    qtbot: QtBot,
    themed_app: QApplication,
    signed_log: Path,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = open_window(qtbot, None)
    window.open_logs([signed_log])
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=WAIT_MS)
    click(qtbot, window.verify_button)
    assert "No trusted rig key" in window.notice.title.text()
    assert "scangate keys show --pem" in window.notice.text.text()

    pem = tmp_path / "rig-public.pem"
    pem.write_text(public_key_pem(signer.public_key), encoding="ascii")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *_a, **_k: ([str(pem)], ""))
    click(qtbot, window.key_button)
    verify(qtbot, window)
    assert window.verdict.text() == "VERIFIED — 5 record(s) intact"


def test_an_edited_record_with_wrong_field_types_is_shown_and_exported_not_raised(
    qtbot: QtBot, themed_app: QApplication, tmp_path: Path
) -> None:
    edited = {
        "record_id": "rec-edited",
        "rig_id": "rig-7",
        "sequence": 1,
        "outcome": "captured",
        "performer": {"display_name": "Ana Lima"},
        "reason_codes": 5,
        "capture_types_requested": [{"not": "a code"}],
        "identification": "face",
        "consent": {"consent_id": "c-1", "version": 2, "capture_types_permitted": 7},
        "confirmation": {"decision": "confirmed", "capture_types": [1, {"x": 2}]},
        "gate_events": [1, {"action": "unlock", "capture_types": 3}],
        "captured_files": "frame.png",
    }
    log = tmp_path / "sessions.jsonl"
    log.write_text(json.dumps(edited) + "\n", encoding="utf-8")
    window = open_window(qtbot, None)
    window.open_logs([log])
    qtbot.waitUntil(lambda: not window.jobs.busy and window.model.rowCount() == 1, timeout=WAIT_MS)
    row = window.model.rows()[0]
    assert row.readable

    window.show_details(row)
    shown = window.details.toPlainText()
    assert "Ana Lima" in shown
    assert "c-1 v2" in shown

    window.export_pdf(tmp_path / "report.pdf")
    assert "PDF report exported" in window.notice.title.text()
    window.export_csv(tmp_path / "sessions.csv")
    assert "CSV exported" in window.notice.title.text()


def test_a_line_nested_too_deeply_for_json_is_an_unreadable_row(tmp_path: Path) -> None:
    log = tmp_path / "sessions.jsonl"
    log.write_text("[" * 100_000 + "\n", encoding="ascii")
    loaded = load_log(log)
    assert loaded.error is None
    assert [(row.readable, row.problems) for row in loaded.rows] == [(False, ("not a JSON record",))]
