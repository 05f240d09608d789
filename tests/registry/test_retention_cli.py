"""`scangate registry purge` / `receipts`, and `serve` purging at start (or warning when told not to)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from agent.wire import DestructionReceipt, KeyList, utc_now
from registry.db import Database
from registry.errors import InvalidInputError
from registry.keys import key_list, trusted_public_keys
from registry.retention import receipt_page
from registry.retention_service import parse_interval
from tests.registry.test_cli import cli_db, free_port, grant_file, run, snapshot

__all__ = ["cli_db"]  # the fixture, imported for these tests


def grant_past_destroy_by(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    past = (utc_now().date() - timedelta(days=1)).isoformat()
    status, _, err = run(
        capsys, "registry", "grant", str(grant_file(tmp_path, destroy_by=past)), "--db", db_url
    )
    assert status == 0, err


def test_purge_dry_run_then_purge_then_receipts(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grant_past_destroy_by(cli_db, tmp_path, capsys)
    before = snapshot(cli_db)
    status, out, err = run(capsys, "registry", "purge", "--dry-run", "--json", "--db", cli_db)
    assert status == 0, err
    report = json.loads(out)
    assert report["dry_run"] and [d["consent_id"] for d in report["destructions"]] == ["c-1"]
    assert snapshot(cli_db) == before

    status, out, err = run(capsys, "registry", "purge", "--db", cli_db)
    assert status == 0, err
    assert "destroyed consent c-1 v1 (p-1 on film-1" in out and "receipt dr-" in out
    assert "performer's name and details destroyed" in out
    assert "1 consent(s) past destroy_by were destroyed" in out

    status, out, err = run(capsys, "registry", "receipts", "--json", "--db", cli_db)
    assert status == 0, err
    (receipt,) = [DestructionReceipt.model_validate(item) for item in json.loads(out)]
    database = Database.open(cli_db)
    try:
        with database.read() as session:
            assert receipt.verify(trusted_public_keys(key_list(session)))
    finally:
        database.close()
    status, out, _ = run(capsys, "registry", "receipts", "--consent", "c-1", "--db", cli_db)
    assert status == 0 and "consent c-1 v1" in out and "(verified)" in out and "1 receipt(s)" in out

    after = snapshot(cli_db)
    status, out, _ = run(capsys, "registry", "purge", "--db", cli_db)
    assert status == 0 and "0 consent(s) past destroy_by were destroyed" in out
    assert snapshot(cli_db) == after


def test_purge_interval_is_parsed_strictly() -> None:
    assert parse_interval("24h") == timedelta(hours=24)
    assert parse_interval("1d") == timedelta(days=1) and parse_interval("30m") == timedelta(minutes=30)
    assert parse_interval("0") is None
    for bad in ("", "24", "1w", "-1h", "30s", "h"):
        with pytest.raises(InvalidInputError):
            parse_interval(bad)


def _serve(db_url: str, *extra: str) -> tuple[str, int]:
    """Start `registry serve`, wait until it answers, stop it; (its output, the port)."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli.main",
            "registry",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                KeyList.model_validate(requests.get(f"http://127.0.0.1:{port}/v1/keys", timeout=2).json())
                break
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    return output, port


def test_serve_purges_at_start_and_warns_when_the_purge_is_disabled(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grant_past_destroy_by(cli_db, tmp_path, capsys)
    output, _ = _serve(cli_db, "--purge-interval", "0")
    assert "retention purge disabled (--purge-interval 0)" in output
    database = Database.open(cli_db)
    try:
        with database.read() as session:
            assert receipt_page(session).receipts == ()
        output, _ = _serve(cli_db)
        with database.read() as session:
            assert [r.consent_id for r in receipt_page(session).receipts] == ["c-1"]
    finally:
        database.close()
    assert "1 consent(s) past destroy_by were destroyed" in output
