"""``scangate keys init``/``show``, ``verify``, ``receipt`` and ``outbox`` through the real CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.cli.main import main
from agent.config import load_config
from agent.records.recorder import SessionRecorder
from agent.signing import object_hash_hex, public_key_to_b64
from agent.wire.session_records import Checkpoint
from tests.records.conftest import RIG_ID, other_signer
from tests.records.factories import draft_for
from tests.records.registry_stub import RegistryStub


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "scangate.toml"
    path.write_text(
        f'[rig]\nrig_id = "{RIG_ID}"\n\n[records]\nlog_path = "log/session-log.jsonl"\n'
        'key_path = "keys/rig.pem"\noutbox_path = "log/outbox.sqlite3"\n\n'
        '[records.upload]\nenabled = true\nurl = "http://127.0.0.1:9"\ntoken_env = "TEST_RIG_TOKEN"\n'
    )
    return path


@pytest.fixture
def rig_log(config_file: Path) -> Path:
    """Six records written by the configured rig."""
    settings = load_config(config_file)[0].records
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        for index in range(6):
            recorder.append(draft_for(index))
    return settings.log_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_keys_init_creates_the_key_once_and_never_replaces_it(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_path = load_config(config_file)[0].records.key_path
    status, text, _ = _run(capsys, "keys", "init", "--config", str(config_file))
    assert status == 0 and f"created a new rig signing key at {key_path}" in text
    assert "key id:                 ed25519:" in text and "PRIVATE" not in text
    before = key_path.read_bytes()
    status, _, err = _run(capsys, "keys", "init", "--config", str(config_file))
    assert status == 2 and "a rig key already exists; it is kept" in err
    assert key_path.read_bytes() == before


def test_keys_show_prints_id_and_public_key_in_each_form(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "keys", "init", "--config", str(config_file))[0] == 0
    status, text, _ = _run(capsys, "keys", "show", "--config", str(config_file))
    assert status == 0
    assert "key id:                 ed25519:" in text and "BEGIN PUBLIC KEY" in text
    assert "PRIVATE" not in text
    status, pem, _ = _run(capsys, "keys", "show", "--pem", "--config", str(config_file))
    public = serialization.load_pem_public_key(pem.encode())
    assert status == 0 and isinstance(public, Ed25519PublicKey)
    status, as_json, _ = _run(capsys, "keys", "show", "--json", "--config", str(config_file))
    info = json.loads(as_json)
    assert info["rig_id"] == RIG_ID and info["key_id"] in text and info["public_key"] in text
    assert _run(capsys, "keys", "show", "--pem", "--json", "--config", str(config_file))[0] == 2


def test_verify_exit_status_is_0_intact_1_problems_2_unusable(
    rig_log: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "rig-public.pem"
    status, out, _ = _run(capsys, "keys", "show", "--pem", "--config", str(config_file))
    pem.write_text(out)

    status, out, _ = _run(capsys, "verify", str(rig_log), "--key", str(pem))
    assert status == 0 and "VERDICT: INTACT" in out

    lines = rig_log.read_bytes().splitlines(keepends=True)
    rig_log.write_bytes(b"".join([*lines[:2], *lines[3:]]))
    status, out, err = _run(capsys, "verify", str(rig_log), "--key", str(pem))
    assert status == 1
    assert "missing_record: record 3 is missing" in out and "VERDICT: NOT INTACT" in out
    assert "not intact" in err

    status, out, _ = _run(capsys, "verify", str(rig_log), "--key", str(pem), "--json")
    verdict = json.loads(out)
    assert status == 1 and verdict["intact"] is False
    assert verdict["problems"] == [
        {"code": "missing_record", "line": 3, "sequence": 3, "message": verdict["problems"][0]["message"]}
    ]

    assert _run(capsys, "verify", str(tmp_path / "absent.jsonl"), "--key", str(pem))[0] == 2
    assert _run(capsys, "verify", str(rig_log), "--key", str(tmp_path / "absent.pem"))[0] == 2
    assert _run(capsys, "verify", str(rig_log), "--key", str(pem), "--checkpoint", str(pem))[0] == 2
    assert _run(capsys, "verify", str(rig_log), "--key", str(pem), "--max-per-kind", "-1")[0] == 2


def test_verify_says_plainly_when_liveness_was_synthetic_or_off(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: the text verdict names demo (synthetic) and switched-off liveness checks as no evidence."""
    settings = load_config(config_file)[0].records
    drafts = [draft_for(index).model_dump(mode="json") for index in range(3)]
    for draft in drafts:
        draft["identification"]["liveness"].update(
            method="synthetic", model="synthetic (demo stand-in camera)"
        )
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        for draft in drafts:
            recorder.append(draft)
    status, out, _ = _run(
        capsys, "verify", str(settings.log_path), "--max-per-kind", "2", "--config", str(config_file)
    )
    assert status == 0 and "VERDICT: INTACT" in out
    assert (
        "record 1 (line 1): liveness was synthetic (demo stand-in camera): not evidence that a live person"
        " was present" in out
    )
    assert "... and 1 more synthetic_liveness (use --json for all)" in out
    assert "Liveness:   3 session(s) with no evidence that a live person was present: 3 synthetic" in out
    status, out, _ = _run(capsys, "verify", str(settings.log_path), "--json", "--config", str(config_file))
    verdict = json.loads(out)
    assert verdict["synthetic_liveness_sessions"] == 3
    assert [n["code"] for n in verdict["notices"]] == ["synthetic_liveness"] * 3


def test_verify_with_the_wrong_key_fails(
    rig_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(
        other_signer().public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    status, out, _ = _run(capsys, "verify", str(rig_log), "--key", str(wrong))
    assert status == 1 and "unknown_key: 6" in out


def test_verify_defaults_to_this_rigs_key_or_asks_for_one(
    rig_log: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "verify", str(rig_log), "--config", str(config_file))
    assert status == 0 and "this rig's own key" in out
    empty_config = tmp_path / "other.toml"
    empty_config.write_text('[records]\nkey_path = "nowhere/rig.pem"\n')
    status, _, err = _run(capsys, "verify", str(rig_log), "--config", str(empty_config))
    assert status == 2 and "no trusted key" in err


def test_receipt_for_the_last_record_and_refusal_for_a_tampered_one(
    rig_log: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "receipt.png"
    status, out, _ = _run(capsys, "receipt", "--config", str(config_file), "--png", str(png))
    assert status == 0 and "Rig:         stage4-facs-booth, record 6" in out and png.stat().st_size > 0
    status, out, err = _run(
        capsys, "receipt", str(rig_log), "--sequence", "2", "--save", "--config", str(config_file)
    )
    assert status == 0 and "record 2" in out
    saved = load_config(config_file)[0].records.receipts_dir / f"receipt-{RIG_ID}-2.png"
    assert saved.is_file() and str(saved) in err
    rig_log.write_bytes(rig_log.read_bytes().replace(b'"Ana Lima"', b'"Someone Else"'))
    status, _, err = _run(capsys, "receipt", str(rig_log), "--sequence", "2", "--config", str(config_file))
    assert status == 1 and "does not verify" in err
    assert _run(capsys, "receipt", str(rig_log), "--sequence", "99", "--config", str(config_file))[0] == 2


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryStub]:
    server = RegistryStub()
    monkeypatch.setenv("TEST_RIG_TOKEN", server.behaviour.token)
    server.up()
    yield server
    server.down()


def test_outbox_shows_state_and_sends(
    rig_log: Path, config_file: Path, stub: RegistryStub, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_text(config_file.read_text().replace("http://127.0.0.1:9", stub.url))
    status, out, _ = _run(capsys, "outbox", "--config", str(config_file))
    assert status == 0 and "6 pending, 0 delivered, 0 rejected" in out
    status, out, _ = _run(capsys, "outbox", "--send", "--json", "--config", str(config_file))
    state = json.loads(out)
    assert status == 0 and (state["pending"], state["delivered"]) == (0, 6)
    assert stub.sequences() == [1, 2, 3, 4, 5, 6]


def test_verify_with_the_registry_checkpoint_and_key_list(
    rig_log: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = other_signer()
    last = json.loads(rig_log.read_bytes().splitlines()[-1])
    checkpoint = Checkpoint.sign(
        {
            "rig_id": RIG_ID,
            "first_sequence": 1,
            "sequence": 6,
            "record_hash": object_hash_hex(last),
            "records_held": 6,
            "issued_at": "2025-03-01T12:00:00Z",
        },
        registry,
    )
    checkpoint_file = tmp_path / "checkpoint.json"
    checkpoint_file.write_text(json.dumps(checkpoint.wire_dict()))
    keys_file = tmp_path / "registry-keys.json"  # as saved from GET /v1/keys (a retired key too)
    keys_file.write_text(
        json.dumps(
            {"keys": [{"public_key": public_key_to_b64(k.public_key)} for k in (registry, other_signer())]}
        )
    )
    args = ["verify", str(rig_log), "--config", str(config_file), "--checkpoint", str(checkpoint_file)]
    status, out, _ = _run(capsys, *args, "--registry-key", str(keys_file))
    assert status == 0 and "the tail matches the registry's checkpoint" in out

    rig_log.write_bytes(b"".join(rig_log.read_bytes().splitlines(keepends=True)[:4]))
    status, out, _ = _run(capsys, *args, "--registry-key", str(keys_file))
    assert status == 1 and "truncated_tail: the log ends at record 4" in out

    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps({"keys": [{"public_key": public_key_to_b64(other_signer().public_key)}]}))
    status, _, err = _run(capsys, *args, "--registry-key", str(stranger))
    assert status == 2 and "registry signature is not valid" in err
