"""Signed records are read exactly as docs/records.md defines them: no coercion, no defaults.

Each case appends one validly signed, correctly chained record that breaks one rule of the
format, and checks that ``scangate verify`` names that record and that member as a
``malformed_record`` problem (exit status 1), never a traceback and never "intact".
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.cli.main import main
from agent.records.chain import ChainChecker, ChainIssue, _HashBook
from agent.records.keys import RigKey, public_key_pem
from agent.records.linecheck import check_line
from agent.signing import canonical_json, object_hash_hex
from agent.wire.session_records import Checkpoint, SessionRecordEnvelope

Change = Callable[[dict[str, Any]], None]


def _parent_and_key(path: str) -> tuple[list[str], str]:
    *parents, last = path.split(".")
    return parents, last


def _walk(record: dict[str, Any], parents: list[str]) -> Any:
    value: Any = record
    for step in parents:
        value = value[int(step)] if isinstance(value, list) else value[step]
    return value


def drop(path: str) -> Change:
    def change(record: dict[str, Any]) -> None:
        parents, key = _parent_and_key(path)
        del _walk(record, parents)[key]

    return change


def put(path: str, value: Any) -> Change:
    def change(record: dict[str, Any]) -> None:
        parents, key = _parent_and_key(path)
        _walk(record, parents)[key] = value

    return change


def as_version_2(record: dict[str, Any]) -> None:
    """The record as a version 2 writer would have written it (no v3 members)."""
    record["schema_version"] = "scangate.session-record/2"
    del record["key_rotation"]
    if record["consent"] is not None:
        del record["consent"]["destroy_by"]
    for entry in record["captured_files"]:
        del entry["content_credentials"]


def as_version_1(record: dict[str, Any]) -> None:
    """The record as a version 1 writer would have written it (no v2 or v3 members)."""
    as_version_2(record)
    record["schema_version"] = "scangate.session-record/1"
    del record["registry_clock"]
    del record["consent"]["source"], record["consent"]["status_confirmed_at"]
    for entry in record["captured_files"]:
        del entry["capture_type"], entry["flag_reason"]


def _append_signed(log: Path, rig_key: RigKey, *changes: Change) -> int:
    """Append a re-signed copy of the last record, chained after it, with ``changes``; its sequence."""
    lines = log.read_bytes().splitlines()
    last = json.loads(lines[-1])
    record = copy.deepcopy(last)
    record.update(
        sequence=last["sequence"] + 1, previous_hash=object_hash_hex(last), record_id=str(uuid.uuid4())
    )
    del record["signature"]
    for change in changes:
        change(record)
    lines.append(canonical_json(rig_key.signer.sign_into(record)))
    log.write_bytes(b"\n".join(lines) + b"\n")
    return int(record["sequence"])


def _verify(log: Path, rig_key: RigKey, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    pem = log.parent / "rig-public.pem"
    pem.write_text(public_key_pem(rig_key.public_key))
    capsys.readouterr()
    status = main(["verify", str(log), "--key", str(pem), "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, json.loads(captured.out)


def clock(**changes: Any) -> dict[str, Any]:
    """A registry_clock member as the writer fills it (seconds rounded to 3 decimals)."""
    return {
        "offset_s": 2.125,
        "uncertainty_s": 0.004,
        "rtt_s": 0.008,
        "measured_at": "2025-03-01T09:00:03.000Z",
        "source": "registry",
        "registry_key_id": "ed25519:" + "1" * 32,
        "age_s": 0,
        **changes,
    }


CREDENTIALS = {
    "status": "embedded",
    "manifest_label": "urn:c2pa:58235897-4bc8-4343-bcc3-ef7dc6c8e3c6",
    "file": "S00001_CAM00.CR3",
    "file_sha256": "e" * 64,
    "consent_assertion": True,
    "reason": None,
}

LOOSE_RECORDS: list[tuple[str, list[Change], str]] = [
    ("missing technician", [drop("technician")], "technician"),
    ("missing record_id", [drop("record_id")], "record_id"),
    ("missing nested member", [drop("performer.minor")], "performer.minor"),
    ("missing liveness", [drop("identification.liveness")], "identification.liveness"),
    ("missing log_recovery", [drop("log_recovery")], "log_recovery"),
    ("boolean as a string", [put("performer.minor", "false")], "performer.minor"),
    (
        "capture flag as a string",
        [put("captured_files.0.within_unlock_window", "true")],
        "captured_files.0.within_unlock_window",
    ),
    ("integer as a string", [put("consent.version", "5")], "consent.version"),
    ("size as a string", [put("captured_files.0.size_bytes", "5")], "captured_files.0.size_bytes"),
    ("no such date", [put("written_at", "2025-02-30T09:00:00.000Z")], "written_at"),
    ("no such hour", [put("confirmation.at", "2025-03-01T24:00:00.000Z")], "confirmation.at"),
    ("distance with 5 decimals", [put("identification.distance", 0.12345)], "identification.distance"),
    ("margin with 5 decimals", [put("identification.margin", 0.14215)], "identification.margin"),
    (
        "clock offset with 4 decimals",
        [put("registry_clock", clock(offset_s=2.1255))],
        "registry_clock.offset_s",
    ),
    (
        "clock age missing",
        [put("registry_clock", {k: v for k, v in clock().items() if k != "age_s"})],
        "registry_clock.age_s",
    ),
    ("destroy_by not a real date", [put("consent.destroy_by", "2030-02-30")], "consent.destroy_by"),
    ("destroy_by missing from version 3", [drop("consent.destroy_by")], "consent.destroy_by"),
    (
        "version 2 with a version 3 member",
        [as_version_2, put("consent.destroy_by", "2030-01-01")],
        "consent.destroy_by",
    ),
    (
        "version 2 with content credentials",
        [as_version_2, put("captured_files.0.content_credentials", CREDENTIALS)],
        "captured_files.0.content_credentials",
    ),
    (
        "content credentials missing from version 3",
        [drop("captured_files.0.content_credentials")],
        "captured_files.0.content_credentials",
    ),
    (
        "content credentials status unknown to the format",
        [put("captured_files.0.content_credentials", {**CREDENTIALS, "status": "maybe"})],
        "captured_files.0.content_credentials.status",
    ),
    ("version 1 missing technician", [as_version_1, drop("technician")], "technician"),
    ("version 1 boolean as a string", [as_version_1, put("performer.minor", "false")], "performer.minor"),
    ("version 1 no such date", [as_version_1, put("ended_at", "2025-04-31T09:05:01.000Z")], "ended_at"),
    (
        "version 1 missing quarantined",
        [as_version_1, drop("captured_files.0.quarantined")],
        "captured_files.0.quarantined",
    ),
]


@pytest.mark.parametrize(("changes", "member"), [pytest.param(c, m, id=name) for name, c, m in LOOSE_RECORDS])
def test_a_signed_record_looser_than_the_format_is_named_with_its_member(
    written_log: Path, rig_key: RigKey, capsys: pytest.CaptureFixture[str], changes: list[Change], member: str
) -> None:
    sequence = _append_signed(written_log, rig_key, *changes)
    status, verdict = _verify(written_log, rig_key, capsys)
    assert status == 1 and verdict["intact"] is False
    assert [(p["code"], p["line"], p["sequence"]) for p in verdict["problems"]] == [
        ("malformed_record", 13, sequence)
    ]
    message = verdict["problems"][0]["message"]
    assert f"record {sequence}" in message and member in message


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param([as_version_1], id="version 1"),
        pytest.param([as_version_2], id="version 2"),
        pytest.param([put("consent.destroy_by", "2031-06-30")], id="destroy_by date"),
        pytest.param([put("registry_clock", clock())], id="registry clock"),
        pytest.param([put("identification.distance", 0)], id="distance 0"),
    ],
)
def test_a_record_that_follows_its_format_verifies(
    written_log: Path, rig_key: RigKey, capsys: pytest.CaptureFixture[str], changes: list[Change]
) -> None:
    _append_signed(written_log, rig_key, *changes)
    status, verdict = _verify(written_log, rig_key, capsys)
    assert (status, verdict["problems"]) == (0, [])


def test_distances_written_with_float_noise_are_stored_with_four_decimals(
    written_log: Path, rig_key: RigKey, capsys: pytest.CaptureFixture[str]
) -> None:
    # the factories give distances like 0.3187 + 3/1000 = 0.32170000000000004: the writer rounds them
    distances = [
        json.loads(line)["identification"]["distance"] for line in written_log.read_bytes().splitlines()
    ]
    assert all(distance == round(distance, 4) for distance in distances)
    assert _verify(written_log, rig_key, capsys)[0] == 0


# -- the same sequence number, far apart -----------------------------------------------------------


def _chain_issues(
    lines: list[bytes], rig_key: RigKey, window: int
) -> list[tuple[str, int | None, int | None]]:
    issues: list[ChainIssue] = []
    checker = ChainChecker(issues.append, window=window)
    for number, data in enumerate(lines, start=1):
        result = check_line(number, data, True, {rig_key.key_id: rig_key.public_key})
        assert result.placed
        checker.add(result)
    checker.finish()
    return [(issue.code, issue.line, issue.sequence) for issue in issues]


def test_a_second_signed_record_for_a_sequence_is_a_conflict_however_far_away(
    written_log: Path, rig_key: RigKey
) -> None:
    lines = written_log.read_bytes().splitlines()
    fork = rig_key.signer.sign_into({**json.loads(lines[1]), "outcome_detail": "second history"})
    # the window of full entries is 4 records; the fork comes 10 records after the original
    assert _chain_issues([*lines, canonical_json(fork)], rig_key, window=4) == [("conflicting_record", 13, 2)]


def test_a_byte_identical_repeat_far_away_is_a_duplicate(written_log: Path, rig_key: RigKey) -> None:
    lines = written_log.read_bytes().splitlines()
    assert _chain_issues([*lines, lines[1]], rig_key, window=4) == [("duplicated_record", 13, 2)]


def test_a_record_moved_far_away_is_checked_against_its_parent_beyond_the_window(
    written_log: Path, rig_key: RigKey
) -> None:
    """Record 3, re-signed with another previous_hash and moved to the end: its link is checked however far."""
    lines = written_log.read_bytes().splitlines()
    moved = rig_key.signer.sign_into({**json.loads(lines[2]), "previous_hash": "ab" * 32})
    damaged = [*lines[:2], *lines[3:], canonical_json(moved)]
    expected = [("reordered_records", 12, 3), ("broken_chain", 12, 3), ("broken_chain", 3, 4)]
    assert _chain_issues(damaged, rig_key, window=65536) == expected
    assert _chain_issues(damaged, rig_key, window=4) == expected


def test_the_hash_book_keeps_every_sequence_through_gaps_and_far_jumps() -> None:
    book = _HashBook()
    sequences = [1, 2, 3, 10, 9, 5_000_000, 5_000_001, 4, 2**53 - 1, 11]
    for sequence in sequences:
        book.put(sequence, sequence.to_bytes(32, "big"), authentic=sequence != 9)
    for sequence in sequences:
        assert book.get(sequence) == (sequence.to_bytes(32, "big"), sequence != 9)
    for absent in (0, 5, 8, 12, 4_999_999, 5_000_002, 2**53 - 2):
        assert book.get(absent) is None


# -- sequence numbers start at 1 everywhere ----------------------------------------------------------


def _checkpoint(sequence: int) -> dict[str, Any]:
    return {
        "rig_id": "stage4-facs-booth",
        "first_sequence": sequence,
        "sequence": sequence,
        "record_hash": "a" * 64,
        "records_held": 1,
        "issued_at": "2025-03-01T12:00:00Z",
    }


def test_sequence_numbers_start_at_1_in_every_model_that_carries_one(rig_key: RigKey) -> None:
    assert Checkpoint.sign(_checkpoint(1), rig_key.signer).sequence == 1
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Checkpoint.sign(_checkpoint(0), rig_key.signer)
    envelope = {
        "schema_version": "scangate.session-record/2",
        "rig_id": "stage4-facs-booth",
        "sequence": 0,
        "previous_hash": None,
        "signature": rig_key.signer.sign({"a": 1}).model_dump(),
    }
    with pytest.raises(ValidationError) as raised:
        SessionRecordEnvelope.model_validate(envelope)
    assert {str(error["loc"][0]) for error in raised.value.errors()} == {"sequence", "previous_hash"}
