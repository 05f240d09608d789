"""Verification: an intact log verifies, and every kind of tampering is caught and named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.checkpoint import load_checkpoint
from agent.records.errors import CheckpointError, LogUnreadableError
from agent.records.keys import RigKey
from agent.records.log import RecordLog
from agent.records.verify import Verdict, verify_log
from agent.signing import Signer, canonical_json, object_hash_hex
from agent.wire.session_records import Checkpoint
from tests.records.conftest import RIG_ID, other_signer
from tests.records.factories import captured_draft

Trusted = dict[str, Ed25519PublicKey]


def _read(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _write(path: Path, lines: list[bytes], *, final_newline: bool = True) -> None:
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))


def _edit(path: Path, index: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    lines = _read(path)
    lines[index] = canonical_json(change(json.loads(lines[index])))
    _write(path, lines)


def _codes(verdict: Verdict) -> list[tuple[str, int | None, int | None]]:
    return [(str(p.code), p.line, p.sequence) for p in verdict.problems]


def test_intact_log_verifies(written_log: Path, trusted: Trusted) -> None:
    verdict = verify_log(written_log, trusted)
    assert verdict.intact and verdict.problems == []
    assert (verdict.records, verdict.authentic_records, verdict.first_sequence, verdict.last_sequence) == (
        12,
        12,
        1,
        12,
    )
    assert verdict.rig_ids == [RIG_ID]
    assert verdict.last_hash == object_hash_hex(json.loads(_read(written_log)[-1]))


def test_modified_record_is_named(written_log: Path, trusted: Trusted) -> None:
    _edit(
        written_log, 4, lambda r: {**r, "outcome": "declined" if r["outcome"] == "captured" else "captured"}
    )
    assert _codes(verify_log(written_log, trusted)) == [("modified_record", 5, 5)]


def test_modified_captured_file_hash_is_named(written_log: Path, trusted: Trusted) -> None:
    def swap_file_hash(record: dict[str, Any]) -> dict[str, Any]:
        record["captured_files"][0]["sha256"] = "f" * 64
        return record

    _edit(written_log, 0, swap_file_hash)
    assert _codes(verify_log(written_log, trusted)) == [("modified_record", 1, 1)]


def test_malformed_signature_is_named_bad_signature(written_log: Path, trusted: Trusted) -> None:
    _edit(written_log, 2, lambda r: {**r, "signature": {**r["signature"], "value": "not-a-signature"}})
    _edit(written_log, 6, lambda r: {k: v for k, v in r.items() if k != "signature"})
    assert _codes(verify_log(written_log, trusted)) == [("bad_signature", 3, 3), ("bad_signature", 7, 7)]


def test_non_canonical_base64_spelling_of_a_valid_signature_is_caught(
    written_log: Path, trusted: Trusted
) -> None:
    def respell(record: dict[str, Any]) -> dict[str, Any]:
        value = record["signature"]["value"]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        # the last of 86 characters carries 2 unused bits: flip them, the bytes stay the same
        last = alphabet[alphabet.index(value[-1]) ^ 1]
        return {**record, "signature": {**record["signature"], "value": value[:-1] + last}}

    _edit(written_log, 3, respell)
    assert _codes(verify_log(written_log, trusted)) == [("bad_signature", 4, 4)]


def test_record_signed_by_an_impostor_key_is_named_unknown_key(written_log: Path, trusted: Trusted) -> None:
    impostor = other_signer()
    _edit(written_log, 7, lambda r: impostor.sign_into({**r, "outcome_detail": "forged"}))
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("unknown_key", 8, 8)]
    assert impostor.key_id in verdict.problems[0].message


def test_verification_with_the_wrong_key_fails(written_log: Path) -> None:
    wrong = other_signer()
    verdict = verify_log(written_log, {wrong.key_id: wrong.public_key})
    assert not verdict.intact
    assert verdict.problem_counts == {"unknown_key": 12}
    assert verdict.authentic_records == 0


def test_missing_record_is_named(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    _write(written_log, lines[:4] + lines[6:])
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("missing_record", 5, 5)]
    assert "records 5–6 are missing" in verdict.problems[0].message


def test_missing_first_records_are_named(written_log: Path, trusted: Trusted) -> None:
    _write(written_log, _read(written_log)[2:])
    assert _codes(verify_log(written_log, trusted)) == [("missing_record", 1, 1)]


def test_reordered_records_are_named(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    lines[4], lines[5] = lines[5], lines[4]
    _write(written_log, lines)
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("reordered_records", 6, 5)]
    assert "record 5 comes after record 6" in verdict.problems[0].message


def test_record_moved_far_away_is_named_reordered(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    moved = lines.pop(1)
    _write(written_log, [*lines, moved])
    assert _codes(verify_log(written_log, trusted)) == [("reordered_records", 12, 2)]


def test_duplicated_record_is_named(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    _write(written_log, [*lines[:5], lines[4], *lines[5:]])
    assert _codes(verify_log(written_log, trusted)) == [("duplicated_record", 6, 5)]


def test_history_rewritten_with_the_rig_key_breaks_the_chain(
    written_log: Path, trusted: Trusted, rig_key: RigKey
) -> None:
    # whoever holds the key can re-sign a changed record, but the next record still chains to the original
    _edit(written_log, 4, lambda r: rig_key.signer.sign_into({**r, "outcome_detail": "rewritten"}))
    assert _codes(verify_log(written_log, trusted)) == [("broken_chain", 6, 6)]


def test_two_different_signed_records_with_one_sequence_are_named(
    written_log: Path, trusted: Trusted, rig_key: RigKey
) -> None:
    lines = _read(written_log)
    fork = rig_key.signer.sign_into({**json.loads(lines[11]), "outcome_detail": "second version"})
    _write(written_log, [*lines, canonical_json(fork)])
    assert _codes(verify_log(written_log, trusted)) == [("conflicting_record", 13, 12)]


def test_first_record_must_start_the_chain(written_log: Path, trusted: Trusted, rig_key: RigKey) -> None:
    _edit(written_log, 0, lambda r: rig_key.signer.sign_into({**r, "previous_hash": "1" * 64}))
    codes = [code for code, _, _ in _codes(verify_log(written_log, trusted))]
    assert codes == ["broken_chain", "broken_chain"]  # record 1 starts nothing; record 2 no longer follows it


def test_torn_last_line_is_named_and_the_prefix_still_verifies(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    _write(written_log, [*lines, lines[0][:300]], final_newline=False)
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("torn_line", 13, None)]
    assert "interrupted" in verdict.problems[0].message
    assert verdict.authentic_records == 12 and verdict.last_sequence == 12


def test_torn_line_in_the_middle_is_named(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    lines[3] = lines[3][:100]
    _write(written_log, lines)
    assert _codes(verify_log(written_log, trusted)) == [("torn_line", 4, None), ("missing_record", 5, 4)]


def test_reformatted_line_is_named_but_still_authentic(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    lines[2] = json.dumps(json.loads(lines[2]), indent=None, sort_keys=False).encode()
    lines[5] = lines[5][:-1] + b',"outcome":"captured"}'  # duplicate key: a parser differential trap
    _write(written_log, lines)
    verdict = verify_log(written_log, trusted)
    codes = _codes(verdict)
    assert ("malformed_record", 3, 3) in codes
    assert any(code == "malformed_record" and line == 6 for code, line, _ in codes)
    assert verdict.problem_counts.get("broken_chain") is None


def test_validly_signed_record_that_breaks_the_schema_is_named(
    written_log: Path, trusted: Trusted, rig_key: RigKey
) -> None:
    lines = _read(written_log)
    bad = rig_key.signer.sign_into(
        {
            **json.loads(lines[11]),
            "sequence": 13,
            "previous_hash": object_hash_hex(json.loads(lines[11])),
            "outcome": "teleported",
        }
    )
    _write(written_log, [*lines, canonical_json(bad)])
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("malformed_record", 13, 13)]
    assert "outcome" in verdict.problems[0].message
    assert verify_log(written_log, trusted, check_schema=False).intact


# -- registry checkpoints -----------------------------------------------------------------------------


@pytest.fixture
def registry_signer() -> Signer:
    return other_signer()


def _checkpoint_file(tmp_path: Path, signer: Signer, log: Path, sequence: int, rig_id: str = RIG_ID) -> Path:
    record = json.loads(_read(log)[sequence - 1])
    checkpoint = Checkpoint.sign(
        {
            "rig_id": rig_id,
            "first_sequence": 1,
            "sequence": sequence,
            "record_hash": object_hash_hex(record),
            "records_held": sequence,
            "issued_at": "2025-03-01T12:00:00Z",
        },
        signer,
    )
    path = tmp_path / f"checkpoint-{sequence}.json"
    path.write_text(json.dumps({"wire_version": "scangate.registry/1", "checkpoint": checkpoint.wire_dict()}))
    return path


def test_checkpoint_matching_the_log_verifies(
    tmp_path: Path, written_log: Path, trusted: Trusted, registry_signer: Signer
) -> None:
    path = _checkpoint_file(tmp_path, registry_signer, written_log, 12)
    checkpoint = load_checkpoint(path, {registry_signer.key_id: registry_signer.public_key})
    verdict = verify_log(written_log, trusted, checkpoint=checkpoint)
    assert verdict.intact
    assert verdict.checkpoint is not None and verdict.checkpoint["sequence"] == 12


def test_truncated_tail_is_caught_only_with_a_checkpoint(
    tmp_path: Path, written_log: Path, trusted: Trusted, registry_signer: Signer
) -> None:
    checkpoint = load_checkpoint(
        _checkpoint_file(tmp_path, registry_signer, written_log, 12),
        {registry_signer.key_id: registry_signer.public_key},
    )
    _write(written_log, _read(written_log)[:9])
    assert verify_log(written_log, trusted).intact, "a hash chain alone cannot see a cut tail"
    verdict = verify_log(written_log, trusted, checkpoint=checkpoint)
    assert _codes(verdict) == [("truncated_tail", None, 10)]
    assert "records 10–12 were removed from the end" in verdict.problems[0].message


def test_log_rewritten_after_upload_contradicts_the_checkpoint(
    tmp_path: Path, written_log: Path, trusted: Trusted, registry_signer: Signer, rig_key: RigKey
) -> None:
    checkpoint = load_checkpoint(
        _checkpoint_file(tmp_path, registry_signer, written_log, 12),
        {registry_signer.key_id: registry_signer.public_key},
    )
    _edit(written_log, 11, lambda r: rig_key.signer.sign_into({**r, "outcome_detail": "after upload"}))
    assert _codes(verify_log(written_log, trusted, checkpoint=checkpoint)) == [
        ("checkpoint_mismatch", None, 12)
    ]


def test_checkpoint_must_be_signed_by_the_given_registry_key(
    tmp_path: Path, written_log: Path, registry_signer: Signer
) -> None:
    path = _checkpoint_file(tmp_path, registry_signer, written_log, 12)
    stranger = other_signer()
    with pytest.raises(CheckpointError, match="not valid"):
        load_checkpoint(path, {stranger.key_id: stranger.public_key})
    data = json.loads(path.read_text())
    data["checkpoint"]["sequence"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="not valid"):
        load_checkpoint(path, {registry_signer.key_id: registry_signer.public_key})


def test_an_unparseable_checkpoint_is_a_clear_error(tmp_path: Path, registry_signer: Signer) -> None:
    keys = {registry_signer.key_id: registry_signer.public_key}
    path = tmp_path / "checkpoint.json"
    for text in ("{", "[" * 200_000 + "]" * 200_000):
        path.write_text(text)
        with pytest.raises(CheckpointError, match="not JSON"):
            load_checkpoint(path, keys)


# -- quarantine files ----------------------------------------------------------------------------------


def test_quarantine_file_without_a_recovery_record_is_a_problem(written_log: Path, trusted: Trusted) -> None:
    stray = written_log.with_name(written_log.name + ".torn-20250301T090000.000000Z")
    stray.write_bytes(b'{"half')
    assert _codes(verify_log(written_log, trusted)) == [("torn_line", None, None)]


def test_quarantine_file_changed_after_recovery_is_a_problem(
    open_log: Callable[[], Any], written_log: Path, trusted: Trusted
) -> None:
    written_log.write_bytes(written_log.read_bytes() + b'{"torn')
    writer = open_log()
    quarantine = writer.recovered.quarantine_path
    writer.close()
    quarantine.write_bytes(b'{"something else')
    assert _codes(verify_log(written_log, trusted)) == [("quarantine_mismatch", 13, 13)]


def test_unreadable_quarantine_file_is_a_problem_not_a_crash(
    open_log: Callable[[], Any], written_log: Path, trusted: Trusted
) -> None:
    written_log.write_bytes(written_log.read_bytes() + b'{"torn')
    writer = open_log()
    quarantine = writer.recovered.quarantine_path
    writer.close()
    quarantine.unlink()
    quarantine.mkdir()  # anything that cannot be read back as the torn bytes
    verdict = verify_log(written_log, trusted)
    assert _codes(verdict) == [("quarantine_mismatch", 13, 13)]
    assert "cannot be read" in verdict.problems[0].message


# -- the verifier itself ---------------------------------------------------------------------------------


def test_parallel_verification_gives_the_same_verdict(written_log: Path, trusted: Trusted) -> None:
    lines = _read(written_log)
    lines[4], lines[5] = lines[5], lines[4]
    lines[8] = lines[8].replace(b'"captured"', b'"declined"', 1)
    _write(written_log, [*lines, lines[2], lines[0][:50]], final_newline=False)
    serial = verify_log(written_log, trusted, jobs=1)
    parallel = verify_log(written_log, trusted, jobs=2)
    assert serial.problems == parallel.problems and len(serial.problems) == 4
    assert serial.to_dict() == parallel.to_dict()


def test_missing_file_is_unreadable(tmp_path: Path, trusted: Trusted) -> None:
    with pytest.raises(LogUnreadableError):
        verify_log(tmp_path / "absent.jsonl", trusted)


def test_empty_log_is_intact_with_no_records(tmp_path: Path, trusted: Trusted) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    verdict = verify_log(empty, trusted)
    assert verdict.intact and verdict.records == 0


def test_a_record_with_flagged_captures_is_named_in_the_verdict(tmp_path: Path, rig_key: RigKey) -> None:
    """Finding 9.1: `verify --json` showed a session with refused captures like a clean one."""
    draft = captured_draft(files=2).model_dump(mode="json")
    draft["captured_files"][1].update(
        quarantined=True, flag_reason="reported SHA-256 does not match the file"
    )
    draft["reason_codes"] = ["capture_flagged"]
    log_path = tmp_path / "sessions.jsonl"
    with RecordLog.open(log_path, rig_key.signer, RIG_ID) as writer:
        writer.append(draft)
    verdict = verify_log(log_path, {rig_key.key_id: rig_key.signer.public_key})
    assert verdict.intact
    assert verdict.flagged_sessions == 1
    assert [n.code for n in verdict.notices] == ["capture_flagged"]
    assert verdict.to_dict()["flagged_sessions"] == 1


def _liveness_log(tmp_path: Path, rig_key: RigKey) -> Path:
    """Five sessions: a real challenge, a synthetic one, liveness off, face with no liveness, badge + PIN."""
    real = captured_draft(0).model_dump(mode="json")
    synthetic = captured_draft(1).model_dump(mode="json")
    synthetic["identification"]["liveness"].update(
        method="synthetic", model="synthetic (demo stand-in camera)"
    )
    off = captured_draft(2).model_dump(mode="json")
    off["identification"]["liveness"] = {
        "method": "off",
        "passed": None,
        "completed_at": None,
        "attempt": 0,
        "steps": [],
        "model": "",
        "earlier_attempts": [],
    }
    unrecorded = captured_draft(3).model_dump(mode="json")
    unrecorded["identification"]["liveness"] = None
    badge = captured_draft(4).model_dump(mode="json")
    badge["identification"].update(
        method="fallback_badge_pin",
        distance=None,
        margin=None,
        frames_voted=None,
        liveness=None,
        witness_technician_id="tech-07",
    )
    log_path = tmp_path / "sessions.jsonl"
    with RecordLog.open(log_path, rig_key.signer, RIG_ID) as writer:
        for draft in (real, synthetic, off, unrecorded, badge):
            writer.append(draft)
    return log_path


def test_records_whose_liveness_is_not_evidence_are_named_in_the_verdict(
    tmp_path: Path, rig_key: RigKey
) -> None:
    """Issue 10: a synthetic (demo) or switched-off liveness check read like a real one in `verify`."""
    log_path = _liveness_log(tmp_path, rig_key)
    verdict = verify_log(log_path, {rig_key.key_id: rig_key.signer.public_key})
    assert verdict.intact
    assert [(n.code, n.sequence) for n in verdict.notices] == [
        ("synthetic_liveness", 2),
        ("liveness_off", 3),
        ("liveness_not_recorded", 4),
    ]
    assert "liveness was synthetic (demo stand-in camera): not evidence that a live person was present" in (
        verdict.notices[0].message
    )
    assert "switched off in the rig's configuration" in verdict.notices[1].message
    assert (verdict.synthetic_liveness_sessions, verdict.liveness_off_sessions) == (1, 1)
    assert verdict.liveness_not_recorded_sessions == 1
    data = verdict.to_dict()
    assert data["synthetic_liveness_sessions"] == 1 and data["liveness_off_sessions"] == 1
    assert data["liveness_not_recorded_sessions"] == 1


def test_liveness_is_not_vouched_for_by_a_record_that_fails_its_signature(
    tmp_path: Path, rig_key: RigKey
) -> None:
    """Like flagged captures, only authentic records count: a forged one is a problem, not a notice."""
    log_path = _liveness_log(tmp_path, rig_key)
    _edit(log_path, 1, lambda r: {**r, "outcome_detail": "edited"})
    verdict = verify_log(log_path, {rig_key.key_id: rig_key.signer.public_key})
    assert [n.code for n in verdict.notices] == ["liveness_off", "liveness_not_recorded"]
    assert verdict.synthetic_liveness_sessions == 0
