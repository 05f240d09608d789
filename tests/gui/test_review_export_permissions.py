"""Review exports name performers and technicians: they are written owner-only, like the log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gui.review.export import ReportContext, write_csv, write_pdf
from gui.review.rows import row_from_record

RECORD = {"outcome": "captured", "reason_codes": [], "captured_files": [], "performer": {"display_name": "A"}}

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> object:
    previous = os.umask(0o022)
    yield None
    os.umask(previous)


def test_the_csv_export_is_readable_by_its_owner_only(tmp_path: Path, open_umask: object) -> None:
    path = tmp_path / "sessions.csv"
    write_csv(path, [row_from_record(Path("sessions.jsonl"), 1, 0, RECORD)])
    assert _mode(path) == 0o600


def test_the_pdf_report_is_readable_by_its_owner_only(tmp_path: Path, open_umask: object) -> None:
    path = tmp_path / "report.pdf"
    context = ReportContext(verdicts={}, key_source="test", filter_text="", total_rows=1)
    write_pdf(path, [row_from_record(Path("sessions.jsonl"), 1, 0, RECORD)], context)
    assert path.read_bytes().startswith(b"%PDF") and _mode(path) == 0o600


def test_an_existing_export_written_world_readable_is_tightened(tmp_path: Path, open_umask: object) -> None:
    path = tmp_path / "sessions.csv"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    write_csv(path, [row_from_record(Path("sessions.jsonl"), 1, 0, RECORD)])
    assert _mode(path) == 0o600
