"""Initialising a registry database, and seeding one for the demo and tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from agent.wire import CaptureType, ConsentRecord, Guardian, RepresentationBasis, utc_now
from registry import admin_ops, tokens
from registry.db import SCHEMA_VERSION, Database, Meta, create_schema, is_initialised, redact_url
from registry.errors import ConflictError, DatabaseError
from registry.keys import load_active_signer, new_signing_key
from registry.schemas import (
    BadgeIssue,
    ConsentGrant,
    PerformerCreate,
    ProductionCreate,
    RigCreate,
    TokenIssued,
)


@dataclass(frozen=True)
class Initialised:
    """What ``registry init`` created: the first signing key and the first (registry) admin token.

    The token expires after 12 hours like every admin token; a new one is made any time
    with ``scangate registry issue-admin-token``, which works on the database directly.
    """

    key_id: str
    admin_token: TokenIssued
    template_key_id: str
    """Id of the key that seals face templates in this database."""
    template_key_origin: str
    """Its file (or 'memory' for an embedded registry)."""
    template_key_created: bool
    """Whether ``init`` created the key file (else an existing one is used)."""


def initialise(database: Database, *, admin_label: str = "created by registry init") -> Initialised:
    """Create the tables, the first signing key and an admin token (one transaction).

    Raises:
        ConflictError: the database is already initialised.
    """
    if is_initialised(database.engine):
        with database.read() as session:
            if session.get(Meta, "schema_version") is not None:
                raise ConflictError(
                    "the registry database is already initialised",
                    where=redact_url(str(database.engine.url)),
                    hint="use `issue-admin-token` for a new admin token, `rotate-key` for a new key",
                )
    # The template key first: if its file cannot be made, nothing is created.
    template_key, key_created = database.template_keys.get_or_create()
    create_schema(database.engine)
    with database.write() as session:
        session.add(Meta(key="schema_version", value=SCHEMA_VERSION))
        session.add(Meta(key="template_key_id", value=template_key.key_id))
        key = new_signing_key(session)
        token = tokens.issue_admin_token(session, None, admin_label)  # 12 h, like any admin token
    return Initialised(
        key_id=key.key_id,
        admin_token=token,
        template_key_id=template_key.key_id,
        template_key_origin=template_key.origin,
        template_key_created=key_created,
    )


def check_schema(database: Database) -> None:
    """Refuse databases that are not initialised or of another schema version."""
    if not is_initialised(database.engine):
        raise DatabaseError(
            "the registry database is not initialised",
            where=redact_url(str(database.engine.url)),
            hint="run `scangate registry init --db URL` first",
        )
    with database.read() as session:
        version = session.scalar(select(Meta.value).where(Meta.key == "schema_version"))
    if version != SCHEMA_VERSION:
        raise DatabaseError(
            f"the database has schema version {version!r}; this registry needs {SCHEMA_VERSION!r}"
            " and does not convert databases",
            where=redact_url(str(database.engine.url)),
            hint="keep serving it with the ScanGate release that created it, or upgrade it by hand as"
            " docs/registry.md 'Upgrading the database' describes (back it up first)",
        )
    # Tables added within schema 2 before any release (content credentials): create them if missing.
    create_schema(database.engine)


def check_template_key(database: Database) -> None:
    """Refuse to serve without the template key this database's templates were sealed with.

    Raises:
        DatabaseError: the key file cannot be used, or it is another key than the database's.
    """
    key = database.template_keys.get()
    with database.read() as session:
        expected = session.scalar(select(Meta.value).where(Meta.key == "template_key_id"))
    if expected != key.key_id:
        raise DatabaseError(
            f"the template key {key.key_id} ({key.origin}) is not this database's template key {expected}",
            where=redact_url(str(database.engine.url)),
            hint="give the key file the database was initialised with (--template-key or"
            " $SCANGATE_REGISTRY_TEMPLATE_KEY); without it no face template can be read",
        )


@dataclass(frozen=True)
class SeedPerformer:
    """A performer to seed, with the terms of their consent."""

    performer_id: str
    display_name: str
    encodings: Sequence[Sequence[float]] = ()
    capture_types: Sequence[CaptureType] = (CaptureType.FACE, CaptureType.FACS_EXPRESSIONS)
    biometric_check_consent: bool = True
    minor: bool = False
    badge_code: str | None = None
    pin: str | None = None
    intended_use_text: str = (
        "Face and expression scans to build a digital double used only in the visual effects"
        " of this production's stunt sequences. No AI training, no reuse in other productions."
    )


@dataclass(frozen=True)
class SeedResult:
    """What was seeded: the rig's bearer token and the consent records issued."""

    rig_token: str
    key_id: str
    consents: dict[str, ConsentRecord] = field(default_factory=dict)


def demo_grant(
    performer: SeedPerformer, production_id: str, now: datetime, *, consent_id: str | None = None
) -> ConsentGrant:
    """A plausible consent grant for a seeded performer: valid from a day ago for 30 days."""
    return ConsentGrant(
        consent_id=consent_id or f"c-{performer.performer_id}",
        performer_id=performer.performer_id,
        production_id=production_id,
        capture_types=tuple(performer.capture_types),
        intended_use_text=performer.intended_use_text,
        use_categories=("vfx_digital_double",),
        ai_training_allowed=False,
        synthetic_performance_allowed=False,
        third_party_licensing_allowed=False,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        notice_given_at=now - timedelta(days=3),
        notice_hours=48,
        minor=performer.minor,
        guardian=Guardian(name="Guardian of " + performer.display_name, relationship="parent")
        if performer.minor
        else None,
        biometric_check_consent=performer.biometric_check_consent,
        destroy_by=(now + timedelta(days=365 * 5)).date(),
        remuneration_reference=f"SCAN-FEE-{performer.performer_id}",
        document_sha256="0" * 63 + "1",
        representation_basis=RepresentationBasis.UNION_AGREEMENT,
    )


def seed(
    database: Database,
    *,
    rig_public_key: str,
    performers: Sequence[SeedPerformer],
    production_id: str = "demo-production",
    production_name: str = "ScanGate Demo Production",
    rig_id: str = "rig-1",
    now: datetime | None = None,
) -> SeedResult:
    """Seed an initialised database with a production, a rig, performers and consents (one transaction).

    Used by the demo (embedded registry) and by tests.
    """
    check_schema(database)
    now = now or utc_now()
    with database.write() as session:
        signer = load_active_signer(session)
        admin_ops.add_production(
            session,
            ProductionCreate(production_id=production_id, name=production_name, producer="ScanGate Studios"),
        )
        admin_ops.register_rig(
            session, RigCreate(rig_id=rig_id, production_id=production_id, public_key=rig_public_key)
        )
        token = tokens.issue_rig_token(session, None, rig_id, "seeded")  # 90 days: outlives any demo
        consents: dict[str, ConsentRecord] = {}
        for performer in performers:
            admin_ops.add_performer(
                session,
                PerformerCreate(
                    performer_id=performer.performer_id,
                    display_name=performer.display_name,
                    union_membership="SAG-AFTRA (demo)",
                ),
            )
            if performer.encodings:
                admin_ops.enrol_templates(session, performer.performer_id, performer.encodings, "seed")
            if performer.badge_code:
                admin_ops.issue_badge(
                    session,
                    BadgeIssue(
                        production_id=production_id,
                        performer_id=performer.performer_id,
                        badge_code=performer.badge_code,
                        pin=performer.pin,
                    ),
                )
            record = admin_ops.grant_consent(session, demo_grant(performer, production_id, now), signer)
            consents[performer.performer_id] = record
    return SeedResult(rig_token=token.token, key_id=signer.key_id, consents=consents)
