"""Real agent session records (agent.records) uploaded to the real registry, checkpoint verified back."""

from __future__ import annotations

import json
from pathlib import Path

from agent.records.checkpoint import load_checkpoint
from agent.records.log import RecordLog
from agent.signing import object_hash_hex
from agent.wire import SessionRecordReceipt
from tests.records.factories import captured_draft, refused_draft
from tests.registry.conftest import RIG, Registry


def test_rig_log_records_are_accepted_and_the_checkpoint_verifies(registry: Registry, tmp_path: Path) -> None:
    with RecordLog.open(tmp_path / "sessions.jsonl", registry.rig_signer, RIG) as log:
        records = [log.append(captured_draft(0)), log.append(refused_draft(1)), log.append(captured_draft(2))]
    receipts = []
    for record in records:
        response = registry.post("/v1/session-records", json=record)
        assert response.status_code == 200, response.text
        receipts.append(SessionRecordReceipt.model_validate(response.json()))
    assert [r.intake.value for r in receipts] == ["stored"] * 3
    last = receipts[-1].checkpoint
    assert (last.first_sequence, last.sequence, last.record_hash) == (1, 3, object_hash_hex(records[-1]))
    saved = tmp_path / "receipt.json"
    saved.write_text(
        json.dumps(registry.post("/v1/session-records", json=records[-1]).json()), encoding="utf-8"
    )
    assert load_checkpoint(saved, registry.trusted_keys()) == last
