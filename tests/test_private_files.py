"""Every store that holds personal data or keys is owner-only (files 0600, folders 0700).

The tests run with the usual umask 022 (set explicitly), under which plain
``open``/``mkdir``/SQLite would give 0644 files and 0755 folders.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.faces.engine import ENCODING_SIZE
from agent.faces.store import EnrolmentSample, TemplateStore
from agent.private_files import prepare_private_sqlite, private_dir
from agent.records.keys import load_or_create_rig_key
from agent.records.log import RecordLog
from agent.records.outbox import Outbox
from registry.db import Database
from tests.records.factories import draft_for

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default umask, whatever the test runner's is."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_dir_creates_every_missing_folder_0700(tmp_path: Path) -> None:
    private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3


def test_sqlite_wal_and_shm_follow_the_database_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "data" / "db.sqlite3"
    prepare_private_sqlite(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    try:
        for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
            assert mode(path.parent / name) == 0o600, name
        assert mode(path.parent) == 0o700
    finally:
        db.close()


def test_an_older_0644_database_and_its_wal_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    for name in ("db.sqlite3", "db.sqlite3-wal"):
        (tmp_path / name).touch(mode=0o644)
    prepare_private_sqlite(path)
    assert mode(path) == mode(tmp_path / "db.sqlite3-wal") == 0o600


def test_outbox_database_wal_and_shm_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    with Outbox(folder / "outbox.sqlite3") as box:
        box.enqueue({"sequence": 1, "record_id": "r1", "body": "x"})
        names = sorted(p.name for p in folder.iterdir())
        assert {"outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"} <= set(names)
        assert {name: mode(folder / name) for name in names} == dict.fromkeys(names, 0o600)
    assert mode(folder) == 0o700


def test_rig_key_and_session_log_are_private(tmp_path: Path) -> None:
    key = load_or_create_rig_key(tmp_path / "keys" / "rig.pem")
    assert key.path is not None
    assert mode(key.path) == 0o600 and mode(key.path.parent) == 0o700
    log_path = tmp_path / "logs" / "session-log.jsonl"
    with RecordLog.open(log_path, key.signer, "rig-1") as writer:
        writer.append(draft_for(0))
    assert mode(log_path) == 0o600 and mode(log_path.parent) == 0o700


def test_open_session_journal_and_its_folder_are_private(tmp_path: Path) -> None:
    from agent.session.journal import SessionJournal
    from tests.session.test_journal import _unlocked_context

    journal = SessionJournal(tmp_path / "state" / "log.open-session.json")
    journal.open(_unlocked_context())
    journal.record_capture("e1", {"path": "x"})
    assert mode(journal.path) == 0o600 and mode(journal.path.parent) == 0o700


def test_template_store_folder_and_file_are_private(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path / "faces" / "store", passphrase=lambda: "a test passphrase, not secret")
    vector = np.random.default_rng(1).normal(0, 0.1, ENCODING_SIZE)
    store.enrol("P-1", [EnrolmentSample(encoding=vector, source_sha256="ab" * 32)])
    assert mode(store.path) == 0o600
    assert mode(tmp_path / "faces") == mode(store.directory) == 0o700


def test_registry_sqlite_database_is_private_from_its_creation(tmp_path: Path) -> None:
    path = tmp_path / "registry" / "registry.sqlite3"
    database = Database.open(path)
    try:
        for name in os.listdir(path.parent):
            assert mode(path.parent / name) == 0o600, name
        assert mode(path.parent) == 0o700
    finally:
        database.close()
