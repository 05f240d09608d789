"""Rig keys: created on first use with owner-only permissions, refused when too open."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.records.errors import KeyFileError, PublicKeyError
from agent.records.keys import (
    describe_key,
    load_or_create_rig_key,
    load_public_key_file,
    load_public_keys_file,
    load_rig_key,
    public_key_pem,
)
from agent.signing import key_id_for

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@posix_only
def test_key_is_created_once_owner_only_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "rig-ed25519.pem"
    first = load_or_create_rig_key(path)
    assert first.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    again = load_or_create_rig_key(path)
    assert not again.created
    assert again.key_id == first.key_id == key_id_for(first.public_key)
    assert not list(path.parent.glob(".*.tmp")), "temporary file left behind"


@posix_only
def test_group_readable_key_is_refused_with_a_chmod_hint(tmp_path: Path) -> None:
    path = tmp_path / "rig.pem"
    load_or_create_rig_key(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileError) as caught:
        load_rig_key(path)
    assert "group or others" in caught.value.what
    assert caught.value.hint is not None and f"chmod 600 '{path}'" in caught.value.hint


def test_missing_and_malformed_key_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no rig key file"):
        load_rig_key(tmp_path / "absent.pem")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    broken.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_rig_key(broken)


@posix_only
def test_two_processes_creating_the_key_at_once_end_up_with_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "rig.pem"
    code = (
        "import sys; from pathlib import Path; from agent.records.keys import load_or_create_rig_key;"
        "print(load_or_create_rig_key(Path(sys.argv[1])).key_id)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    ids = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(ids) == 1
    assert ids == {load_rig_key(path).key_id}


def test_public_key_files_in_every_documented_form(tmp_path: Path) -> None:
    rig_key = load_or_create_rig_key(tmp_path / "rig.pem")
    info = describe_key(rig_key, "rig-9")
    forms = {
        "pem": public_key_pem(rig_key.public_key),
        "json": json.dumps(info.model_dump()),
        "b64": info.public_key + "\n",
    }
    for name, text in forms.items():
        file = tmp_path / f"public.{name}"
        file.write_text(text)
        assert key_id_for(load_public_key_file(file)) == rig_key.key_id, name


def test_private_key_and_garbage_are_refused_as_public_keys(tmp_path: Path) -> None:
    rig_key = load_or_create_rig_key(tmp_path / "rig.pem")
    assert rig_key.path is not None
    with pytest.raises(PublicKeyError, match="private key"):
        load_public_key_file(rig_key.path)
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello")
    with pytest.raises(PublicKeyError, match="no Ed25519 public key"):
        load_public_key_file(garbage)


def test_json_nested_too_deeply_is_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(PublicKeyError, match="not JSON"):
        load_public_keys_file(deep)
    with pytest.raises(PublicKeyError, match="no Ed25519 public key"):
        load_public_key_file(deep)


def test_an_empty_key_list_is_refused_rather_than_trusting_nothing(tmp_path: Path) -> None:
    listing = tmp_path / "keys.json"
    listing.write_text('{"keys": []}')
    with pytest.raises(PublicKeyError, match="holds no keys"):
        load_public_keys_file(listing)
