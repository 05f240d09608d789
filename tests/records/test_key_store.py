"""Where the rig key lives: the OS keyring when a secure one is available, else a 0600 file.

The keyring is driven through keyring's public API (``keyring.set_keyring``) with
:class:`tests.records.keyring_backends.MemoryKeyring`, a real ``KeyringBackend`` kept in
memory; ``test_key_store_secret_service.py`` does the same against a real Secret Service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from keyring.backends import chainer

from agent.cli.main import main
from agent.config import load_config
from agent.records.errors import KeyFileError, KeyRotationError, KeyStoreError
from agent.records.key_store import (
    FileKeyStore,
    KeyringKeyStore,
    backend_name,
    keyring_marker_path,
    open_key_store,
)
from agent.records.keys import create_key_in, load_key_from, load_or_create_key_in, load_or_create_rig_key
from agent.records.recorder import SessionRecorder
from agent.records.settings import RecordSettings
from agent.rig import Rig
from tests.records.conftest import RIG_ID
from tests.records.factories import draft_for
from tests.records.keyring_backends import MemoryKeyring, PlaintextLike, fail_backend, null_backend


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend


def settings_for(tmp_path: Path, key_store: str = "auto") -> RecordSettings:
    return RecordSettings.model_validate(
        {
            "key_store": key_store,
            "key_path": tmp_path / "keys" / "rig.pem",
            "log_path": tmp_path / "log" / "session-log.jsonl",
            "outbox_path": tmp_path / "log" / "outbox.sqlite3",
        }
    )


def config_file(tmp_path: Path, key_store: str = "auto") -> Path:
    path = tmp_path / "scangate.toml"
    path.write_text(
        f'[rig]\nrig_id = "{RIG_ID}"\n\n[records]\nkey_store = "{key_store}"\nlog_path = "log/session-log.jsonl"\n'
        'key_path = "keys/rig.pem"\noutbox_path = "log/outbox.sqlite3"\n\n[gate]\ncapture_root = "captures"\n'
    )
    return path


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != "scangate.toml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- choosing the store ------------------------------------------------------------------------------------


def test_auto_puts_a_new_key_in_a_secure_keyring_and_signs_with_it(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    settings = settings_for(tmp_path)
    store = open_key_store(settings, RIG_ID)
    assert isinstance(store, KeyringKeyStore)
    created = load_or_create_key_in(store)
    assert created.created and created.path is None
    assert memory_keyring.entries[("scangate", RIG_ID)].startswith("-----BEGIN PRIVATE KEY-----")
    assert not settings.key_path.exists()
    assert keyring_marker_path(settings.key_path).is_file()
    assert load_key_from(open_key_store(settings, RIG_ID)).key_id == created.key_id
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        signed = recorder.append(draft_for(0))
    assert signed["signature"]["key_id"] == created.key_id


def test_auto_keeps_using_an_existing_key_file(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    existing = load_or_create_rig_key(settings.key_path)
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    store = open_key_store(settings, RIG_ID)
    assert isinstance(store, FileKeyStore)
    assert load_or_create_key_in(store).key_id == existing.key_id
    assert backend.entries == {}


@pytest.mark.parametrize(
    "backend",
    [fail_backend(), null_backend(), PlaintextLike()],
    ids=["fail backend", "null backend", "keyrings.alt backend"],
)
def test_auto_without_a_secure_keyring_keeps_the_key_in_a_file(tmp_path: Path, backend: object) -> None:
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    settings = settings_for(tmp_path)
    store = open_key_store(settings, RIG_ID)
    assert isinstance(store, FileKeyStore)
    assert load_or_create_key_in(store).path == settings.key_path


class _ChainWithPlaintext(chainer.ChainerBackend):
    backends = (MemoryKeyring(), PlaintextLike())


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (fail_backend(), "fail/null backend"),
        (null_backend(), "fail/null backend"),
        (PlaintextLike(), "keyrings.alt"),
        (
            _ChainWithPlaintext(),  # type: ignore[no-untyped-call]
            "includes one that is not secure",
        ),
    ],
    ids=["fail", "null", "keyrings.alt", "chain with keyrings.alt"],
)
def test_key_store_keyring_refuses_backends_that_are_not_a_secure_os_keyring(
    tmp_path: Path, backend: object, reason: str
) -> None:
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    with pytest.raises(KeyStoreError) as caught:
        open_key_store(settings_for(tmp_path, "keyring"), RIG_ID)
    assert reason in caught.value.what and "no secure OS keyring" in caught.value.what
    assert caught.value.hint is not None and "Secret Service" in caught.value.hint


def test_key_store_keyring_with_a_key_file_says_how_to_import_it(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    settings = settings_for(tmp_path, "keyring")
    load_or_create_rig_key(settings.key_path)
    with pytest.raises(KeyStoreError) as caught:
        open_key_store(settings, RIG_ID)
    assert caught.value.hint is not None and "scangate keys init --import-file" in caught.value.hint
    assert memory_keyring.entries == {}


def test_a_keyring_rig_never_falls_back_to_a_new_key_file_when_the_keyring_is_gone(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    keyring.set_keyring(MemoryKeyring())
    load_or_create_key_in(open_key_store(settings, RIG_ID))
    keyring.set_keyring(fail_backend())  # e.g. the rig booted without its Secret Service
    with pytest.raises(KeyStoreError, match="lives in the OS keyring, but no secure OS keyring is available"):
        open_key_store(settings, RIG_ID)
    with pytest.raises(KeyStoreError):
        SessionRecorder.open(settings, RIG_ID)
    assert not settings.key_path.exists()


# -- keyring errors: domain errors, and the rig stays locked --------------------------------------------------


def test_a_locked_keyring_is_an_error_that_says_to_unlock_it_and_the_rig_does_not_start(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    config, _ = load_config(config_file(tmp_path))
    load_or_create_key_in(open_key_store(config.records, RIG_ID))
    memory_keyring.locked = True
    with pytest.raises(KeyStoreError) as caught:
        load_key_from(open_key_store(config.records, RIG_ID))
    assert "locked" in caught.value.what and caught.value.hint is not None and "unlock" in caught.value.hint
    with pytest.raises(KeyStoreError, match="locked"):
        Rig.from_config(config)  # no rig, so nothing that could unlock capture
    assert not config.records.log_path.exists(), "nothing may be recorded without the key"


def test_a_failing_keyring_backend_is_a_domain_error(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    settings = settings_for(tmp_path)
    memory_keyring.broken = RuntimeError("D-Bus connection lost")
    with pytest.raises(KeyStoreError) as caught:
        load_or_create_key_in(open_key_store(settings, RIG_ID))
    assert "RuntimeError: D-Bus connection lost" in caught.value.what
    assert caught.value.hint is not None and 'key_store = "file"' in caught.value.hint


def test_a_keyring_that_does_not_keep_the_key_is_refused(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.forgetful = True
    with pytest.raises(KeyStoreError, match="did not keep the rig key"):
        create_key_in(open_key_store(settings_for(tmp_path), RIG_ID))


def test_a_rig_with_an_unfinished_rotation_does_not_record(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    settings = settings_for(tmp_path)
    store = open_key_store(settings, RIG_ID)
    load_or_create_key_in(store)
    store.add("next", Ed25519PrivateKey.generate())
    with pytest.raises(KeyRotationError) as caught:
        SessionRecorder.open(settings, RIG_ID)
    assert caught.value.hint is not None and "scangate keys rotate" in caught.value.hint


# -- keys show / keys init ---------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["keyring", "file"])
def test_keys_show_never_creates_a_key_in_either_store(
    tmp_path: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    config = config_file(tmp_path, "auto" if store == "keyring" else "file")
    status, _, err = run(capsys, "keys", "show", "--config", str(config))
    assert status == 2 and "scangate keys init" in err
    assert memory_keyring.entries == {}
    assert files_under(tmp_path) == []


def test_keys_init_creates_in_the_keyring_once_and_show_says_where(
    tmp_path: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    status, text, _ = run(capsys, "keys", "init", "--config", str(config))
    where = f"OS keyring ({backend_name(memory_keyring)}), service 'scangate', user '{RIG_ID}'"
    assert status == 0 and f"created a new rig signing key in {where}" in text
    pem = memory_keyring.entries[("scangate", RIG_ID)]
    status, _, err = run(capsys, "keys", "init", "--config", str(config))
    assert status == 2 and "a rig key already exists; it is kept" in err
    assert memory_keyring.entries[("scangate", RIG_ID)] == pem
    status, text, _ = run(capsys, "keys", "show", "--config", str(config))
    assert status == 0 and f"private key:            {where}" in text
    status, text, _ = run(capsys, "keys", "show", "--json", "--config", str(config))
    shown = json.loads(text)
    assert shown["store"] == {"kind": "keyring", "location": where}
    assert "PRIVATE" not in text


def test_keys_init_refuses_while_a_key_file_exists_even_with_a_keyring(
    tmp_path: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    key_path = tmp_path / "keys" / "rig.pem"
    load_or_create_rig_key(key_path)
    status, _, err = run(capsys, "keys", "init", "--config", str(config))
    assert status == 2 and "a rig key already exists" in err
    assert memory_keyring.entries == {}


def test_keys_init_import_file_moves_the_file_key_into_the_keyring(
    tmp_path: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    key_path = tmp_path / "keys" / "rig.pem"
    file_key = load_or_create_rig_key(key_path)
    status, text, _ = run(capsys, "keys", "init", "--import-file", "--config", str(config))
    assert status == 0 and "moved the rig key" in text and file_key.key_id in text
    assert not key_path.exists()
    settings = load_config(config)[0].records
    assert load_key_from(open_key_store(settings, RIG_ID)).key_id == file_key.key_id
    status, _, err = run(capsys, "keys", "init", "--import-file", "--config", str(config))
    assert status == 2 and "no rig key file to import" in err


def test_keys_init_import_file_needs_a_secure_keyring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    key_path = tmp_path / "keys" / "rig.pem"
    load_or_create_rig_key(key_path)
    status, _, err = run(capsys, "keys", "init", "--import-file", "--config", str(config))
    assert status == 2 and "no secure OS keyring" in err
    assert key_path.is_file()


def test_a_file_key_too_open_is_still_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "file")
    load_or_create_rig_key(settings.key_path)
    settings.key_path.chmod(0o644)
    with pytest.raises(KeyFileError, match="group or others"):
        load_key_from(open_key_store(settings, RIG_ID))
