"""Exports on a disk that fills up: an error, the earlier export untouched, no partial file.

A production manager who overwrites last week's CSV on a full disk must not be left
with a shorter file that looks like a complete export (a CSV cut at a row boundary
does), nor lose last week's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.review.export import ExportError, ReportContext, write_csv, write_pdf
from gui.review.rows import SessionRow, row_from_record
from tests.full_disk import fill_leaving


def _rows(count: int) -> list[SessionRow]:
    record = {
        "outcome": "captured",
        "reason_codes": [],
        "captured_files": [],
        "performer": {"display_name": "Performer with a long name " * 4},
    }
    return [row_from_record(Path("sessions.jsonl"), line, 0, record) for line in range(1, count + 1)]


@pytest.mark.parametrize("kind", ["csv", "pdf"])
def test_an_export_that_fills_the_disk_fails_and_leaves_the_earlier_export_as_it_was(
    kind: str, small_disk: Path
) -> None:
    path = small_disk / f"sessions.{kind}"
    context = ReportContext(verdicts={}, key_source="test", filter_text="", total_rows=3)
    if kind == "csv":
        write_csv(path, _rows(3))
    else:
        write_pdf(path, _rows(3), context)
    earlier = path.read_bytes()
    fill_leaving(small_disk, 16 * 1024)

    with pytest.raises(ExportError, match="No space left on device") as raised:
        if kind == "csv":
            write_csv(path, _rows(500))  # ~100 kB
        else:
            write_pdf(path, _rows(200), context)  # ~60 kB
    assert str(path) in raised.value.message()
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in small_disk.iterdir()) == sorted([path.name, "filler"])
