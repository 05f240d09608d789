"""``scangate keys rotate`` against the real registry server on loopback, end to end.

The rig's old key signs records 1..S (S: the rotation record), the registry learns the new
key from that record and refuses any later record signed by the old key; ``scangate verify``
flags the same record. A rotation stopped between any two steps is finished by the next run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keyring
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from agent.cli.main import main
from agent.config import ScanGateConfig, load_config
from agent.records.errors import KeyRotationError
from agent.records.key_rotation import STEPS, rotate_key, rotation_draft
from agent.records.key_store import FileKeyStore, RigKeyStore, open_key_store, private_key_pem
from agent.records.keys import load_key_from, public_key_pem
from agent.records.log import RecordLog, read_records
from agent.records.recorder import SessionRecorder, http_uploader_from_settings
from agent.signing import Signer, canonical_json, key_id_for, object_hash_hex, public_key_to_b64
from registry.db import RigKeyRow
from tests.records.factories import draft_for
from tests.records.keyring_backends import MemoryKeyring
from tests.registry.conftest import RIG, Registry
from tests.registry.records import resigned

TOKEN_ENV = "TEST_ROTATION_RIG_TOKEN"


class CrashError(Exception):
    """Stands for the process dying between two steps."""


@pytest.fixture
def rig(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ScanGateConfig, Path, Ed25519PrivateKey]:
    """A rig configured for the registry, with a key file registered as its (only current) key."""
    monkeypatch.setenv(TOKEN_ENV, registry.seeded.rig_token)
    config_path = tmp_path / "rig" / "scangate.toml"
    config_path.parent.mkdir()
    config_path.write_text(
        f'[rig]\nrig_id = "{RIG}"\n\n[records]\nlog_path = "log/session-log.jsonl"\nkey_path = "keys/rig.pem"\n'
        f'outbox_path = "log/outbox.sqlite3"\n\n[records.upload]\nenabled = true\nurl = "{registry.url}"\n'
        f'token_env = "{TOKEN_ENV}"\n'
    )
    config, _ = load_config(config_path)
    old = Ed25519PrivateKey.generate()
    assert FileKeyStore(config.records.key_path).add("current", old)
    response = registry.admin_post(
        f"/v1/admin/rigs/{RIG}/keys",
        json={"public_key": public_key_to_b64(old.public_key()), "retire_others": True},
    )
    assert response.status_code == 201, response.text
    return config, config_path, old


def _upload(registry: Registry, record: dict[str, Any]) -> Any:
    return registry.post("/v1/session-records", json=record)


def _verify(
    capsys: pytest.CaptureFixture[str], log_path: Path, tmp_path: Path, *keys: Ed25519PublicKey
) -> tuple[int, dict[str, Any]]:
    args = ["verify", str(log_path), "--json"]
    for index, key in enumerate(keys):
        pem = tmp_path / f"key-{index}.pem"
        pem.write_text(public_key_pem(key))
        args += ["--key", str(pem)]
    capsys.readouterr()
    status = main(args)
    return status, json.loads(capsys.readouterr().out)


def test_rotate_end_to_end_registry_refuses_the_retired_key_after_the_rotation(
    registry: Registry,
    rig: tuple[ScanGateConfig, Path, Ed25519PrivateKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, config_path, old = rig
    with RecordLog.open(config.records.log_path, Signer(old), RIG) as writer:
        before = [writer.append(draft_for(index)) for index in range(3)]
    for record in before[:2]:  # record 3 is still in the outbox when the key is rotated
        assert _upload(registry, record).status_code == 200

    capsys.readouterr()
    assert (
        main(["keys", "rotate", "--reason", "yearly rotation", "--json", "--config", str(config_path)]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["sequence"] == 4 and result["retired_key_id"] == key_id_for(old.public_key())
    assert result["registry"] == "stored" and result["resumed"] is False
    new_key = load_key_from(open_key_store(config.records, RIG))
    assert new_key.key_id == result["new_key_id"] != result["retired_key_id"]
    assert not FileKeyStore(config.records.key_path).slot_path("next").exists()
    with registry.database.read() as session:
        keys = {
            row.key_id: row.retired_at
            for row in session.scalars(select(RigKeyRow).where(RigKeyRow.rig_id == RIG))
        }
    assert keys[result["retired_key_id"]] is not None and keys[new_key.key_id] is None

    records = list(read_records(config.records.log_path))
    rotation = records[-1]
    assert (
        rotation["outcome"] == "key_rotated" and rotation["signature"]["key_id"] == result["retired_key_id"]
    )
    assert rotation["key_rotation"]["reason"] == "yearly rotation"
    assert _upload(registry, before[2]).status_code == 200, "a record signed before the rotation is accepted"
    assert _upload(registry, rotation).json()["intake"] == "duplicate"

    with SessionRecorder.open(config.records, RIG) as recorder:
        after = recorder.append(draft_for(4))
    assert after["signature"]["key_id"] == new_key.key_id
    assert _upload(registry, after).status_code == 200
    capsys.readouterr()
    assert main(["verify", str(config.records.log_path), "--config", str(config_path)]) == 0, (
        "on the rig, verify trusts its own key and the key it rotated away"
    )

    forged = resigned(Signer(old), after, sequence=6, previous_hash=object_hash_hex(after))
    refused = _upload(registry, forged)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "retired_key" and "record 4" in error["message"]
    assert error["detail"] == {"key_id": result["retired_key_id"], "retired_after_sequence": 4, "sequence": 6}

    with open(config.records.log_path, "ab") as handle:  # someone kept the old key and appended with it
        handle.write(canonical_json(forged) + b"\n")
    status, verdict = _verify(capsys, config.records.log_path, tmp_path, old.public_key(), new_key.public_key)
    assert status == 1 and [(p["code"], p["sequence"]) for p in verdict["problems"]] == [("retired_key", 6)]


def test_the_rotation_route_takes_only_this_rigs_rotation_records_signed_by_its_current_key(
    registry: Registry, rig: tuple[ScanGateConfig, Path, Ed25519PrivateKey], tmp_path: Path
) -> None:
    config, _, old = rig
    new = Ed25519PrivateKey.generate()
    with RecordLog.open(config.records.log_path, Signer(old), RIG) as writer:
        ordinary = writer.append(draft_for(0))
        rotation = writer.append(rotation_draft(key_id_for(old.public_key()), new))
    route = f"/v1/rigs/{RIG}/keys/rotate"
    not_rotation = registry.post(route, json=ordinary)
    assert (
        not_rotation.status_code == 422
        and "not a key-rotation record" in not_rotation.json()["error"]["message"]
    )
    other_rig = registry.post("/v1/rigs/rig-2/keys/rotate", json=rotation)
    assert other_rig.status_code == 403
    stranger = Ed25519PrivateKey.generate()
    unregistered = resigned(
        Signer(stranger),
        rotation,
        key_rotation={**rotation["key_rotation"], "retired_key_id": key_id_for(stranger.public_key())},
    )
    assert registry.post(route, json=unregistered).json()["error"]["code"] == "bad_signature"
    answer = registry.post(route, json=rotation)
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert (receipt["intake"], receipt["retired_after_sequence"], receipt["new_key_id"]) == (
        "stored",
        2,
        key_id_for(new.public_key()),
    )
    assert registry.post(route, json=rotation).json()["intake"] == "duplicate"
    again = resigned(Signer(old), rotation, sequence=3, previous_hash=object_hash_hex(rotation))
    assert registry.post(route, json=again).json()["error"]["code"] == "retired_key"


def _keyring_store(config: ScanGateConfig) -> RigKeyStore:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    store = open_key_store(config.records.model_copy(update={"key_store": "keyring"}), RIG)
    return store


@pytest.mark.parametrize("crash_after", STEPS[:-1])
@pytest.mark.parametrize("kind", ["file", "keyring"])
def test_a_rotation_stopped_between_steps_leaves_capture_locked_and_the_next_run_finishes_it(
    registry: Registry,
    rig: tuple[ScanGateConfig, Path, Ed25519PrivateKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    crash_after: str,
    kind: str,
) -> None:
    config, _, old = rig
    store: RigKeyStore = FileKeyStore(config.records.key_path)
    if kind == "keyring":
        store.discard("current")
        store = _keyring_store(config)
        assert store.add("current", old)
    with RecordLog.open(config.records.log_path, Signer(old), RIG) as writer:
        writer.append(draft_for(0))
    registrar = http_uploader_from_settings(config.records.upload)

    def crash(step: str) -> None:
        if step == crash_after:
            raise CrashError(step)

    with pytest.raises(CrashError):
        rotate_key(config.records, RIG, store, registrar, after_step=crash)
    with pytest.raises(KeyRotationError, match="has not finished"):
        SessionRecorder.open(config.records, RIG, key_store=store)  # capture stays locked
    waiting = store.read("next")
    assert waiting is not None

    result = rotate_key(config.records, RIG, store, registrar)
    registrar.close()
    assert result.resumed and result.new_key_id == key_id_for(waiting.public_key())
    assert store.read("next") is None
    current = store.read("current")
    assert current is not None and private_key_pem(current) == private_key_pem(waiting)
    rotations = [r for r in read_records(config.records.log_path) if r["outcome"] == "key_rotated"]
    assert [r["sequence"] for r in rotations] == [2]
    with SessionRecorder.open(config.records, RIG, key_store=store) as recorder:
        assert recorder.append(draft_for(1))["signature"]["key_id"] == result.new_key_id
    status, verdict = _verify(
        capsys, config.records.log_path, tmp_path, old.public_key(), current.public_key()
    )
    assert (status, verdict["problems"]) == (0, [])
    held = registry.get(f"/v1/rigs/{RIG}/checkpoint").json()
    assert held["sequence"] == 2 and held["record_hash"] == result.record_hash


class _DiesWhileDeleting(MemoryKeyring):
    """A keyring whose process dies after the new key was copied over the old one, before cleanup."""

    dying = True

    def delete_password(self, service: str, username: str) -> None:
        if self.dying:
            raise CrashError("killed while deleting")
        super().delete_password(service, username)


def test_a_keyring_switch_stopped_after_copying_the_new_key_is_finished_by_the_next_run(
    registry: Registry, rig: tuple[ScanGateConfig, Path, Ed25519PrivateKey]
) -> None:
    config, _, old = rig
    FileKeyStore(config.records.key_path).discard("current")
    backend = _DiesWhileDeleting()
    keyring.set_keyring(backend)
    store = open_key_store(config.records.model_copy(update={"key_store": "keyring"}), RIG)
    assert store.add("current", old)
    registrar = http_uploader_from_settings(config.records.upload)
    with pytest.raises(Exception, match="killed while deleting"):
        rotate_key(config.records, RIG, store, registrar)
    backend.dying = False  # the next run's process lives
    result = rotate_key(config.records, RIG, store, registrar)
    registrar.close()
    assert result.resumed and result.sequence == 1 and store.read("next") is None
    current = store.read("current")
    assert current is not None and key_id_for(current.public_key()) == result.new_key_id
