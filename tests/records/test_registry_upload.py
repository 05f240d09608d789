"""End to end against the reference registry server: upload through the outbox, then verify with its checkpoint.

The registry (FastAPI + uvicorn on loopback, SQLite file) is down while 100
records are written, then comes up on the same address: every record arrives
exactly once and in order, and the registry's signed checkpoint then catches
a log whose tail was cut.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent.records.checkpoint import load_checkpoint
from agent.records.keys import load_or_create_rig_key
from agent.records.recorder import SessionRecorder
from agent.records.settings import RecordSettings, RecordUploadSettings
from agent.records.uploader import HttpUploader
from agent.records.verify import verify_log
from agent.signing import object_hash_hex, public_key_to_b64
from agent.wire import KeyList
from registry.db import Database, SessionRecordRow
from registry.embedded import EmbeddedRegistry, start_embedded_registry
from registry.keys import trusted_public_keys
from registry.setup import initialise, seed
from tests.records.factories import draft_for

RIG = "rig-1"  # the rig the registry seed registers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> RecordSettings:
    return RecordSettings(
        log_path=tmp_path / "rig" / "session-log.jsonl",
        key_path=tmp_path / "rig" / "keys" / "rig.pem",
        outbox_path=tmp_path / "rig" / "outbox.sqlite3",
        receipts_dir=tmp_path / "rig" / "receipts",
        upload=RecordUploadSettings(enabled=True, initial_backoff_s=0.05, max_backoff_s=0.5),
    )


@pytest.fixture
def registry_db(tmp_path: Path, settings: RecordSettings) -> Iterator[tuple[str, str]]:
    """A seeded registry database knowing this rig's public key; yields (db_url, rig token)."""
    db_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    database = Database.open(db_url)
    initialise(database)
    rig_key = load_or_create_rig_key(settings.key_path)
    seeded = seed(database, rig_public_key=public_key_to_b64(rig_key.public_key), performers=[])
    database.close()
    yield db_url, seeded.rig_token


def _wait_for(condition: object, what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_registry_down_then_up_all_100_stored_once_in_order_and_checkpoint_catches_truncation(
    settings: RecordSettings, registry_db: tuple[str, str], tmp_path: Path
) -> None:
    db_url, token = registry_db
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    recorder = SessionRecorder.open(settings, RIG, uploader=HttpUploader(url, token, timeout_s=5.0))
    written = [recorder.append(draft_for(index)) for index in range(100)]
    _wait_for(lambda: recorder.outbox.entries("pending", 1)[0].attempts >= 2, "failed attempts while down")
    assert recorder.outbox.counts().pending == 100

    server: EmbeddedRegistry = start_embedded_registry(db_url, port=port, initialise_if_needed=False)
    try:
        _wait_for(lambda: recorder.outbox.counts().delivered == 100, "all 100 delivered")
        recorder.close()
        with server.database.read() as session:
            rows = (
                session.query(SessionRecordRow)
                .filter_by(rig_id=RIG)
                .order_by(SessionRecordRow.sequence)
                .all()
            )
            stored = [(row.sequence, row.record_hash) for row in rows]
            arrivals = [row.received_at for row in rows]
        assert stored == [(r["sequence"], object_hash_hex(r)) for r in written], "each record exactly once"
        assert arrivals == sorted(arrivals), "received in sequence order"

        http = requests.Session()
        checkpoint = http.get(
            f"{url}/v1/rigs/{RIG}/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert checkpoint.status_code == 200
        (tmp_path / "checkpoint.json").write_text(checkpoint.text)
        registry_keys = trusted_public_keys(
            KeyList.model_validate(http.get(f"{url}/v1/keys", timeout=10).json())
        )
        http.close()
    finally:
        server.stop()
        server.database.close()

    verified = load_checkpoint(tmp_path / "checkpoint.json", dict(registry_keys))
    assert (verified.sequence, verified.record_hash) == (100, object_hash_hex(written[-1]))
    rig_keys = {recorder.key.key_id: recorder.key.public_key}
    assert verify_log(settings.log_path, rig_keys, checkpoint=verified).intact

    lines = settings.log_path.read_bytes().splitlines(keepends=True)
    settings.log_path.write_bytes(b"".join(lines[:97]))  # someone cuts the last three records
    verdict = verify_log(settings.log_path, rig_keys, checkpoint=verified)
    assert [(p.code, p.sequence) for p in verdict.problems] == [("truncated_tail", 98)]
    assert json.loads(lines[96])["sequence"] == 97
