"""`scangate registry upgrade`: a schema-1 database becomes a working schema-2 one, nothing lost.

The schema-1 database is built from the DDL that version wrote (tests/registry/data/) and
filled with a seeded registry's rows, with face templates in plain JSON as schema 1 stored them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from agent.cli.main import main
from agent.signing import public_key_to_b64
from agent.wire import utc_now
from registry.access import authenticate
from registry.app import create_app
from registry.db import Database
from registry.keys import load_active_signer
from registry.rig_ops import build_roster
from registry.setup import SeedPerformer, SeedResult, initialise, seed
from registry.template_seal import TemplateKey, TemplateKeySource
from tests.biometric_scan import biometric_findings

SCHEMA_1_SQL = Path(__file__).parent / "data" / "schema1-sqlite.sql"
PRODUCTION = "film-1"


def _encoding(seed_value: int) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed_value).normal(0.0, 0.09, 128)]


def _seeded_schema_2(path: Path, key: TemplateKey) -> SeedResult:
    database = Database.open(path, TemplateKeySource(key))
    try:
        initialise(database)
        with database.read() as session:
            signer = load_active_signer(session)
        return seed(
            database,
            rig_public_key=public_key_to_b64(signer.public_key),
            performers=[
                SeedPerformer("p-1", "Ada", encodings=[_encoding(1), _encoding(2)]),
                SeedPerformer("p-2", "Grace", encodings=[_encoding(3)]),
            ],
            production_id=PRODUCTION,
            production_name="Film One",
            rig_id="rig-1",
        )
    finally:
        database.close()


def _as_schema_1(source: Path, target: Path, key: TemplateKey) -> None:
    """``source``'s rows in a database of schema 1's shape, templates in plain JSON as it kept them."""
    connection = sqlite3.connect(target)
    try:
        connection.executescript(SCHEMA_1_SQL.read_text(encoding="utf-8"))
        connection.execute("ATTACH DATABASE ? AS new", (str(source),))
        tables = [
            row[0] for row in connection.execute("SELECT name FROM main.sqlite_master WHERE type='table'")
        ]
        for table in tables:
            columns = [row[1] for row in connection.execute(f"PRAGMA main.table_info({table})")]
            if table == "face_templates":
                for row in connection.execute(
                    "SELECT template_id, performer_id, version, position, model, encoding_sealed, source,"
                    " created_at FROM new.face_templates"
                ).fetchall():
                    plain = list(key.open(row[0], row[1], row[4], row[5]))
                    connection.execute(
                        "INSERT INTO main.face_templates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*row[:5], json.dumps(plain), *row[6:]),
                    )
                continue
            names = ", ".join(f'"{c}"' for c in columns)
            connection.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM new.{table}")
        connection.execute("UPDATE main.meta SET value = '1' WHERE key = 'schema_version'")
        connection.execute("DELETE FROM main.meta WHERE key = 'template_key_id'")
        connection.commit()
        connection.execute("DETACH DATABASE new")
    finally:
        connection.close()


@pytest.fixture
def schema_1(tmp_path: Path) -> tuple[Path, SeedResult]:
    seeded = _seeded_schema_2(tmp_path / "seed.sqlite3", key := TemplateKey.generate())
    old = tmp_path / "old" / "registry.sqlite3"
    old.parent.mkdir()
    _as_schema_1(tmp_path / "seed.sqlite3", old, key)
    return old, seeded


def test_a_schema_1_database_is_refused_with_the_upgrade_command_named(
    schema_1: tuple[Path, SeedResult], capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = schema_1
    assert main(["registry", "keys", "--db", str(old)]) == 2
    assert "scangate registry upgrade" in capsys.readouterr().err


def test_upgrade_seals_the_templates_keeps_every_row_and_leaves_no_plain_face_on_disk(
    schema_1: tuple[Path, SeedResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, seeded = schema_1
    assert biometric_findings(old.parent), "schema 1 kept templates in the clear: the check must see them"
    key_file = tmp_path / "keys" / "template.key"
    assert main(["registry", "upgrade", "--db", str(old), "--template-key", str(key_file)]) == 0
    out = capsys.readouterr().out
    assert "3 face template(s) sealed" in out and "2 consent(s)" in out
    assert biometric_findings(old.parent) == [], "no plain encoding left in the file, its WAL or free pages"

    database = Database.open(old, TemplateKeySource(path=key_file))
    try:
        create_app(database)  # schema and template key both accepted
        with database.read() as session:
            roster = build_roster(session, PRODUCTION, load_active_signer(session))
            caller = authenticate(session, seeded.rig_token)
        assert {e.performer_id: [list(t.encoding) for t in e.templates] for e in roster.entries} == {
            "p-1": [_encoding(1), _encoding(2)],
            "p-2": [_encoding(3)],
        }
        assert caller.rig_id == "rig-1", "rigs keep working through the upgrade"
    finally:
        database.close()
    connection = sqlite3.connect(old)
    try:
        expiries = connection.execute("SELECT kind, expires_at FROM tokens").fetchall()
        destroy_by = connection.execute("SELECT destroy_by FROM consents").fetchall()
        issues = connection.execute("SELECT count(*) FROM consent_issues").fetchone()
    finally:
        connection.close()
    for kind, expires_at in expiries:
        limit = utc_now() + (timedelta(days=90) if kind == "rig" else timedelta(hours=12))
        assert expires_at is not None and expires_at <= limit.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert all(row[0] is not None for row in destroy_by) and issues == (2,)

    assert main(["registry", "upgrade", "--db", str(old), "--template-key", str(key_file)]) != 0
    assert "already has schema version 2" in capsys.readouterr().err
