"""Administrative operations, shared by the admin HTTP API and the admin CLI.

Each function works inside the caller's write transaction (``Database.write``)
and raises a :class:`~registry.errors.RegistryError` on bad input *before or
instead of* committing anything: one admin command is one transaction, so a
rejected command leaves the database unchanged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.signing import SignatureError, Signer, key_id_for, object_hash_hex, public_key_from_b64
from agent.wire import (
    ENCODING_LENGTH,
    FACE_MODEL,
    ConsentRecord,
    ConsentStatus,
    FaceTemplate,
    describe_validation_error,
    utc_now,
)
from registry.credentials import hash_pin, new_badge_code, new_pin
from registry.db import (
    BadgeRow,
    ConsentIssueRow,
    ConsentRow,
    FaceTemplateRow,
    PerformerRow,
    ProductionRow,
    RevocationRow,
    RigKeyRow,
    RigRow,
    SessionRecordRow,
    template_key,
)
from registry.errors import ConflictError, InvalidInputError, NotFoundError, RegistryError
from registry.json_limits import RECORD_LIMITS, load_json_object
from registry.rig_ca import ensure_production_ca, sync_rig_certificates
from registry.schemas import (
    BadgeIssue,
    BadgeIssued,
    ConsentGrant,
    PerformerCreate,
    ProductionCreate,
    RigCreate,
    RigInfo,
    SessionRecordPage,
    TemplateEnrolled,
    UnreadableRecord,
)

_ALLOWED_CHANGES: dict[ConsentStatus, set[ConsentStatus]] = {
    ConsentStatus.REVOKED: {ConsentStatus.ACTIVE, ConsentStatus.SUSPENDED},
    ConsentStatus.SUSPENDED: {ConsentStatus.ACTIVE},
    ConsentStatus.SUPERSEDED: {ConsentStatus.ACTIVE, ConsentStatus.SUSPENDED},
}


def compact_json(obj: Any) -> str:
    """Compact JSON as stored in the database."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def unknown_production(production_id: str) -> NotFoundError:
    """The answer for a production that does not exist, or that the caller may not see."""
    return NotFoundError(
        f"unknown production {production_id!r}", hint="add it first: `scangate registry add-production`"
    )


def unknown_consent(consent_id: str) -> NotFoundError:
    """The answer for a consent that does not exist, or that the caller may not see."""
    return NotFoundError(f"unknown consent {consent_id!r}")


def unknown_rig(rig_id: str) -> NotFoundError:
    """The answer for a rig that does not exist, or that the caller may not see."""
    return NotFoundError(f"unknown rig {rig_id!r}", hint="register it: `scangate registry add-rig`")


def require_performer(session: Session, performer_id: str, *, for_update: bool = False) -> PerformerRow:
    """The performer row, or NotFoundError; ``for_update`` locks it until commit (PostgreSQL)."""
    row = session.get(
        PerformerRow, performer_id, with_for_update=for_update or None, populate_existing=for_update
    )
    if row is None:
        raise NotFoundError(
            f"unknown performer {performer_id!r}", hint="add it first: `scangate registry add-performer`"
        )
    return row


def _require_details(performer: PerformerRow, action: str) -> None:
    """Refuse to use a performer whose personal details retention destroyed."""
    if performer.details_destroyed_at is not None:
        raise ConflictError(
            f"cannot {action} performer {performer.performer_id!r}: their personal details were destroyed"
            f" on {performer.details_destroyed_at:%Y-%m-%d} (every consent of theirs was past destroy_by)",
            hint="add the performer again under a new id with `scangate registry add-performer`",
        )


def remember_issue(session: Session, record: ConsentRecord) -> None:
    """Keep the object hash of a consent record just signed (see registry.db.ConsentIssueRow)."""
    session.add(
        ConsentIssueRow(
            object_hash=object_hash_hex(record.wire_dict()),
            consent_id=record.consent_id,
            status=record.status.value,
            issued_at=record.issued_at,
        )
    )


def require_production(session: Session, production_id: str) -> ProductionRow:
    """The production row, or NotFoundError."""
    row = session.get(ProductionRow, production_id)
    if row is None:
        raise unknown_production(production_id)
    return row


def require_consent(session: Session, consent_id: str, *, for_update: bool = False) -> ConsentRow:
    """The consent row, or NotFoundError; ``for_update`` locks the row until commit (PostgreSQL)."""
    row = session.get(
        ConsentRow, consent_id, with_for_update=for_update or None, populate_existing=for_update
    )
    if row is None:
        raise unknown_consent(consent_id)
    return row


def require_rig(session: Session, rig_id: str) -> RigRow:
    """The rig row, or NotFoundError."""
    row = session.get(RigRow, rig_id)
    if row is None:
        raise unknown_rig(rig_id)
    return row


def add_production(session: Session, production: ProductionCreate) -> None:
    """Create a production; its id must be new."""
    if session.get(ProductionRow, production.production_id) is not None:
        raise ConflictError(f"production {production.production_id!r} already exists")
    session.add(ProductionRow(**production.model_dump(), created_at=utc_now()))
    session.flush()
    ensure_production_ca(session, production.production_id)  # signs its rigs' C2PA certificates


def add_performer(session: Session, performer: PerformerCreate) -> None:
    """Create a performer; the id must be new."""
    if session.get(PerformerRow, performer.performer_id) is not None:
        raise ConflictError(f"performer {performer.performer_id!r} already exists")
    session.add(PerformerRow(**performer.model_dump(), created_at=utc_now()))
    session.flush()


def enrol_templates(
    session: Session, performer_id: str, encodings: Sequence[Sequence[float]], source: str | None
) -> TemplateEnrolled:
    """Store a new enrolment version (one template per encoding) for a performer."""
    # Locked so a concurrent retention purge of this performer happens before or after, not during.
    _require_details(require_performer(session, performer_id, for_update=True), "enrol")
    latest = session.scalar(
        select(func.max(FaceTemplateRow.version)).where(FaceTemplateRow.performer_id == performer_id)
    )
    version = (latest or 0) + 1
    now = utc_now()
    key = template_key(session)
    templates = []
    for index, encoding in enumerate(encodings):
        if len(encoding) != ENCODING_LENGTH:
            raise InvalidInputError(
                f"encoding {index} has {len(encoding)} values; a face template has {ENCODING_LENGTH}"
            )
        try:
            template = FaceTemplate(
                template_id="tpl-" + secrets.token_hex(8),
                version=version,
                model=FACE_MODEL,
                encoding=tuple(float(value) for value in encoding),
            )
        except ValidationError as exc:
            raise InvalidInputError(
                f"encoding {index} is not a valid face template", detail=describe_validation_error(exc)
            ) from None
        templates.append(template)
        session.add(
            FaceTemplateRow(
                template_id=template.template_id,
                performer_id=performer_id,
                version=version,
                position=index,
                model=FACE_MODEL,
                encoding_sealed=key.seal(template.template_id, performer_id, FACE_MODEL, template.encoding),
                source=source,
                created_at=now,
            )
        )
    session.flush()
    return TemplateEnrolled(performer_id=performer_id, version=version, templates=tuple(templates))


def _sign_consent(payload: dict[str, Any], signer: Signer) -> ConsentRecord:
    try:
        return ConsentRecord.sign(payload, signer)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise InvalidInputError("the consent is not valid: " + "; ".join(problems), detail=problems) from None


def grant_consent(session: Session, grant: ConsentGrant, signer: Signer) -> ConsentRecord:
    """Issue a signed consent record (version 1, or the next version of the one it supersedes)."""
    # Locked (performer, then consent, then feed: the order retention uses too) so a concurrent
    # purge cannot destroy the performer's details while this grant copies them into a record.
    performer = require_performer(session, grant.performer_id, for_update=True)
    _require_details(performer, "grant a consent to")
    production = require_production(session, grant.production_id)
    consent_id = grant.consent_id or "c-" + secrets.token_hex(8)
    if session.get(ConsentRow, consent_id) is not None:
        raise ConflictError(f"consent {consent_id!r} already exists", hint="use a new consent_id")
    version = 1
    previous: ConsentRow | None = None
    if grant.supersedes is not None:
        previous = require_consent(session, grant.supersedes)
        if (previous.performer_id, previous.production_id) != (grant.performer_id, grant.production_id):
            raise InvalidInputError(
                f"consent {grant.supersedes!r} belongs to another performer or production;"
                " a new version must keep both"
            )
        if ConsentStatus(previous.status) not in _ALLOWED_CHANGES[ConsentStatus.SUPERSEDED]:
            raise ConflictError(
                f"consent {grant.supersedes!r} is {previous.status}; only an active or suspended consent"
                " can be superseded",
                hint="grant a new first version (without 'supersedes') instead",
            )
        version = previous.version + 1
    now = utc_now()
    terms = grant.model_dump(mode="json", exclude={"consent_id", "performer_id", "production_id"})
    payload = {
        **terms,
        "consent_id": consent_id,
        "version": version,
        "performer": {
            "performer_id": performer.performer_id,
            "display_name": performer.display_name,
            "union_membership": performer.union_membership,
            "representative": performer.representative,
        },
        "production": {
            "production_id": production.production_id,
            "name": production.name,
            "producer": production.producer,
        },
        "status": ConsentStatus.ACTIVE.value,
        "revoked_at": None,
        "issued_at": now,
    }
    record = _sign_consent(payload, signer)
    if previous is not None:
        change_consent_status(
            session, previous.consent_id, ConsentStatus.SUPERSEDED, f"superseded by {consent_id}", signer
        )
    session.add(
        ConsentRow(
            consent_id=consent_id,
            performer_id=performer.performer_id,
            production_id=production.production_id,
            version=version,
            supersedes=grant.supersedes,
            status=record.status.value,
            biometric_check_consent=record.biometric_check_consent,
            valid_until=record.valid_until,
            issued_at=record.issued_at,
            key_id=record.signature.key_id,
            record_json=compact_json(record.wire_dict()),
            destroy_by=record.destroy_by,
        )
    )
    session.flush()
    remember_issue(session, record)
    session.flush()
    return record


def change_consent_status(
    session: Session, consent_id: str, status: ConsentStatus, reason: str, signer: Signer
) -> ConsentRecord:
    """Re-issue a consent with a non-active status and add the revocation-feed entry.

    Safe with several registry processes on one database: the consent row is locked, so two
    concurrent changes of one consent cannot both pass the status check, and feed entries of
    one production are appended one transaction at a time (see :func:`lock_feed`).
    """
    row = require_consent(session, consent_id, for_update=True)
    current = ConsentStatus(row.status)
    if current not in _ALLOWED_CHANGES[status]:
        raise ConflictError(
            f"consent {consent_id!r} is already {current.value}; it cannot become {status.value}"
        )
    now = utc_now()
    payload = json.loads(row.record_json)
    payload.update(status=status.value, revoked_at=now, issued_at=now)
    record = _sign_consent(payload, signer)
    row.status = status.value
    row.issued_at = now
    row.key_id = record.signature.key_id
    row.record_json = compact_json(record.wire_dict())
    remember_issue(session, record)
    lock_feed(session, row.production_id)
    session.add(
        RevocationRow(
            consent_id=consent_id,
            consent_version=row.version,
            performer_id=row.performer_id,
            production_id=row.production_id,
            status=status.value,
            revoked_at=now,
            reason=reason,
        )
    )
    session.flush()
    return record


def lock_feed(session: Session, production_id: str) -> None:
    """Hold the production's feed until commit, so its entries commit in cursor order.

    Rigs follow the feed by cursor. Without this, a revocation that took cursor 5 but
    commits after one that took cursor 6 would be skipped by a rig that polled in between
    (its cursor is already 6). The lock is taken before the entry's cursor is drawn.
    SQLite serialises writers anyway (BEGIN IMMEDIATE); FOR UPDATE is a no-op there.
    """
    session.execute(
        select(ProductionRow.production_id)
        .where(ProductionRow.production_id == production_id)
        .with_for_update()
    )


def _public_key_id(public_key_b64: str) -> str:
    try:
        return key_id_for(public_key_from_b64(public_key_b64))
    except SignatureError as exc:
        raise InvalidInputError(f"invalid rig public key: {exc.what}") from None


def _add_rig_key(session: Session, rig_id: str, public_key_b64: str) -> str:
    key_id = _public_key_id(public_key_b64)
    existing = session.get(RigKeyRow, key_id)
    if existing is not None:
        raise ConflictError(f"public key {key_id} is already registered (for rig {existing.rig_id!r})")
    session.add(
        RigKeyRow(
            key_id=key_id, rig_id=rig_id, public_key=public_key_b64, added_at=utc_now(), retired_at=None
        )
    )
    return key_id


def rig_info(session: Session, rig: RigRow) -> RigInfo:
    """The public description of a rig."""
    key_ids = session.scalars(select(RigKeyRow.key_id).where(RigKeyRow.rig_id == rig.rig_id)).all()
    return RigInfo(rig_id=rig.rig_id, production_id=rig.production_id, name=rig.name, key_ids=tuple(key_ids))


def register_rig(session: Session, rig: RigCreate) -> RigInfo:
    """Register a rig for a production, with its record-signing public key."""
    require_production(session, rig.production_id)
    if session.get(RigRow, rig.rig_id) is not None:
        raise ConflictError(f"rig {rig.rig_id!r} already exists")
    row = RigRow(rig_id=rig.rig_id, production_id=rig.production_id, name=rig.name, created_at=utc_now())
    session.add(row)
    session.flush()
    _add_rig_key(session, rig.rig_id, rig.public_key)
    session.flush()
    sync_rig_certificates(session, rig.rig_id)  # its C2PA certificate, from the production's CA
    return rig_info(session, row)


def add_rig_key(session: Session, rig_id: str, public_key_b64: str, *, retire_others: bool) -> RigInfo:
    """Add a rotated public key to a rig; old keys keep verifying old records."""
    rig = require_rig(session, rig_id)
    if retire_others:
        now = utc_now()
        for key in session.scalars(
            select(RigKeyRow).where(RigKeyRow.rig_id == rig_id, RigKeyRow.retired_at.is_(None))
        ):
            key.retired_at = now
    _add_rig_key(session, rig_id, public_key_b64)
    session.flush()
    sync_rig_certificates(session, rig_id)  # certifies the new key, revokes retired keys' certificates
    return rig_info(session, rig)


def issue_badge(session: Session, badge: BadgeIssue) -> BadgeIssued:
    """A fallback badge (code + PIN) for a performer on a production; the PIN is stored hashed."""
    require_production(session, badge.production_id)
    require_performer(session, badge.performer_id)
    code = badge.badge_code or new_badge_code()
    clash = session.scalar(
        select(BadgeRow.badge_id).where(
            BadgeRow.production_id == badge.production_id, BadgeRow.badge_code == code
        )
    )
    if clash is not None:
        raise ConflictError(f"badge code {code!r} is already used on production {badge.production_id!r}")
    pin = badge.pin or new_pin()
    session.add(
        BadgeRow(
            production_id=badge.production_id,
            badge_code=code,
            performer_id=badge.performer_id,
            pin_hash=hash_pin(pin),
            failed_attempts=0,
            locked_until=None,
            created_at=utc_now(),
            revoked_at=None,
        )
    )
    session.flush()
    return BadgeIssued(
        production_id=badge.production_id, performer_id=badge.performer_id, badge_code=code, pin=pin
    )


def session_record_page(session: Session, rig_id: str, after_sequence: int, limit: int) -> SessionRecordPage:
    """A page of the rig's stored records by sequence; rows that cannot be served are listed apart.

    Every row is read under the same limits as an upload, so what is served can always be
    serialised; a row that breaks them (or is not JSON) is reported with its problem instead.
    """
    require_rig(session, rig_id)
    rows = session.scalars(
        select(SessionRecordRow)
        .where(SessionRecordRow.rig_id == rig_id, SessionRecordRow.sequence > after_sequence)
        .order_by(SessionRecordRow.sequence)
        .limit(limit)
    ).all()
    records: list[dict[str, Any]] = []
    unreadable: list[UnreadableRecord] = []
    for row in rows:
        try:
            records.append(load_json_object(row.record_json, RECORD_LIMITS, what="the stored record"))
        except RegistryError as exc:
            unreadable.append(
                UnreadableRecord(sequence=row.sequence, record_hash=row.record_hash, problem=exc.what)
            )
    return SessionRecordPage(
        rig_id=rig_id,
        records=tuple(records),
        unreadable=tuple(unreadable),
        next_after_sequence=rows[-1].sequence if rows else after_sequence,
    )
