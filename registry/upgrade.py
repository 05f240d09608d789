"""Upgrade a registry database from schema version 1 to 2 (``scangate registry upgrade``).

Schema 2 adds token expiry and admin roles, retention (destroy-by dates, the hash of
every signed consent version, destruction receipts), rig-key rotations, and seals
face templates under the template key. The upgrade runs in one transaction: it
either completes or changes nothing.

What it decides for existing data:

- **Tokens** had no expiry. Each is given the default lifetime counted from the
  upgrade (rigs 90 days, administrators 12 hours), so rigs keep working while they
  are re-provisioned; old admin tokens become registry-administrator tokens.
- **Face templates** stored as plain JSON are sealed under the template key (created
  if there is none, as ``init`` does) and the plain column is dropped. On SQLite the
  file is then vacuumed so no page keeps the plain encodings; on PostgreSQL run
  ``VACUUM FULL face_templates`` afterwards (docs/registry.md).
- **Consents** get their ``destroy_by`` from their signed record, and the hash of
  their current signed version is remembered (earlier versions' hashes were never
  kept; session records citing them still verify against their own signatures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Table, insert, inspect, select, text, update

from agent.signing import object_hash_hex
from agent.wire import ConsentRecord, utc_now
from registry.db import (
    SCHEMA_VERSION,
    Base,
    ConsentIssueRow,
    Database,
    Meta,
    redact_url,
)
from registry.errors import ConflictError, DatabaseError
from registry.tokens import ADMIN_TOKEN_LIFETIME, RIG_TOKEN_LIFETIME

_NEW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tokens", "role"),
    ("tokens", "production_id"),
    ("tokens", "expires_at"),
    ("performers", "details_destroyed_at"),
    ("consents", "destroy_by"),
    ("consents", "destroyed_at"),
    ("face_templates", "encoding_sealed"),
)
"""Columns schema 2 adds to tables of schema 1 (new tables are created whole)."""


@dataclass(frozen=True)
class UpgradeReport:
    """What ``upgrade`` changed."""

    from_version: str
    tokens: int
    templates_sealed: int
    consents: int
    template_key_id: str
    template_key_origin: str
    template_key_created: bool


def _schema_version(connection: Connection) -> str | None:
    return connection.scalar(select(Meta.value).where(Meta.key == "schema_version"))


def _add_column(connection: Connection, table: Table, name: str) -> None:
    column = table.c[name]
    kind = column.type.compile(dialect=connection.dialect)
    reference = ""
    for key in column.foreign_keys:
        target = key.target_fullname.split(".")
        reference = f" REFERENCES {target[0]} ({target[1]})"
    connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}{reference}'))


def _seal_templates(connection: Connection, database: Database) -> int:
    key = database.template_keys.get()
    rows = connection.execute(
        text("SELECT template_id, performer_id, model, encoding_json FROM face_templates")
    ).all()
    for template_id, performer_id, model, encoding_json in rows:
        sealed = key.seal(template_id, performer_id, model, json.loads(encoding_json))
        connection.execute(
            text("UPDATE face_templates SET encoding_sealed = :sealed WHERE template_id = :id"),
            {"sealed": sealed, "id": template_id},
        )
    connection.execute(text("ALTER TABLE face_templates DROP COLUMN encoding_json"))
    return len(rows)


def _consents(connection: Connection) -> int:
    rows = connection.execute(text("SELECT consent_id, record_json FROM consents")).all()
    for consent_id, record_json in rows:
        record = ConsentRecord.model_validate_json(record_json)
        connection.execute(
            text("UPDATE consents SET destroy_by = :destroy_by WHERE consent_id = :id"),
            {"destroy_by": record.destroy_by, "id": consent_id},
        )
        connection.execute(
            insert(ConsentIssueRow).values(
                object_hash=object_hash_hex(record.wire_dict()),
                consent_id=record.consent_id,
                status=record.status.value,
                issued_at=record.issued_at,
            )
        )
    return len(rows)


def _tokens(connection: Connection) -> int:
    now = utc_now()
    tokens = Base.metadata.tables["tokens"]
    rig = connection.execute(
        update(tokens).where(tokens.c.kind == "rig").values(expires_at=now + RIG_TOKEN_LIFETIME)
    )
    admin = connection.execute(
        update(tokens)
        .where(tokens.c.kind == "admin")
        .values(role="registry_admin", expires_at=now + ADMIN_TOKEN_LIFETIME)
    )
    return int(rig.rowcount or 0) + int(admin.rowcount or 0)


def upgrade(database: Database) -> UpgradeReport:
    """Bring ``database`` from schema version 1 to the current one, in one transaction.

    Raises:
        ConflictError: the database already has the current schema.
        DatabaseError: it is not initialised or of a version this release cannot upgrade,
            or the template key file cannot be made or read.
    """
    where = redact_url(str(database.engine.url))
    engine = database.engine
    if not inspect(engine).has_table("meta"):
        raise DatabaseError("the registry database is not initialised", where=where)
    key, key_created = database.template_keys.get_or_create()  # fail before changing anything
    with engine.begin() as connection:
        version = _schema_version(connection)
        if version == SCHEMA_VERSION:
            raise ConflictError(f"the database already has schema version {SCHEMA_VERSION}", where=where)
        if version != "1":
            raise DatabaseError(
                f"cannot upgrade schema version {version!r}; this release upgrades version 1 only",
                where=where,
            )
        Base.metadata.create_all(connection)  # the new tables; existing ones are left alone
        for table_name, column_name in _NEW_COLUMNS:
            _add_column(connection, Base.metadata.tables[table_name], column_name)
        for index in Base.metadata.tables["consents"].indexes:
            if "destroy_by" in index.columns:
                index.create(connection)
        tokens = _tokens(connection)
        consents = _consents(connection)
        sealed = _seal_templates(connection, database)
        connection.execute(update(Meta).where(Meta.key == "schema_version").values(value=SCHEMA_VERSION))
        connection.execute(insert(Meta).values(key="template_key_id", value=key.key_id))
    if engine.dialect.name == "sqlite":
        # The plain encodings are gone from the table but not from free pages and the WAL.
        raw = engine.raw_connection()  # autocommit (see registry.db): VACUUM cannot run in a transaction
        try:
            cursor = raw.cursor()
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
    return UpgradeReport(
        from_version="1",
        tokens=tokens,
        templates_sealed=sealed,
        consents=consents,
        template_key_id=key.key_id,
        template_key_origin=key.origin,
        template_key_created=key_created,
    )
