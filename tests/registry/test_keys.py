"""Registry signing keys at rest: passphrase encryption, owner-only SQLite file, rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.db import Database, SigningKeyRow
from registry.errors import DatabaseError
from registry.keys import PASSPHRASE_ENV_VAR, key_list, load_active_signer, new_signing_key
from registry.setup import initialise


def test_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    database = Database.open(tmp_path / "registry.sqlite3")
    try:
        initialise(database)
    finally:
        database.close()
    mode = stat.S_IMODE((tmp_path / "registry.sqlite3").stat().st_mode)
    assert mode == 0o600


def test_private_keys_are_encrypted_with_the_passphrase(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV_VAR, "correct horse battery staple")
    database = Database.open(db_url)
    try:
        done = initialise(database)
        with database.read() as session:
            row = session.scalars(sa.select(SigningKeyRow)).one()
            assert row.encrypted and "ENCRYPTED PRIVATE KEY" in row.private_key_pem
            assert load_active_signer(session).key_id == done.key_id
        monkeypatch.delenv(PASSPHRASE_ENV_VAR)
        with (
            database.read() as session,
            pytest.raises(DatabaseError, match=f"{PASSPHRASE_ENV_VAR} is not set"),
        ):
            load_active_signer(session)
        monkeypatch.setenv(PASSPHRASE_ENV_VAR, "wrong")
        with database.read() as session, pytest.raises(DatabaseError, match="cannot load signing key"):
            load_active_signer(session)
    finally:
        database.close()


def test_rotation_keeps_one_active_key_and_lists_retired_ones(db_url: str) -> None:
    database = Database.open(db_url)
    try:
        first = initialise(database).key_id
        with database.write() as session:
            second = new_signing_key(session).key_id
        with database.write() as session:
            third = new_signing_key(session).key_id
        with database.read() as session:
            listing = key_list(session)
            assert load_active_signer(session).key_id == third
    finally:
        database.close()
    assert [(k.key_id, k.status.value) for k in listing.keys] == [
        (third, "active"),
        (second, "retired"),
        (first, "retired"),
    ]
    assert all(k.retired_at is not None for k in listing.keys[1:])
