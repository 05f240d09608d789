"""Exports of the review window: the shown sessions as CSV, and a PDF report (no Qt here)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from agent import __version__
from agent.durable import replace_file_atomically
from agent.errors import ScanGateError
from agent.private_files import PRIVATE_FILE_MODE
from agent.records.liveness_evidence import liveness_flag
from agent.records.verify import Verdict
from agent.session.snapshot import reason_text
from gui.presenters import OUTCOME_LABELS
from gui.review.rows import (
    SessionRow,
    as_list,
    as_mapping,
    log_level_problems,
    read_record,
    verdict_summary,
)

CSV_COLUMNS = (
    "started_at",
    "ended_at",
    "performer",
    "production",
    "rig",
    "outcome",
    "capture_types",
    "files",
    "flagged_files",
    "liveness",
    "past_destroy_by",
    "verification",
    "problems",
    "reasons",
    "technician",
    "sequence",
    "record_id",
    "record_hash",
    "log",
    "line",
)
MAX_DETAILED_RECORDS = 300
"""The PDF details at most this many records (the table lists all shown)."""


class ExportError(ScanGateError):
    """An export file could not be written."""


def write_csv(path: Path, rows: Sequence[SessionRow]) -> int:
    """Write ``rows`` as CSV (UTF-8, header line); returns the number of rows written."""
    try:
        handle = io.StringIO(newline="")
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.started_at.isoformat() if row.started_at else "",
                    row.ended_at.isoformat() if row.ended_at else "",
                    row.performer,
                    row.production,
                    row.rig,
                    row.outcome if row.readable else "unreadable",
                    row.capture_types,
                    row.files,
                    row.flagged_files,
                    row.liveness if row.readable else "",
                    row.past_destroy_by.destroy_by.isoformat() if row.past_destroy_by else "",
                    row.verification,
                    " | ".join(row.problems),
                    row.reasons,
                    row.technician,
                    "" if row.sequence is None else row.sequence,
                    row.record_id,
                    row.record_hash,
                    str(row.log),
                    row.line,
                ]
            )
        _replace(path, handle.getvalue().encode("utf-8"))
    except OSError as exc:
        raise ExportError(
            f"cannot write the CSV file: {exc.strerror or exc}", where=str(path), hint="choose another folder"
        ) from None
    return len(rows)


def _replace(path: Path, data: bytes) -> None:
    """Put a finished export at ``path``: the earlier file stays whole until the new one is complete,
    and a write that fails (a full disk) leaves no partial file that could pass for an export.
    Exports name performers and technicians: owner-only, like the log they come from."""
    replace_file_atomically(path, data, PRIVATE_FILE_MODE)


@dataclass(frozen=True)
class ReportContext:
    """What the PDF report says about where its data came from."""

    verdicts: Mapping[Path, Verdict | None]
    key_source: str
    filter_text: str
    total_rows: int


def _fonts() -> tuple[str, str]:
    """A Unicode TrueType font for names in any Latin script (DejaVu if installed, else reportlab's Vera)."""
    from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415
    from reportlab.pdfbase.ttfonts import TTFont  # noqa: PLC0415

    candidates = [
        (
            "DejaVuSans",
            "DejaVuSans-Bold",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        ),
        ("Vera", "VeraBd", "Vera.ttf", "VeraBd.ttf"),
    ]
    for regular, bold, regular_file, bold_file in candidates:
        try:
            if regular not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(regular, regular_file))
                pdfmetrics.registerFont(TTFont(bold, bold_file))
            return regular, bold
        except Exception:
            continue
    return "Helvetica", "Helvetica-Bold"


def write_pdf(path: Path, rows: Sequence[SessionRow], context: ReportContext) -> int:
    """Write a PDF report: verdicts, summary, the sessions table and per-record details."""
    from reportlab.lib import colors  # noqa: PLC0415 - reportlab only when exporting
    from reportlab.lib.pagesizes import A4, landscape  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import (  # noqa: PLC0415
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Table,
        TableStyle,
    )

    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h1 = ParagraphStyle("h1", fontName=bold, fontSize=20, leading=24, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=bold, fontSize=13, leading=16, spaceBefore=10, spaceAfter=6)
    h3 = ParagraphStyle("h3", fontName=bold, fontSize=10, leading=13, spaceBefore=8, spaceAfter=2)
    ok = ParagraphStyle("ok", parent=body, fontName=bold, textColor=colors.HexColor("#15803d"))
    bad = ParagraphStyle("bad", parent=body, fontName=bold, textColor=colors.HexColor("#b3261e"))

    def p(text: object, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    story: list[Any] = [
        p("ScanGate session report", h1),
        p(
            f"Generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by ScanGate {__version__}."
            f" {len(rows)} of {context.total_rows} session(s) shown ({context.filter_text}).",
            body,
        ),
        p("Verification", h2),
    ]
    for log, verdict in context.verdicts.items():
        if verdict is None:
            story.append(p(f"{log}: not verified (open the review window and press Verify all).", bad))
            continue
        headline, tone = verdict_summary(verdict)
        story.append(p(f"{log}: {headline}", ok if tone == "unlocked" else bad))
        for message in log_level_problems(verdict)[:20]:
            story.append(p(f"• {message}", small))
    story.append(p(f"Trusted keys: {context.key_source}.", small))

    counts = Counter(row.outcome if row.readable else "unreadable" for row in rows)
    summary = ", ".join(f"{OUTCOME_LABELS.get(k, k)}: {v}" for k, v in sorted(counts.items())) or "none"
    flagged = sum(1 for row in rows if row.flagged)
    story += [p("Summary", h2), p(f"Outcomes: {summary}. Records with problems: {flagged}.")]

    header = ["Date", "Performer", "Production", "Rig", "Outcome", "Capture types", "Files", "Verification"]
    header_style = ParagraphStyle("header", parent=small, fontName=bold, textColor=colors.white)
    data: list[list[Any]] = [[p(h, header_style) for h in header]]
    for row in rows:
        data.append(
            [
                p(row.started_at.astimezone().strftime("%Y-%m-%d %H:%M") if row.started_at else "—", small),
                p(row.performer if row.readable else f"line {row.line}", small),
                p(row.production, small),
                p(row.rig, small),
                p(row.outcome_label, small),
                p(row.capture_types, small),
                p(row.files, small),
                p(row.verification, small),
            ]
        )
    table = Table(
        data, repeatRows=1, colWidths=[28 * mm, 42 * mm, 42 * mm, 24 * mm, 22 * mm, 50 * mm, 12 * mm, 50 * mm]
    )
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1e252e")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c9d3dd")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f5f7")]),
    ]
    style += [
        ("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fde2e0"))
        for i, row in enumerate(rows, 1)
        if row.flagged
    ]
    table.setStyle(TableStyle(style))
    story += [p("Sessions", h2), table, PageBreak(), p("Record details", h2)]
    for row in rows[:MAX_DETAILED_RECORDS]:
        story.append(
            KeepTogether(_details(row, read_record(row) if row.readable else None, p, h3, small, bad))
        )
    if len(rows) > MAX_DETAILED_RECORDS:
        story.append(
            p(f"… and {len(rows) - MAX_DETAILED_RECORDS} more records (see the CSV export for all).", body)
        )

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.drawString(15 * mm, 8 * mm, "ScanGate session report")
        canvas.drawRightString(doc.pagesize[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    handle = io.BytesIO()
    try:
        document = SimpleDocTemplate(
            handle,
            pagesize=landscape(A4),
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=14 * mm,
            bottomMargin=14 * mm,
            title="ScanGate session report",
            author=f"ScanGate {__version__}",
        )
        document.build(story, onFirstPage=footer, onLaterPages=footer)
        _replace(path, handle.getvalue())
    except OSError as exc:
        raise ExportError(
            f"cannot write the PDF file: {exc.strerror or exc}", where=str(path), hint="choose another folder"
        ) from None
    return len(rows)


def _details(
    row: SessionRow, record: Mapping[str, Any] | None, p: Any, h3: Any, small: Any, bad: Any
) -> list[Any]:
    title = (
        f"#{row.sequence} · {row.outcome_label} · {row.performer}"
        if row.readable
        else f"Line {row.line}: unreadable"
    )
    parts: list[Any] = [p(title, h3)]
    if row.problems:
        parts.append(p("Problems: " + "; ".join(row.problems), bad))
    if record is None:
        return parts
    ident = as_mapping(record.get("identification"))
    flag = liveness_flag(record)
    consent = as_mapping(record.get("consent"))
    confirmation = as_mapping(record.get("confirmation"))
    answered = ", ".join(str(t) for t in as_list(confirmation.get("capture_types")))
    lines = [
        f"{row.production} · rig {row.rig} · {record.get('started_at')} to {record.get('ended_at')}",
        f"Identification: {ident.get('method', 'none')}"
        + (f", distance {ident.get('distance')}" if ident.get("distance") is not None else ""),
        f"Liveness: {row.liveness}" + (f" — {flag.message}" if flag is not None else ""),
        f"Consent: {consent['consent_id']} v{consent.get('version')}"
        + (f" — {row.past_destroy_by.message()}" if row.past_destroy_by is not None else "")
        if consent.get("consent_id")
        else "Consent: none found",
        f"Answer: {confirmation.get('decision', 'not asked')} {answered}",
        "Reasons: " + ("; ".join(reason_text(str(c)) for c in as_list(record.get("reason_codes"))) or "—"),
        "Gate: "
        + (
            "; ".join(
                f"{e.get('action')} {e.get('at')} ({reason_text(str(e.get('reason')))})"
                for e in as_list(record.get("gate_events"))
                if isinstance(e, Mapping)
            )
            or "never unlocked"
        ),
        f"Files: {len(as_list(record.get('captured_files')))} · record hash {row.record_hash}",
    ]
    parts += [p(line, small) for line in lines]
    return parts
