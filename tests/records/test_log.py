"""The append-only log writer: chain fields, durability, locking, torn-tail recovery."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.errors import (
    LogCorruptError,
    LogLockedError,
    LogUnreadableError,
    LogWriteError,
    RecordValidationError,
)
from agent.records.keys import RigKey
from agent.records.log import RECOVERY_REASON, RecordLog, quarantine_files, read_last_record
from agent.records.model import GENESIS_HASH, SessionRecord
from agent.records.verify import verify_log
from agent.signing import canonical_json, object_hash_hex, verify_embedded
from tests.records.conftest import RIG_ID
from tests.records.factories import captured_draft, refused_draft

OpenLog = Callable[[], RecordLog]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_records_are_signed_numbered_and_chained(open_log: OpenLog, log_path: Path, rig_key: RigKey) -> None:
    writer = open_log()
    first = writer.append(captured_draft(0))
    second = writer.append(refused_draft(1))
    writer.close()
    assert (first["sequence"], first["previous_hash"]) == (1, GENESIS_HASH)
    assert (second["sequence"], second["previous_hash"]) == (2, object_hash_hex(first))
    raw = log_path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2
    for line, record in zip(raw.splitlines(), (first, second), strict=True):
        assert line == canonical_json(record), "each line is the record's canonical JSON"
        verify_embedded(json.loads(line), {rig_key.key_id: rig_key.public_key})
        parsed = SessionRecord.model_validate_json(line)
        assert parsed.rig_id == RIG_ID and parsed.signature.key_id == rig_key.key_id


def test_reopening_continues_the_chain(open_log: OpenLog, log_path: Path) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    last = writer.append(captured_draft(1))
    writer.close()
    reopened = open_log()
    assert (reopened.last_sequence, reopened.last_hash) == (2, object_hash_hex(last))
    assert reopened.append(refused_draft(2))["previous_hash"] == object_hash_hex(last)
    assert reopened.recovered is None


def test_invalid_draft_appends_nothing(open_log: OpenLog, log_path: Path) -> None:
    writer = open_log()
    with pytest.raises(RecordValidationError, match="reason code"):
        writer.append(
            {
                "outcome": "refused",
                "started_at": "2025-03-01T09:00:00.000Z",
                "ended_at": "2025-03-01T09:00:01.000Z",
            }
        )
    with pytest.raises(RecordValidationError):
        writer.append({**captured_draft(0).model_dump(), "surprise": 1})
    assert log_path.read_bytes() == b""
    assert writer.append(refused_draft(0))["sequence"] == 1


def test_an_append_validates_the_signed_record_once_without_building_a_model(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored reader already checks everything; building a SessionRecord too cost ~100 µs per append."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("SessionRecord.model_validate was called")

    monkeypatch.setattr(SessionRecord, "model_validate", refuse)
    assert open_log().append(refused_draft(0))["sequence"] == 1


def test_a_second_writer_in_another_process_is_refused(
    open_log: OpenLog, log_path: Path, rig_key: RigKey
) -> None:
    open_log()
    code = (
        "import sys; from pathlib import Path\n"
        "from agent.records.keys import load_rig_key\n"
        "from agent.records.log import RecordLog\n"
        "from agent.records.errors import LogLockedError\n"
        "key = load_rig_key(Path(sys.argv[2]))\n"
        "try:\n"
        "    RecordLog.open(Path(sys.argv[1]), key.signer, 'x')\n"
        "except LogLockedError as exc:\n"
        "    print(exc.message()); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(log_path), str(rig_key.path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "another process is writing this session log" in result.stdout


def test_a_second_writer_in_the_same_process_is_refused(open_log: OpenLog) -> None:
    open_log()
    with pytest.raises(LogLockedError):
        open_log()


def test_torn_tail_is_moved_aside_recorded_and_reported(
    open_log: OpenLog, log_path: Path, trusted: dict[str, Ed25519PublicKey]
) -> None:
    writer = open_log()
    for index in range(3):
        writer.append(captured_draft(index))
    writer.close()
    intact = log_path.read_bytes()
    torn = canonical_json(captured_draft(3).model_dump(mode="json"))[:700]
    log_path.write_bytes(intact + torn)

    reopened = open_log()
    report = reopened.recovered
    assert report is not None
    assert report.torn_bytes == len(torn) and report.torn_sha256 == hashlib.sha256(torn).hexdigest()
    assert report.quarantine_path.read_bytes() == torn, "torn bytes kept, unchanged"
    assert quarantine_files(log_path) == [report.quarantine_path], "no pending file left"
    assert log_path.read_bytes().startswith(intact)
    note = _lines(log_path)[-1]
    assert note["sequence"] == 4 and note["outcome"] == "fault"
    assert note["reason_codes"] == [RECOVERY_REASON]
    assert note["log_recovery"] == {
        "quarantine_file": report.quarantine_path.name,
        "torn_bytes": len(torn),
        "torn_sha256": report.torn_sha256,
        "detected_at": note["started_at"],
    }
    reopened.close()

    verdict = verify_log(log_path, trusted)
    assert verdict.intact, verdict.problems
    assert [notice.code for notice in verdict.notices] == ["torn_tail_recovered"]
    assert "hash matches" in verdict.notices[0].message


def test_complete_but_unparseable_last_line_is_treated_as_torn(open_log: OpenLog, log_path: Path) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    writer.close()
    with open(log_path, "ab") as handle:
        handle.write(b"\x00\x00\x00 garbage after a crash\n")
    reopened = open_log()
    assert reopened.recovered is not None
    assert reopened.recovered.quarantine_path.read_bytes() == b"\x00\x00\x00 garbage after a crash\n"
    assert reopened.last_sequence == 2


def test_a_last_line_nested_too_deeply_for_the_parser_is_treated_as_torn(
    open_log: OpenLog, log_path: Path
) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    writer.close()
    deep = b"[" * 200_000 + b"]" * 200_000 + b"\n"
    with open(log_path, "ab") as handle:
        handle.write(deep)
    with pytest.raises(LogUnreadableError, match="nested too deeply"):
        read_last_record(log_path)
    reopened = open_log()
    assert reopened.recovered is not None
    assert reopened.recovered.quarantine_path.read_bytes() == deep
    assert reopened.last_sequence == 2


def test_recovery_interrupted_before_the_note_is_finished_on_next_open(
    open_log: OpenLog, log_path: Path, trusted: dict[str, Ed25519PublicKey]
) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    writer.close()
    # state after a crash between "truncate the log" and "append the recovery record"
    pending = log_path.with_name(log_path.name + ".torn-20250301T090000.000000Z.pending")
    pending.write_bytes(b'{"half a rec')
    reopened = open_log()
    assert reopened.recovered is not None and reopened.recovered.recovery_sequence == 2
    final = log_path.with_name(log_path.name + ".torn-20250301T090000.000000Z")
    assert final.read_bytes() == b'{"half a rec' and not pending.exists()
    reopened.close()
    assert verify_log(log_path, trusted).intact


def test_recovery_interrupted_after_the_note_only_renames(open_log: OpenLog, log_path: Path) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    writer.close()
    log_path.write_bytes(log_path.read_bytes() + b'{"torn')
    first = open_log()
    assert first.recovered is not None
    final = first.recovered.quarantine_path
    first.close()
    final.rename(final.with_name(final.name + ".pending"))  # as if the rename had not happened
    second = open_log()
    assert second.recovered is not None and second.recovered.recovery_sequence == 2, "no second note"
    assert second.last_sequence == 2 and final.exists()


def test_a_modified_last_record_stops_the_writer(open_log: OpenLog, log_path: Path) -> None:
    writer = open_log()
    writer.append(captured_draft(0))
    writer.close()
    log_path.write_bytes(log_path.read_bytes().replace(b'"captured"', b'"declined"', 1))
    with pytest.raises(LogCorruptError, match="was modified"):
        open_log()


def test_another_rigs_log_is_refused(written_log: Path, rig_key: RigKey) -> None:
    with pytest.raises(LogCorruptError, match="belongs to rig"):
        RecordLog.open(written_log, rig_key.signer, "another-rig")


def test_read_last_record_skips_a_torn_tail(written_log: Path) -> None:
    last = read_last_record(written_log)
    assert last is not None and last["sequence"] == 12
    written_log.write_bytes(written_log.read_bytes() + b'{"sequence": 13, "tor')
    again = read_last_record(written_log)
    assert again is not None and again["sequence"] == 12


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], check=False, capture_output=True).returncode == 0


def test_a_log_made_immutable_mid_session_is_written_once_writable_again(
    open_log: OpenLog, log_path: Path
) -> None:
    """Finding 9.4: the writer closed itself for good ('cannot undo a partial append')."""
    writer = open_log()
    writer.append(refused_draft())
    if not _chattr("+i", log_path):
        pytest.skip("chattr +i is not available here (needs root and a file system with the flag)")
    try:
        draft = captured_draft()
        with pytest.raises(LogWriteError):
            writer.append(draft)
        with pytest.raises(LogWriteError):
            writer.append(draft)  # still immutable: refused again, the writer stays usable
    finally:
        _chattr("-i", log_path)
    stored = writer.append(draft)
    assert stored["sequence"] == 2
    again = writer.append(draft)
    assert again == stored, "the same draft (same record id) is never appended twice"
    assert verify_log(log_path, {writer._signer.key_id: writer._signer.public_key}).intact
