"""SessionRecorder: every session ends in exactly one signed record, even when its draft is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ScanGateError
from agent.records.keys import trusted_keys
from agent.records.recorder import DRAFT_INVALID_REASON, SessionRecorder, http_uploader_from_settings
from agent.records.settings import RecordSettings, RecordUploadSettings
from agent.records.verify import verify_log
from tests.records.conftest import RIG_ID
from tests.records.factories import captured_draft


def test_an_invalid_draft_still_leaves_a_signed_fault_record(tmp_path: Path) -> None:
    settings = RecordSettings(
        log_path=tmp_path / "log.jsonl",
        key_path=tmp_path / "rig.pem",
        outbox_path=tmp_path / "outbox.sqlite3",
    )
    draft = captured_draft(1).model_dump(mode="json")
    draft["reason_codes"] = ["Consent Expired"]  # a builder bug: not a stable code
    draft["captured_files"][0]["sha256"] = "not-a-hash"
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        record = recorder.append(draft)
        assert recorder.outbox.counts().pending == 1
        key = recorder.key
    assert record["outcome"] == "fault" and record["reason_codes"] == [DRAFT_INVALID_REASON]
    assert "reason_codes" in record["outcome_detail"] and "sha256" in record["outcome_detail"]
    kept = {name for name in ("performer", "identification", "consent", "confirmation", "gate_events")}
    assert all(record[name] == draft[name] for name in kept), "valid parts of the draft are kept"
    assert (record["record_id"], record["started_at"], record["ended_at"]) == (
        draft["record_id"],
        draft["started_at"],
        draft["ended_at"],
    )
    assert record["captured_files"] == [], "the invalid part is left out, and said so"
    assert verify_log(settings.log_path, trusted_keys([key.public_key])).intact


def test_a_bad_upload_ca_bundle_stops_the_rig_at_start_naming_the_setting(tmp_path: Path) -> None:
    """The uploader's own CA bundle was only read at the first upload, hours into a shoot."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    settings = RecordUploadSettings(url="https://registry.example:8443", ca_bundle=bundle)
    with pytest.raises(ScanGateError) as caught:
        http_uploader_from_settings(settings)
    assert "records.upload" in str(caught.value.where) and str(bundle) in str(caught.value.where)
    assert "records.upload" in str(caught.value.hint)
    missing = RecordUploadSettings(url="https://registry.example:8443", ca_bundle=tmp_path / "absent.pem")
    with pytest.raises(ScanGateError):
        http_uploader_from_settings(missing)
