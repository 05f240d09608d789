"""``verify`` names records whose captured files belong to a consent past its destroy-by date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.cli.main import main
from agent.config import load_config
from agent.records.log import RecordLog
from agent.records.recorder import SessionRecorder
from agent.records.retention import past_destroy_by, retained_captures
from agent.records.verify import verify_log
from tests.records.conftest import RIG_ID
from tests.records.factories import captured_draft, refused_draft

DUE = "2026-01-31"


def drafts() -> list[dict[str, Any]]:
    """1: clean captures, consent due 2026-01-31; 2: due in 2031; 3: due 2026-01-31 but every capture
    flagged; 4: refused (no consent)."""
    due = captured_draft(0, files=2).model_dump(mode="json")
    due["consent"]["destroy_by"] = DUE
    later = captured_draft(1, files=2).model_dump(mode="json")
    later["consent"]["destroy_by"] = "2031-01-01"
    flagged = captured_draft(2, files=2).model_dump(mode="json")
    flagged["consent"]["destroy_by"] = DUE
    for entry in flagged["captured_files"]:
        entry.update(within_unlock_window=False, quarantined=True, flag_reason="outside_unlock_window")
    flagged["reason_codes"] = ["capture_flagged"]
    flagged["outcome"] = "refused"
    return [due, later, flagged, refused_draft(3).model_dump(mode="json")]


@pytest.fixture
def retention_log(log_path: Path, open_log: Any) -> Path:
    writer: RecordLog = open_log()
    for draft in drafts():
        writer.append(draft)
    writer.close()
    return log_path


def test_only_clean_captures_past_the_day_count() -> None:
    due, later, flagged, refused = drafts()
    assert retained_captures(due) is not None and retained_captures(due).clean_files == 2  # type: ignore[union-attr]
    assert past_destroy_by(due, date(2026, 1, 31)) is None  # the day itself is still allowed
    assert past_destroy_by(due, date(2026, 2, 1)) is not None
    assert past_destroy_by(later, date(2026, 2, 1)) is None
    assert retained_captures(flagged) is None and retained_captures(refused) is None
    assert retained_captures({"consent": {"consent_id": "c", "destroy_by": "2026-02-30"}}) is None


def test_verify_adds_a_notice_and_keeps_the_log_intact(
    retention_log: Path, trusted: dict[str, Ed25519PublicKey]
) -> None:
    on_the_day = verify_log(retention_log, trusted, as_of=date(2026, 1, 31))
    assert on_the_day.intact and on_the_day.past_destroy_by_sessions == 0
    verdict = verify_log(retention_log, trusted, as_of=date(2026, 2, 1))
    assert verdict.intact
    assert verdict.past_destroy_by_sessions == 1 and verdict.as_of == "2026-02-01"
    notices = [n for n in verdict.notices if n.code == "past_destroy_by"]
    assert [(n.line, n.sequence) for n in notices] == [(1, 1)]
    assert "consent-0000" in notices[0].message and DUE in notices[0].message
    assert "2 captured file(s)" in notices[0].message


def test_verify_cli_reports_it_with_as_of_and_exit_status_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "scangate.toml"
    config_file.write_text(
        f'[rig]\nrig_id = "{RIG_ID}"\n\n[records]\nlog_path = "log/session-log.jsonl"\nkey_path = "keys/rig.pem"\n'
    )
    settings = load_config(config_file)[0].records
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        for draft in drafts():
            recorder.append(draft)
    args = ["verify", str(settings.log_path), "--config", str(config_file), "--as-of", "2026-02-01"]
    status = main(args)
    out = capsys.readouterr().out
    assert status == 0 and "VERDICT: INTACT" in out
    assert "Retention:  1 session(s) with captured files whose consent's destroy-by date is over" in out
    assert f"destroy-by date {DUE} is over" in out
    status = main([*args, "--json"])
    verdict = json.loads(capsys.readouterr().out)
    assert status == 0 and verdict["past_destroy_by_sessions"] == 1 and verdict["as_of"] == "2026-02-01"
    assert main([*args[:-1], "31/01/2026"]) == 2  # not a date: usage error
