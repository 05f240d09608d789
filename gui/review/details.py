"""One record's details as HTML for the review window's detail pane (no Qt here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from agent.records.credentials_view import credentials_summary, describe_credentials
from agent.records.liveness_evidence import liveness_flag
from agent.records.record_view import nested
from agent.session.snapshot import reason_text
from gui.presenters import OUTCOME_LABELS, liveness_step_label
from gui.review.rows import VERIFIED, SessionRow, as_list, types_text

_STYLE = """
<style>
td { padding: 2px 14px 2px 0; vertical-align: top; }
td.k { color: #9aa6b2; }
.ok { color: #3ccf7b; font-weight: 700; }
.bad { color: #ff8a80; font-weight: 700; }
.warn { color: #ffc83d; font-weight: 700; }
.mono { font-family: 'DejaVu Sans Mono'; font-size: 12px; color: #c9d3dd; }
</style>
"""
_SECTION = "margin-top: 14px; margin-bottom: 4px; color: #9aa6b2; font-size: 11px; font-weight: 800;"
_TITLE = "margin: 0; font-size: 20px; font-weight: 800;"


def _table(pairs: Sequence[tuple[str, object]]) -> str:
    cells = "".join(
        f"<tr><td class='k'>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
        for k, v in pairs
        if v not in (None, "")
    )
    return f"<table>{cells}</table>"


def _section(title: str, body: str) -> str:
    return f"<p style='{_SECTION}'>{escape(title.upper())}</p>{body}"


def verification_html(row: SessionRow) -> str:
    """The verification line of a row."""
    if row.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in row.problems)
        return f"<p class='bad'>Verification failed</p><ul>{items}</ul>"
    if row.verification == VERIFIED:
        return "<p class='ok'>Verified: signed by a trusted rig key and in its place in the hash chain.</p>"
    return "<p>Not verified yet: press <b>Verify all</b>.</p>"


def record_html(row: SessionRow, record: Mapping[str, Any] | None) -> str:
    """Everything a production manager needs to know about one session record."""
    if record is None or not row.readable:
        problem = "; ".join(row.problems) or "the line could not be read"
        return (
            f"{_STYLE}<p style='{_TITLE}'>Unreadable line {row.line}</p><p>{escape(str(row.log))}</p>"
            f"<p class='bad'>{escape(problem)}</p>"
            "<p>This line is not a complete session record. A torn last line comes from an interrupted"
            " write (a crash or power cut); anything else means the file was edited. Keep the file as it"
            " is and verify it with <b>scangate verify</b>.</p>"
        )
    outcome = OUTCOME_LABELS.get(str(record.get("outcome")), str(record.get("outcome")))
    parts = [
        _STYLE,
        f"<p style='{_TITLE}'>{escape(outcome)} · {escape(row.performer)}</p>",
        f"<p>{escape(row.production)} · rig {escape(row.rig)} · record #{row.sequence}</p>",
        _section("Verification", verification_html(row)),
    ]
    codes = as_list(record.get("reason_codes"))
    if codes:
        reasons = "".join(
            f"<li>{escape(reason_text(str(c)))} <span class='mono'>({escape(str(c))})</span></li>"
            for c in codes
        )
        parts.append(_section("Why", f"<ul>{reasons}</ul>"))
    if record.get("outcome_detail"):
        parts.append(f"<p>{escape(str(record['outcome_detail']))}</p>")
    parts.append(
        _section(
            "Session",
            _table(
                [
                    ("Started", record.get("started_at")),
                    ("Ended", record.get("ended_at")),
                    (
                        "Technician",
                        nested(record, "technician", "name") or nested(record, "technician", "technician_id"),
                    ),
                    ("Requested", types_text(record.get("capture_types_requested"))),
                    ("Record id", record.get("record_id")),
                ]
            ),
        )
    )
    ident = record.get("identification") or {}
    if isinstance(ident, Mapping) and ident:
        parts.append(
            _section(
                "Identification",
                _table(
                    [
                        ("Performer id", nested(record, "performer", "performer_id")),
                        ("Method", ident.get("method")),
                        ("Distance", ident.get("distance")),
                        ("Margin", ident.get("margin")),
                        ("Frames voted", ident.get("frames_voted")),
                        ("Witness", ident.get("witness_technician_id")),
                    ]
                ),
            )
        )
    liveness = _liveness_html(record)
    if liveness:
        parts.append(_section("Liveness", liveness))
    consent = record.get("consent")
    if isinstance(consent, Mapping):
        overdue = (
            f"<p class='warn'>Warning: {escape(row.past_destroy_by.message())}.</p>"
            if row.past_destroy_by is not None
            else ""
        )
        parts.append(
            _section(
                "Consent",
                overdue
                + _table(
                    [
                        ("Consent", f"{consent.get('consent_id')} v{consent.get('version')}"),
                        ("Permits", types_text(consent.get("capture_types_permitted"))),
                        ("Valid until", consent.get("valid_until")),
                        ("Destroy by", consent.get("destroy_by")),
                        ("Registry key", consent.get("registry_key_id")),
                    ]
                ),
            )
        )
    confirmation = record.get("confirmation")
    if isinstance(confirmation, Mapping):
        guardian = confirmation.get("guardian_co_confirmed")
        parts.append(
            _section(
                "Performer's answer",
                _table(
                    [
                        ("Decision", confirmation.get("decision")),
                        (
                            "Confirmed",
                            types_text(confirmation.get("capture_types"))
                            if confirmation.get("capture_types")
                            else "—",
                        ),
                        ("At", confirmation.get("at")),
                        ("Stopped at", confirmation.get("stopped_at")),
                        (
                            "Guardian",
                            None
                            if guardian is None
                            else ("co-confirmed" if guardian else "did not co-confirm"),
                        ),
                    ]
                ),
            )
        )
    parts.append(_section("Gate events", _events_html(as_list(record.get("gate_events")))))
    files = as_list(record.get("captured_files"))
    parts.append(_section("Captured files", _files_html(files)))
    if summary := credentials_summary(files).text("the"):
        parts.append(f"<p>{escape(summary)}</p>")
    parts.append(
        _section(
            "Evidence",
            f"<p class='mono'>record hash {escape(row.record_hash)}<br>"
            f"signed by {escape(str(nested(record, 'signature', 'key_id')))}<br>"
            f"previous {escape(str(record.get('previous_hash')))}<br>"
            f"{escape(str(row.log))}, line {row.line}</p>",
        )
    )
    return "".join(parts)


def _liveness_html(record: Mapping[str, Any]) -> str:
    """How liveness was established: a warning when it is not evidence, then the steps and their numbers."""
    flag = liveness_flag(record)
    warning = f"<p class='warn'>Warning: {escape(flag.message)}.</p>" if flag else ""
    liveness = nested(record, "identification", "liveness")
    if not isinstance(liveness, Mapping):
        return warning
    passed = liveness.get("passed")
    summary = _table(
        [
            ("Method", liveness.get("method")),
            ("Result", "—" if passed is None else ("passed" if passed is True else "failed")),
            ("Attempt", liveness.get("attempt")),
            ("Completed", liveness.get("completed_at")),
            ("Model", liveness.get("model")),
        ]
    )
    steps = "".join(
        f"<tr><td>{escape(liveness_step_label(str(step.get('step'))))}</td>"
        f"<td class='{'ok' if step.get('passed') is True else 'bad'}'>"
        f"{'done' if step.get('passed') is True else 'not done'}</td>"
        f"<td>{escape(str(step.get('reason') or ''))}</td>"
        f"<td class='mono'>{escape(_evidence_text(step.get('evidence')))}</td></tr>"
        for step in as_list(liveness.get("steps"))
        if isinstance(step, Mapping)
    )
    return warning + summary + (f"<table>{steps}</table>" if steps else "")


def _evidence_text(evidence: Any) -> str:
    if not isinstance(evidence, Mapping):
        return ""
    return ", ".join(f"{key} {value}" for key, value in sorted(evidence.items()))


def _events_html(events: Sequence[Any]) -> str:
    if not events:
        return "<p>The gate was never unlocked.</p>"
    rows = "".join(
        f"<tr><td>{escape(str(e.get('at')))}</td><td><b>{escape(str(e.get('action')).upper())}</b></td>"
        f"<td>{escape(reason_text(str(e.get('reason'))))}</td>"
        f"<td>{escape(types_text(e.get('capture_types')) if e.get('capture_types') else '')}</td></tr>"
        for e in events
        if isinstance(e, Mapping)
    )
    return f"<table>{rows}</table>"


def _file_verdict(captured: Mapping[str, Any]) -> str:
    """'' for a clean capture; otherwise why the gate refused or flagged it, in red."""
    reason = captured.get("flag_reason")
    if not reason and captured.get("within_unlock_window") is True:
        return ""
    text = str(reason or "outside the unlock window")
    moved = " (quarantined)" if captured.get("quarantined") is True else ""
    return f"<span class=bad>{escape(text)}{escape(moved)}</span>"


def _credentials_cell(captured: Mapping[str, Any]) -> str:
    """Whether the file's Content Credentials were written (red for a consented file without)."""
    text, fine = describe_credentials(captured)
    return escape(text) if fine else f"<span class=bad>{escape(text)}</span>"


def _files_html(files: Sequence[Any]) -> str:
    if not files:
        return "<p>None.</p>"
    rows = "".join(
        f"<tr><td>{escape(str(f.get('name')))}</td><td class='mono'>{escape(str(f.get('sha256'))[:16]) + '…' if f.get('sha256') else 'not read'}</td>"
        f"<td>{escape(str(f.get('capture_type') or ''))}</td><td>{_file_verdict(f)}</td>"
        f"<td>{_credentials_cell(f)}</td></tr>"
        for f in files
        if isinstance(f, Mapping)
    )
    return f"<table>{rows}</table>"
