"""Database tables and engine set-up (SQLite file by default, PostgreSQL by URL).

Signed objects (consent records, checkpoints) are stored as the exact compact
JSON that was signed, next to the columns used to find them; serving a consent
is then a lookup and a copy, and what a rig receives is byte-for-byte what the
registry signed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from agent.private_files import prepare_private_sqlite
from registry.db_liveness import ConnectionLiveness
from registry.errors import DatabaseError
from registry.hot_reads import HotReads
from registry.template_seal import TemplateKey, TemplateKeySource

SCHEMA_VERSION = "2"
"""2: tokens carry an expiry, and admin tokens a role (and production). See check_schema."""
TEMPLATE_KEYS_INFO = "scangate_template_keys"
DB_ENV_VAR = "SCANGATE_REGISTRY_DB"
POOL_SIZE_ENV_VAR = "SCANGATE_REGISTRY_DB_POOL_SIZE"
DEFAULT_POOL_SIZE = 10
"""PostgreSQL connections per registry process (worker). Size the server's max_connections for
instances x workers x this, plus the admin's own."""


class UtcDateTimeColumn(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC (portable to SQLite) and returns them aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTimeColumn(), str: String(255)}


class Meta(Base):
    """Key/value facts about the database itself (schema version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str]


class ProductionRow(Base):
    """A production."""

    __tablename__ = "productions"
    production_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str]
    producer: Mapped[str]
    created_at: Mapped[datetime]


class PerformerRow(Base):
    """A performer (no biometric data here; templates are in face_templates)."""

    __tablename__ = "performers"
    performer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str]
    union_membership: Mapped[str | None]
    representative: Mapped[str | None]
    created_at: Mapped[datetime]
    details_destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when retention destroyed the name, union membership and representative (registry/retention.py)."""


class FaceTemplateRow(Base):
    """One 128-d face encoding of a performer; the roster sends the latest version."""

    __tablename__ = "face_templates"
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    performer_id: Mapped[str] = mapped_column(ForeignKey("performers.performer_id"), index=True)
    version: Mapped[int]
    position: Mapped[int]  # order within the enrolment version
    model: Mapped[str] = mapped_column(String(64))
    encoding_sealed: Mapped[str] = mapped_column(Text)  # AES-256-GCM, see registry.template_seal
    source: Mapped[str | None]
    created_at: Mapped[datetime]


class ConsentRow(Base):
    """The current signed version of one consent record (re-signed on status change).

    Once ``destroy_by`` is over, retention replaces ``record_json`` with an unsigned
    tombstone of ids, hashes and dates, and sets ``status`` to ``destroyed``.
    """

    __tablename__ = "consents"
    consent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    performer_id: Mapped[str] = mapped_column(ForeignKey("performers.performer_id"))
    production_id: Mapped[str] = mapped_column(ForeignKey("productions.production_id"))
    version: Mapped[int]
    supersedes: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    biometric_check_consent: Mapped[bool] = mapped_column(Boolean)
    valid_until: Mapped[datetime]
    issued_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    record_json: Mapped[str] = mapped_column(Text)
    destroy_by: Mapped[date | None] = mapped_column(Date, index=True, default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_consents_performer_production", "performer_id", "production_id", "version"),)


class ConsentIssueRow(Base):
    """The object hash of every version of a consent record the registry signed.

    Session records cite the hash of the version a rig judged; a revocation re-signs
    the record (new hash), so the hashes are kept here to outlive both re-issue and
    destruction (they go into the destruction receipt).
    """

    __tablename__ = "consent_issues"
    object_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.consent_id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime]


class DestructionReceiptRow(Base):
    """A signed destruction receipt; at most one per consent (so concurrent purges cannot issue two)."""

    __tablename__ = "destruction_receipts"
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    receipt_id: Mapped[str] = mapped_column(String(64), unique=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.consent_id"), unique=True)
    performer_id: Mapped[str] = mapped_column(String(64), index=True)
    production_id: Mapped[str] = mapped_column(String(64), index=True)
    destroyed_at: Mapped[datetime]
    receipt_json: Mapped[str] = mapped_column(Text)


class RevocationRow(Base):
    """One revocation-feed entry; ``cursor`` is the feed position."""

    __tablename__ = "revocations"
    cursor: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.consent_id"))
    consent_version: Mapped[int]
    performer_id: Mapped[str] = mapped_column(String(64))
    production_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class SigningKeyRow(Base):
    """A registry signing key. The private key is PKCS#8 PEM, encrypted when a passphrase is set."""

    __tablename__ = "signing_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(unique=True)  # 1 for the first key, +1 per rotation
    public_key: Mapped[str] = mapped_column(String(64))
    private_key_pem: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class RigRow(Base):
    """A registered rig, bound to one production."""

    __tablename__ = "rigs"
    rig_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    production_id: Mapped[str] = mapped_column(ForeignKey("productions.production_id"))
    name: Mapped[str]
    created_at: Mapped[datetime]


class RigKeyRow(Base):
    """A rig's public key for session-record signatures; retired keys still verify old records."""

    __tablename__ = "rig_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class TokenRow(Base):
    """A bearer token (rig or admin), stored only as its SHA-256 hex digest."""

    __tablename__ = "tokens"
    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "rig" or "admin"
    role: Mapped[str | None] = mapped_column(String(24))  # admins: "registry_admin" | "production_admin"
    rig_id: Mapped[str | None] = mapped_column(ForeignKey("rigs.rig_id"))
    production_id: Mapped[str | None] = mapped_column(
        ForeignKey("productions.production_id")
    )  # production admins
    label: Mapped[str]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ConfirmationRow(Base):
    """An on-set confirmation/decline as the rig reported it."""

    __tablename__ = "confirmations"
    confirmation_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.consent_id"))
    consent_version: Mapped[int]
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"))
    session_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    body_json: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("rig_id", "session_id", "consent_id", name="uq_confirmation_session"),)


class SessionRecordRow(Base):
    """A signed session record, exactly as uploaded; identified by its hash."""

    __tablename__ = "session_records"
    record_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    record_json: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("rig_id", "sequence", name="uq_session_record_sequence"),)


class CheckpointRow(Base):
    """The latest signed checkpoint of a rig's uploaded log."""

    __tablename__ = "checkpoints"
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    checkpoint_json: Mapped[str] = mapped_column(Text)


class BadgeRow(Base):
    """A fallback badge: code (printed on the badge) and a salted scrypt hash of the PIN."""

    __tablename__ = "badges"
    badge_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    production_id: Mapped[str] = mapped_column(ForeignKey("productions.production_id"))
    badge_code: Mapped[str] = mapped_column(String(64))
    performer_id: Mapped[str] = mapped_column(ForeignKey("performers.performer_id"))
    pin_hash: Mapped[str]
    failed_attempts: Mapped[int]
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("production_id", "badge_code", name="uq_badge_code"),)


class RigKeyRotationRow(Base):
    """A rig key retired by the rig's own key-rotation record: it signs no record after that sequence."""

    __tablename__ = "rig_key_rotations"
    retired_key_id: Mapped[str] = mapped_column(ForeignKey("rig_keys.key_id"), primary_key=True)
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"), index=True)
    new_key_id: Mapped[str] = mapped_column(String(64))
    retired_after_sequence: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    rotated_at: Mapped[datetime]


class ProductionCaRow(Base):
    """A production's certificate authority for rig C2PA certificates (docs/provenance.md).

    The private key is PKCS#8 PEM, encrypted like the registry signing keys when
    ``SCANGATE_REGISTRY_KEY_PASSPHRASE`` is set.
    """

    __tablename__ = "production_cas"
    production_id: Mapped[str] = mapped_column(ForeignKey("productions.production_id"), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_pem: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class RigCertificateRow(Base):
    """An X.509 certificate the production CA issued for one rig key; revoked when the key is retired."""

    __tablename__ = "rig_certificates"
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # lowercase hex
    rig_id: Mapped[str] = mapped_column(ForeignKey("rigs.rig_id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("rig_keys.key_id"))
    production_id: Mapped[str] = mapped_column(ForeignKey("productions.production_id"), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(200))


# --- engine --------------------------------------------------------------------------------------


def normalise_db_url(db: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (a path means a SQLite file)."""
    text = str(db)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        # psycopg 3 is the driver this project installs.
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def redact_url(url: str) -> str:
    """The URL with any password hidden (for messages and logs)."""
    try:
        return make_url(normalise_db_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows (destroyed face templates and personal fields) are overwritten with
        # zeros, not left readable in free pages of the file (registry/retention.py).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front, so two server workers never
        # deadlock upgrading a read transaction (SQLITE_BUSY_SNAPSHOT).
        write = connection.get_execution_options().get("scangate_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def pool_size_from_env() -> int:
    """Connections per process for a database server: $SCANGATE_REGISTRY_DB_POOL_SIZE or the default."""
    text = os.environ.get(POOL_SIZE_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_POOL_SIZE
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise DatabaseError(
            f"{POOL_SIZE_ENV_VAR}={text!r} is not a connection count from 1 to 1000",
            hint=f"unset it for the default of {DEFAULT_POOL_SIZE}",
        )
    return int(text)


def make_engine(db: str | Path) -> Engine:
    """An engine for a SQLite file path/URL or a PostgreSQL URL.

    A database server gets a fixed pool of :func:`pool_size_from_env` connections and no
    overflow: under load, requests wait for a pooled connection instead of opening (and then
    closing) extra ones, which with several registry processes on one PostgreSQL cost more
    than the queries and could exhaust the server's connections.
    """
    url = normalise_db_url(db)
    try:
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:":
                prepare_private_sqlite(Path(path))  # 0600 before SQLite opens it (it holds the signing key)
            engine = create_engine(url, connect_args={"check_same_thread": False})
            _configure_sqlite(engine)
        else:
            # Pinged before use by ConnectionLiveness (Database), not on every checkout.
            engine = create_engine(url, pool_size=pool_size_from_env(), max_overflow=0)
    except (ArgumentError, ModuleNotFoundError, ValueError) as exc:
        raise DatabaseError(
            f"cannot use database URL: {exc}",
            where=redact_url(url),
            hint="give a SQLite file path, sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB",
        ) from None
    return engine


def restrict_sqlite_file(engine: Engine) -> None:
    """Make a SQLite database file readable by its owner only (it holds the signing key)."""
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database:
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(engine.url.database + suffix)
        if path.exists():
            os.chmod(path, 0o600)


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    try:
        Base.metadata.create_all(engine)
    except OperationalError as exc:
        raise DatabaseError(f"cannot create tables: {exc.orig}", where=redact_url(str(engine.url))) from None
    restrict_sqlite_file(engine)


def is_initialised(engine: Engine) -> bool:
    """True when the registry tables exist (``registry init`` has run)."""
    try:
        return inspect(engine).has_table("meta") and inspect(engine).has_table("signing_keys")
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open database: {exc.orig}",
            where=redact_url(str(engine.url)),
            hint="check the path or URL, and that the database server is running",
        ) from None


class Database:
    """An engine plus session factories for read-only and writing transactions.

    ``hot`` runs the rig's hot-path reads on the same pool without an ORM Session
    (:mod:`registry.hot_reads`).

    ``template_keys`` is the key that seals face templates in this database; every
    session carries it (``session.info``), so the code that enrols templates or
    builds rosters finds it without being handed it. By default it is read, on first
    use, from the configured key file (see :mod:`registry.template_seal`).
    """

    def __init__(self, engine: Engine, template_keys: TemplateKeySource | None = None) -> None:
        self.engine = engine
        liveness = None if engine.dialect.name == "sqlite" else ConnectionLiveness(engine)
        self.hot = HotReads(engine, liveness)
        self.template_keys = template_keys or TemplateKeySource()
        info = {TEMPLATE_KEYS_INFO: self.template_keys}
        self._reader = sessionmaker(engine, expire_on_commit=False, info=info)
        self._writer = sessionmaker(
            engine.execution_options(scangate_write=True), expire_on_commit=False, info=info
        )

    @classmethod
    def open(cls, db: str | Path, template_keys: TemplateKeySource | None = None) -> Database:
        """Open (not create) a database from a URL or SQLite path."""
        return cls(make_engine(db), template_keys)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (one transaction, so reads are consistent)."""
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back on any error."""
        with self._writer() as session, session.begin():
            yield session

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def template_key(session: Session) -> TemplateKey:
    """The template-sealing key of the database ``session`` belongs to.

    Raises:
        DatabaseError: the key file cannot be used (missing, unreadable, damaged).
    """
    source = session.info.get(TEMPLATE_KEYS_INFO)
    if not isinstance(source, TemplateKeySource):
        raise DatabaseError("this database session has no template key")
    return source.get()
