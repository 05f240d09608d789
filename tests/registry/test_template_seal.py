"""Face templates in the registry database are sealed under a key kept outside it.

Before this, ``face_templates.encoding_json`` held every performer's 128-d encoding
as plain JSON: any copy of the database (a backup, a dump, the demo's folder) was
a copy of the faces.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from agent.cli.main import main
from agent.signing import public_key_to_b64
from registry import admin_ops
from registry.app import create_app
from registry.db import Database, FaceTemplateRow
from registry.errors import DatabaseError
from registry.keys import load_active_signer
from registry.rig_ops import build_roster
from registry.schemas import PerformerCreate
from registry.setup import SeedPerformer, initialise, seed
from registry.template_seal import TEMPLATE_KEY_ENV_VAR, TemplateKey, TemplateKeySource
from tests.biometric_scan import biometric_findings

PRODUCTION = "film-1"


def _encoding(seed_value: int) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed_value).normal(0.0, 0.09, 128)]


def _seeded(path: Path, key: TemplateKey | None = None) -> Database:
    database = Database.open(path, TemplateKeySource(key) if key else None)
    initialise(database)
    with database.read() as session:
        rig_key = load_active_signer(session)  # any Ed25519 public key will do for the rig
    seed(
        database,
        rig_public_key=public_key_to_b64(rig_key.public_key),
        performers=[SeedPerformer("p-1", "Ada", encodings=[_encoding(1), _encoding(2)])],
        production_id=PRODUCTION,
        production_name="Film One",
        rig_id="rig-1",
    )
    return database


def test_the_database_holds_no_readable_template_and_the_roster_still_has_them(tmp_path: Path) -> None:
    database = _seeded(tmp_path / "registry.sqlite3")
    try:
        with database.read() as session:
            roster = build_roster(session, PRODUCTION, load_active_signer(session))
        assert [list(t.encoding) for t in roster.entries[0].templates] == [_encoding(1), _encoding(2)]
    finally:
        database.close()
    assert biometric_findings(tmp_path) == []


def test_a_sealed_template_moved_to_another_performer_does_not_open(tmp_path: Path) -> None:
    database = _seeded(tmp_path / "registry.sqlite3")
    try:
        with database.write() as session:
            admin_ops.add_performer(session, PerformerCreate(performer_id="p-2", display_name="Eve"))
            admin_ops.enrol_templates(session, "p-2", [_encoding(3)], "test")
            sealed = session.scalars(
                sa.select(FaceTemplateRow.encoding_sealed).where(FaceTemplateRow.performer_id == "p-1")
            ).first()
            session.execute(
                sa.update(FaceTemplateRow)
                .where(FaceTemplateRow.performer_id == "p-2")
                .values(encoding_sealed=sealed)
            )
        key = database.template_keys.get()
        with database.read() as session:
            row = session.scalars(
                sa.select(FaceTemplateRow).where(FaceTemplateRow.performer_id == "p-2")
            ).one()
        with pytest.raises(DatabaseError, match="altered or moved"):
            key.open(row.template_id, "p-2", row.model, row.encoding_sealed)
    finally:
        database.close()


def test_another_key_is_refused_naming_both_keys(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    _seeded(path, TemplateKey.generate()).close()
    other = Database.open(path, TemplateKeySource(TemplateKey.generate()))
    try:
        with pytest.raises(DatabaseError, match="is not this database's template key"):
            create_app(other)
    finally:
        other.close()


def test_init_creates_an_owner_only_key_file_and_serve_refuses_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "registry.sqlite3")
    key_file = tmp_path / "secrets" / "template.key"
    assert main(["registry", "init", "--db", db, "--template-key", str(key_file)]) == 0
    out = capsys.readouterr().out
    assert "created" in out and str(key_file) in out
    if os.name != "nt":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    status = main(
        ["registry", "serve", "--db", db, "--port", "0", "--template-key", str(tmp_path / "absent.key")]
    )
    err = capsys.readouterr().err
    assert status == 2 and "template key file does not exist" in err and "absent.key" in err
    encodings = tmp_path / "encodings.json"
    encodings.write_text(json.dumps([_encoding(4)]), encoding="utf-8")
    assert main(["registry", "add-performer", "--db", db, "--id", "p-9", "--name", "Zoe"]) == 0
    enrol = ["registry", "enrol", "--db", db, "--template-key", str(key_file), "--performer", "p-9"]
    if os.name != "nt":
        key_file.chmod(0o644)
        capsys.readouterr()
        assert main([*enrol, "--encodings", str(encodings)]) == 2
        assert "other users" in capsys.readouterr().err
        key_file.chmod(0o600)
    assert main([*enrol, "--encodings", str(encodings)]) == 0


def test_the_key_file_can_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "env.key"
    monkeypatch.setenv(TEMPLATE_KEY_ENV_VAR, str(key_file))
    assert main(["registry", "init", "--db", str(tmp_path / "r.sqlite3")]) == 0
    assert key_file.exists() and "tk-" in capsys.readouterr().out
