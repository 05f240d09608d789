"""Key-rotation records and the chain rule: a retired key signs nothing after its rotation record.

Records carry only rig time, so ``scangate verify`` decides retirement by position: the
rotation record at sequence S is signed by the old key, which may sign sequences ≤ S only;
later records are the new key's. Keys are given with ``--key`` (both of them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli.main import main
from agent.records.errors import RecordValidationError
from agent.records.key_rotation import rotation_draft
from agent.records.keys import public_key_pem
from agent.records.log import RecordLog
from agent.records.model import parse_record, validate_draft
from agent.signing import Signer, canonical_json, key_id_for
from tests.records.conftest import RIG_ID
from tests.records.factories import draft_for


def _pem(path: Path, signer: Signer) -> Path:
    path.write_text(public_key_pem(signer.public_key))
    return path


def _rotated_log(log_path: Path, old: Signer, new: Key) -> None:
    """Records 1-3 by the old key, the rotation record 4 (old key), records 5-6 by the new key."""
    with RecordLog.open(log_path, old, RIG_ID) as writer:
        for index in range(3):
            writer.append(draft_for(index))
        rotation = writer.append(rotation_draft(old.key_id, new.private_key, reason="scheduled rotation"))
        assert rotation["sequence"] == 4
    with RecordLog.open(log_path, new, RIG_ID) as writer:
        writer.append(draft_for(4))
        writer.append(draft_for(5))


def _verify(capsys: pytest.CaptureFixture[str], log_path: Path, *keys: Path) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    args = ["verify", str(log_path), "--json"]
    for key in keys:
        args += ["--key", str(key)]
    status = main(args)
    return status, json.loads(capsys.readouterr().out)


class Key(Signer):
    """A signer that also hands out its private key (the new key a rotation names)."""

    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        super().__init__(self.private_key)


@pytest.fixture
def signers() -> tuple[Key, Key]:
    return Key(), Key()


def test_a_rotated_log_verifies_with_both_keys_and_notes_the_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signers: tuple[Key, Key]
) -> None:
    old, new = signers
    log_path = tmp_path / "log.jsonl"
    _rotated_log(log_path, old, new)
    status, verdict = _verify(
        capsys, log_path, _pem(tmp_path / "old.pem", old), _pem(tmp_path / "new.pem", new)
    )
    assert (status, verdict["problems"]) == (0, [])
    rotations = [n for n in verdict["notices"] if n["code"] == "key_rotated"]
    assert [(n["sequence"], old.key_id in n["message"], new.key_id in n["message"]) for n in rotations] == [
        (4, True, True)
    ]


def test_a_record_after_the_rotation_signed_by_the_retired_key_is_a_retired_key_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signers: tuple[Key, Key]
) -> None:
    old, new = signers
    log_path = tmp_path / "log.jsonl"
    _rotated_log(log_path, old, new)
    with RecordLog.open(log_path, old, RIG_ID) as writer:  # someone who kept the old key goes on signing
        writer.append(draft_for(6))
    status, verdict = _verify(
        capsys, log_path, _pem(tmp_path / "old.pem", old), _pem(tmp_path / "new.pem", new)
    )
    assert status == 1
    assert [(p["code"], p["sequence"]) for p in verdict["problems"]] == [("retired_key", 7)]
    message = verdict["problems"][0]["message"]
    assert old.key_id in message and "record 4" in message
    assert verdict["problem_counts"] == {"retired_key": 1}


def test_records_up_to_the_rotation_are_the_old_keys_whatever_file_order_they_arrive_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signers: tuple[Key, Key]
) -> None:
    """A retired key's record placed before its rotation record in the file is caught too."""
    old, new = signers
    log_path = tmp_path / "log.jsonl"
    _rotated_log(log_path, old, new)
    with RecordLog.open(log_path, old, RIG_ID) as writer:
        writer.append(draft_for(6))
    lines = log_path.read_bytes().splitlines()
    lines.insert(0, lines.pop())  # the forged record 7 first
    log_path.write_bytes(b"\n".join(lines) + b"\n")
    _, verdict = _verify(capsys, log_path, _pem(tmp_path / "old.pem", old), _pem(tmp_path / "new.pem", new))
    assert ("retired_key", 7) in [(p["code"], p["sequence"]) for p in verdict["problems"]]


def test_a_rotation_record_must_be_signed_by_the_key_it_retires(signers: tuple[Key, Key]) -> None:
    old, new = signers
    impostor = Signer(Ed25519PrivateKey.generate())
    body = rotation_draft(old.key_id, new.private_key).model_dump(mode="json")
    body.update(
        schema_version="scangate.session-record/3",
        rig_id=RIG_ID,
        sequence=1,
        previous_hash="0" * 64,
        written_at=body["started_at"],
        agent_version="test",
    )
    with pytest.raises(RecordValidationError, match="only the retired key can hand over"):
        parse_record(json.loads(canonical_json(impostor.sign_into(dict(body)))))
    parse_record(json.loads(canonical_json(old.sign_into(dict(body)))))


def test_the_writer_refuses_a_rotation_it_cannot_sign_as_the_retired_key(
    tmp_path: Path, signers: tuple[Key, Key]
) -> None:
    """The log checks each signed record with the stored reader before writing it (here: its model rule)."""
    old, new = signers
    log_path = tmp_path / "log.jsonl"
    impostor = Signer(Ed25519PrivateKey.generate())
    with (
        RecordLog.open(log_path, impostor, RIG_ID) as writer,
        pytest.raises(RecordValidationError, match="only the retired key can hand over"),
    ):
        writer.append(rotation_draft(old.key_id, new.private_key))
    assert log_path.read_bytes() == b""


def test_a_rotation_must_name_its_new_key_by_that_keys_id(signers: tuple[Key, Key]) -> None:
    old, new = signers
    draft = rotation_draft(old.key_id, new.private_key).model_dump(mode="json")
    draft["key_rotation"]["new_key_id"] = key_id_for(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(RecordValidationError, match="is not the key id of new_public_key"):
        validate_draft(draft)
    session = draft_for(0).model_dump(mode="json")
    session["key_rotation"] = rotation_draft(old.key_id, new.private_key).model_dump(mode="json")[
        "key_rotation"
    ]
    with pytest.raises(RecordValidationError, match="key_rotation is set exactly on a 'key_rotated' record"):
        validate_draft(session)
