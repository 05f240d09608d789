"""The admin CLI: every command on a real database; bad input changes nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli.main import main
from agent.signing import Signer, public_key_to_b64
from agent.wire import ConsentList, Roster, utc_now
from registry.db import Base, Database
from registry.openapi import OPENAPI_PATH
from registry.setup import SeedPerformer, demo_grant

PRODUCTION = "film-1"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `scangate ARGS`, returning (exit status, stdout, stderr)."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def snapshot(db_url: str) -> dict[str, list[tuple[str, ...]]]:
    database = Database.open(db_url)
    try:
        with database.read() as session:
            return {
                table.name: sorted(
                    tuple(str(v) for v in row) for row in session.execute(sa.select(table)).all()
                )
                for table in Base.metadata.sorted_tables
            }
    finally:
        database.close()


@pytest.fixture
def cli_db(db_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[str]:
    """A database initialised and filled through the CLI: one production, two performers."""
    status, out, err = run(capsys, "registry", "init", "--db", db_url)
    assert status == 0, err
    assert "admin token" in out and "sga_" in out
    for args in (
        ("add-production", "--id", PRODUCTION, "--name", "Film One", "--producer", "Studio"),
        ("add-performer", "--id", "p-1", "--name", "Ada Lovelace", "--union", "SAG-AFTRA 1"),
        ("add-performer", "--id", "p-2", "--name", "Grace Hopper"),
    ):
        status, _, err = run(capsys, "registry", *args, "--db", db_url)
        assert status == 0, err
    yield db_url


def grant_file(tmp_path: Path, name: str = "grant.json", **overrides: Any) -> Path:
    grant = demo_grant(SeedPerformer("p-1", "Ada Lovelace"), PRODUCTION, utc_now(), consent_id="c-1")
    path = tmp_path / name
    path.write_text(json.dumps({**grant.model_dump(mode="json"), **overrides}), encoding="utf-8")
    return path


def test_init_twice_is_refused(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "registry", "init", "--db", cli_db)
    assert status == 2 and "already initialised" in err


def test_commands_need_an_initialised_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "registry", "keys", "--db", str(tmp_path / "empty.sqlite3"))
    assert status == 2 and "not initialised" in err and "registry init" in err


def test_full_admin_workflow(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "registry", "grant", "--db", cli_db, str(grant_file(tmp_path)))
    assert status == 0, err
    assert "granted consent c-1 v1 (active) for p-1 on film-1" in out
    toml_grant = tmp_path / "second.toml"
    toml_grant.write_text(
        'consent_id = "c-2"\nperformer_id = "p-2"\nproduction_id = "film-1"\ncapture_types = ["hands"]\n'
        'intended_use_text = "Hand inserts for the piano scene."\nuse_categories = ["vfx_insert"]\n'
        "ai_training_allowed = false\nsynthetic_performance_allowed = false\n"
        "third_party_licensing_allowed = false\nvalid_from = 2025-01-01T00:00:00Z\n"
        "valid_until = 2099-01-01T00:00:00Z\nbiometric_check_consent = true\n"
        f'document_sha256 = "{"c" * 64}"\nrepresentation_basis = "legal_counsel"\n',
        encoding="utf-8",
    )
    status, out, err = run(capsys, "registry", "grant", "--db", cli_db, str(toml_grant))
    assert status == 0, err
    status, out, err = run(capsys, "registry", "revoke", "--db", cli_db, "c-2", "--reason", "withdrawn")
    assert status == 0 and "revoked consent c-2 v1 (revoked)" in out, err
    status, out, err = run(capsys, "registry", "rotate-key", "--db", cli_db)
    assert status == 0 and "new active signing key" in out, err
    status, out, _ = run(capsys, "registry", "keys", "--db", cli_db)
    assert [line.split()[1] for line in out.splitlines()] == ["active", "retired"]

    rig = Signer(Ed25519PrivateKey.generate())
    key_file = tmp_path / "rig.pub"
    key_file.write_text(public_key_to_b64(rig.public_key) + "\n", encoding="ascii")
    status, out, err = run(
        capsys, "registry", "add-rig", "--db", cli_db, "--rig-id", "rig-1", "--production", PRODUCTION,
        "--public-key", f"@{key_file}",
    )  # fmt: skip
    assert status == 0 and rig.key_id in out, err
    status, out, err = run(capsys, "registry", "issue-token", "--db", cli_db, "--rig-id", "rig-1")
    assert status == 0, err
    token_id, token = out.split()[1], out.split()[-1]
    assert token.startswith("sgr_")
    status, out, err = run(
        capsys, "registry", "issue-badge", "--db", cli_db, "--production", PRODUCTION, "--performer", "p-1"
    )
    assert status == 0 and out.split()[-1].isdigit(), err
    status, out, err = run(capsys, "registry", "issue-admin-token", "--db", cli_db)
    assert status == 0 and "sga_" in out, err

    from registry.embedded import start_embedded_registry

    with start_embedded_registry(cli_db, initialise_if_needed=False) as server:
        headers = {"Authorization": f"Bearer {token}"}
        listing = requests.get(
            server.url + "/v1/consents",
            params={"performer_id": "p-1", "production_id": PRODUCTION},
            headers=headers,
            timeout=10,
        )
        assert ConsentList.model_validate(listing.json()).consents[0].consent_id == "c-1"
        status, out, err = run(capsys, "registry", "revoke-token", "--db", cli_db, token_id)
        assert status == 0, err
        refused = requests.get(server.url + "/v1/revocations", headers=headers, timeout=10)
        assert refused.status_code == 401
        server.database.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add-performer", "--id", "p-1", "--name", "Again"), "performer 'p-1' already exists"),
        (("add-performer", "--id", "bad id!", "--name", "X"), "performer_id: String should match pattern"),
        (("add-production", "--id", PRODUCTION, "--name", "X", "--producer", "Y"), "already exists"),
        (("revoke", "c-missing"), "unknown consent 'c-missing'"),
        # the reason goes into the revocation feed; an over-long one would make the feed unservable
        (("suspend", "c-missing", "--reason", "x" * 1001), "reason: String should have at most 1000"),
        (("issue-admin-token", "--label", "x" * 201), "label: String should have at most 200"),
        (
            ("add-rig-key", "--rig-id", "rig-missing", "--public-key", "A" * 43 + "="),
            "public_key: String should have at most 43 characters",
        ),
        (("issue-token", "--rig-id", "rig-missing"), "unknown rig 'rig-missing'"),
        (("revoke-token", "tok-missing"), "unknown token id 'tok-missing'"),
        (
            ("issue-token", "--rig-id", "rig-missing", "--expires-in", "90x"),
            "--expires-in '90x' is not a lifetime",
        ),
        (("issue-admin-token", "--expires-in", "31d"), "longer than an admin token may live (30d)"),
        (("issue-admin-token", "--expires-in", "0h"), "--expires-in '0h' is not a lifetime"),
        (("issue-admin-token", "--production", "no-film"), "unknown production 'no-film'"),
        (("issue-badge", "--production", PRODUCTION, "--performer", "p-9"), "unknown performer 'p-9'"),
        (
            ("issue-badge", "--production", PRODUCTION, "--performer", "p-1", "--pin", "12"),
            "pin: String should have",
        ),
        (
            ("add-rig", "--rig-id", "rig-1", "--production", PRODUCTION, "--public-key", "not-a-key"),
            "public_key: String should have at least 43 characters",
        ),
        (("enrol", "--performer", "p-9", "--encodings", "ENC"), "unknown performer 'p-9'"),
        (
            ("enrol", "--performer", "p-1", "--encodings", "SHORT"),
            "encodings.0: Tuple should have at least 128",
        ),
    ],
)
def test_bad_admin_input_is_explained_and_changes_nothing(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "ENC").write_text(json.dumps([[0.01] * 128]), encoding="utf-8")
    (tmp_path / "SHORT").write_text(json.dumps([[0.01] * 12]), encoding="utf-8")
    args = tuple(str(tmp_path / a) if a in {"ENC", "SHORT"} else a for a in args)
    before = snapshot(cli_db)
    status, out, err = run(capsys, "registry", *args, "--db", cli_db)
    assert status != 0, out
    assert message in err
    assert "Traceback" not in err
    assert snapshot(cli_db) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"consent_id": "c-9", ', "not valid JSON"),
        (None, "ai_training_allowed: Input should be a valid boolean"),
        ("performer", "unknown performer 'p-404'"),
        ("duplicate", "consent 'c-1' already exists"),
        ("unknown-member", "notes: unknown member"),
    ],
)
def test_bad_grant_files_are_explained_and_change_nothing(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    status, _, err = run(capsys, "registry", "grant", "--db", cli_db, str(grant_file(tmp_path, "first.json")))
    assert status == 0, err
    if content is None:
        path = grant_file(tmp_path, consent_id="c-9", ai_training_allowed="no")
    elif content == "performer":
        path = grant_file(tmp_path, consent_id="c-9", performer_id="p-404")
    elif content == "duplicate":
        path = grant_file(tmp_path)
    elif content == "unknown-member":
        path = grant_file(tmp_path, consent_id="c-9", notes="x")
    else:
        path = tmp_path / "broken.json"
        path.write_text(content, encoding="utf-8")
    before = snapshot(cli_db)
    status, _, err = run(capsys, "registry", "grant", "--db", cli_db, str(path))
    assert status == 2
    assert message in err and "Traceback" not in err
    assert snapshot(cli_db) == before


def test_tokens_are_listed_with_role_scope_and_expiry_never_the_secret(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys,
        "registry",
        "issue-admin-token",
        "--db",
        cli_db,
        "--production",
        PRODUCTION,
        "--expires-in",
        "2h",
    )
    assert status == 0 and f"production admin token for {PRODUCTION}" in out and "expires 20" in out, err
    secret = out.split()[-1]
    status, table, err = run(capsys, "registry", "list-tokens", "--db", cli_db)
    assert status == 0, err
    lines = table.splitlines()[1:]
    assert len(lines) == 2 and "registry_admin" in lines[0] and "production_admin" in lines[1]
    assert all(" active " in line for line in lines) and PRODUCTION in lines[1]
    status, out, err = run(capsys, "registry", "list-tokens", "--db", cli_db, "--json")
    listed = json.loads(out)["tokens"]
    assert [t["role"] for t in listed] == ["registry_admin", "production_admin"]
    assert listed[1]["production_id"] == PRODUCTION and secret not in out and secret not in table
    status, _, err = run(capsys, "registry", "revoke-token", "--db", cli_db, listed[1]["token_id"])
    assert status == 0, err
    assert " revoked " in run(capsys, "registry", "list-tokens", "--db", cli_db)[1].splitlines()[2]


def test_a_database_of_another_schema_version_is_refused_saying_what_to_do(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Database.open(cli_db)
    with database.write() as session:
        session.execute(sa.text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    database.close()
    status, _, err = run(capsys, "registry", "list-tokens", "--db", cli_db)
    assert status == 2 and "schema version '1'; this registry needs '2'" in err
    assert "Upgrading the database" in err and "Traceback" not in err


def test_openapi_command_writes_and_checks_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "registry", "openapi", "--check", "--output", str(OPENAPI_PATH))
    assert status == 0 and "up to date" in out, err
    copy = tmp_path / "openapi.json"
    assert run(capsys, "registry", "openapi", "--output", str(copy))[0] == 0
    assert json.loads(copy.read_text()) == json.loads(OPENAPI_PATH.read_text())
    copy.write_text("{}", encoding="utf-8")
    status, _, err = run(capsys, "registry", "openapi", "--check", "--output", str(copy))
    assert status == 2 and "out of date" in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_runs_two_worker_processes(cli_db: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli.main",
            "registry",
            "serve",
            "--db",
            cli_db,
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            # the socket listens before the workers are up: early probes wait, and may time out
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "2 worker(s)" in output


@pytest.mark.faces
def test_enrol_from_photos_feeds_the_roster(
    cli_db: str, faces_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = sorted(p for p in (faces_dir / "identities").iterdir() if p.is_dir())[0]
    photos = sorted(person.glob("*.jpg"))[:2]
    before = snapshot(cli_db)
    status, _, err = run(
        capsys, "registry", "enrol", "--db", cli_db, "--performer", "p-1", str(photos[0]),
        str(next((faces_dir / "noface").iterdir())),
    )  # fmt: skip
    assert status == 2 and "nothing was enrolled" in err
    assert snapshot(cli_db) == before
    status, out, err = run(
        capsys, "registry", "enrol", "--db", cli_db, "--performer", "p-1", *map(str, photos)
    )
    assert status == 0 and "version 1, 2 template(s)" in out, err
    assert run(capsys, "registry", "grant", "--db", cli_db, str(grant_file(tmp_path)))[0] == 0
    database = Database.open(cli_db)
    try:
        from registry.keys import load_active_signer
        from registry.rig_ops import build_roster

        with database.read() as session:
            roster: Roster = build_roster(session, PRODUCTION, load_active_signer(session))
    finally:
        database.close()
    assert [len(entry.templates) for entry in roster.entries] == [2]
