"""Retention: destroy consents whose ``destroy_by`` date is over, and issue signed receipts.

A consent is *due* once its ``destroy_by`` day is over on the registry's UTC calendar
(from 00:00 UTC of the next day; :func:`agent.wire.destroy_by_passed`). From that
instant the registry no longer serves it (``registry.rig_ops.servable_consent``); the
purge (``scangate registry purge``, and ``serve`` at start and then daily) then, for
each due consent, in one transaction of its own:

- replaces the stored signed record with a :class:`ConsentTombstone` (ids, the object
  hash of every signed version, dates, the consent document's hash, status ``destroyed``);
- deletes the performer's face templates unless another of their consents that is
  active or suspended, allows biometric checks and is not past its own destroy_by still
  needs them (templates are per performer and shared by every production);
- destroys the performer's name, union membership and representative once no consent
  of theirs is left that is not past destroy_by (the row stays, holding only the id, so
  the tombstones keep pointing at something);
- reduces the consent's on-set confirmations to their ids, clears the free-text reason
  of its earlier feed entries, revokes the performer's badges that no remaining consent
  needs;
- appends a ``destroyed`` entry to the production's revocation feed, so rigs drop their
  copies;
- stores a :class:`agent.wire.DestructionReceipt` signed by the active registry key.

Several purges at once (server workers, several instances on one PostgreSQL, an admin
running the CLI) are safe: each destruction locks the performer row, then the consent
row, and re-checks that the consent is still due and not destroyed; the receipts table
allows one receipt per consent as a last guard. Lock order (performer, consent, feed) is
the one ``grant_consent`` and ``change_consent_status`` use, so they cannot deadlock.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.settings_base import StrictModel
from agent.signing import Signer, object_hash_hex
from agent.wire import (
    ConsentStatus,
    DestructionReceipt,
    Identifier,
    Sha256Hex,
    TemplateOutcome,
    UtcDateTime,
    WireDate,
    utc_now,
)
from registry.admin_ops import compact_json, lock_feed, require_performer
from registry.db import (
    BadgeRow,
    ConfirmationRow,
    ConsentIssueRow,
    ConsentRow,
    Database,
    DestructionReceiptRow,
    FaceTemplateRow,
    PerformerRow,
    RevocationRow,
)
from registry.keys import load_active_signer
from registry.rig_ops import servable_consent
from registry.schemas import DestructionReceiptPage

log = logging.getLogger(__name__)

TOMBSTONE_SCHEMA: Literal["scangate.consent-tombstone/1"] = "scangate.consent-tombstone/1"
DESTROYED_NAME = "(destroyed)"
"""What a performer's display name becomes once their personal details are destroyed."""

_KEPT_MEMBERS = frozenset(
    {
        "schema_version",
        "signature",
        "consent_id",
        "version",
        "supersedes",
        "status",
        "revoked_at",
        "valid_from",
        "valid_until",
        "issued_at",
        "destroy_by",
        "document_sha256",
    }
)
"""Members of a signed consent record a tombstone keeps (or that are not data: schema, signature)."""


class ConsentTombstone(StrictModel):
    """What the registry keeps of a destroyed consent (stored in place of the signed record)."""

    schema_version: Literal["scangate.consent-tombstone/1"] = Field(
        TOMBSTONE_SCHEMA, description="Schema of this tombstone."
    )
    consent_id: Identifier = Field(description="The destroyed consent.")
    version: int = Field(ge=1, description="Its version.")
    supersedes: Identifier | None = Field(description="The version it had replaced, if any.")
    performer_id: Identifier = Field(description="The performer's pseudonymous registry id.")
    production_id: Identifier = Field(description="The production it was for.")
    status: Literal["destroyed"] = Field(description="Always 'destroyed'.")
    status_before: ConsentStatus = Field(description="Its status when it was destroyed.")
    valid_from: UtcDateTime = Field(description="Start of its capture window.")
    valid_until: UtcDateTime = Field(description="End of its capture window.")
    revoked_at: UtcDateTime | None = Field(description="When it stopped being active, if it had.")
    issued_at: UtcDateTime = Field(description="When its last version was signed.")
    destroy_by: WireDate = Field(description="Its destroy_by date.")
    destroyed_at: UtcDateTime = Field(description="When the registry destroyed it.")
    document_sha256: Sha256Hex = Field(description="Hash of the separately signed consent document.")
    consent_hashes: tuple[Sha256Hex, ...] = Field(
        min_length=1, description="Object hash of every signed version, oldest first (see the receipt)."
    )
    receipt_id: Identifier = Field(description="The destruction receipt.")


@dataclass(frozen=True)
class Destruction:
    """What was (or, in a dry run, would be) destroyed for one consent."""

    consent_id: str
    consent_version: int
    performer_id: str
    production_id: str
    destroy_by: date
    consent_fields: tuple[str, ...]
    face_templates: TemplateOutcome
    face_templates_destroyed: int
    performer_details_destroyed: bool
    confirmations_reduced: int
    feed_reasons_cleared: int
    badges_revoked: int
    receipt: DestructionReceipt | None = None
    """The signed receipt (None in a dry run)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``scangate registry purge --json``)."""
        return {
            "consent_id": self.consent_id,
            "consent_version": self.consent_version,
            "performer_id": self.performer_id,
            "production_id": self.production_id,
            "destroy_by": self.destroy_by.isoformat(),
            "consent_fields": list(self.consent_fields),
            "face_templates": self.face_templates.value,
            "face_templates_destroyed": self.face_templates_destroyed,
            "performer_details_destroyed": self.performer_details_destroyed,
            "confirmations_reduced": self.confirmations_reduced,
            "feed_reasons_cleared": self.feed_reasons_cleared,
            "badges_revoked": self.badges_revoked,
            "receipt_id": self.receipt.receipt_id if self.receipt else None,
        }


@dataclass
class PurgeReport:
    """The outcome of one purge run."""

    as_of: datetime
    dry_run: bool
    destructions: list[Destruction] = field(default_factory=list)
    skipped: int = 0
    """Due consents another purge destroyed first (several workers or instances)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``scangate registry purge --json``)."""
        return {
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "dry_run": self.dry_run,
            "consents": len(self.destructions),
            "skipped": self.skipped,
            "destructions": [item.to_dict() for item in self.destructions],
        }


def _utc_date(now: datetime) -> date:
    return now.astimezone(UTC).date()


def due_consents(session: Session, now: datetime) -> list[tuple[str, str]]:
    """(performer_id, consent_id) of every consent past destroy_by at ``now`` and not yet destroyed."""
    today = _utc_date(now)
    rows = session.execute(
        select(ConsentRow.performer_id, ConsentRow.consent_id)
        .where(ConsentRow.destroy_by < today, ConsentRow.status != ConsentStatus.DESTROYED.value)
        .order_by(ConsentRow.performer_id, ConsentRow.consent_id)
    ).all()
    return [(performer_id, consent_id) for performer_id, consent_id in rows]


@dataclass
class _Plan:
    destruction: Destruction
    template_ids: list[str]
    badge_ids: list[int]


def _plan(session: Session, row: ConsentRow, performer: PerformerRow, now: datetime) -> _Plan:
    """What destroying ``row`` at ``now`` touches (read only)."""
    record = json.loads(row.record_json)
    remaining = select(ConsentRow.consent_id).where(
        ConsentRow.performer_id == row.performer_id,
        ConsentRow.consent_id != row.consent_id,
        *servable_consent(now),
    )
    needs_templates = session.scalar(
        remaining.where(
            ConsentRow.biometric_check_consent.is_(True),
            ConsentRow.status.in_((ConsentStatus.ACTIVE.value, ConsentStatus.SUSPENDED.value)),
        ).limit(1)
    )
    template_ids = list(
        session.scalars(
            select(FaceTemplateRow.template_id).where(FaceTemplateRow.performer_id == row.performer_id)
        )
    )
    if not template_ids:
        outcome = TemplateOutcome.NONE_HELD
    elif needs_templates is not None:
        outcome = TemplateOutcome.KEPT_FOR_ANOTHER_CONSENT
    else:
        outcome = TemplateOutcome.DESTROYED
    details_go = performer.details_destroyed_at is None and session.scalar(remaining.limit(1)) is None
    same_production_left = session.scalar(
        remaining.where(ConsentRow.production_id == row.production_id).limit(1)
    )
    badges = select(BadgeRow.badge_id).where(
        BadgeRow.performer_id == row.performer_id, BadgeRow.revoked_at.is_(None)
    )
    if details_go:
        badge_ids = list(session.scalars(badges))
    elif same_production_left is None:
        badge_ids = list(session.scalars(badges.where(BadgeRow.production_id == row.production_id)))
    else:
        badge_ids = []
    confirmations = session.scalar(
        select(func.count())
        .select_from(ConfirmationRow)
        .where(ConfirmationRow.consent_id == row.consent_id, ConfirmationRow.decision != "destroyed")
    )
    reasons = session.scalar(
        select(func.count())
        .select_from(RevocationRow)
        .where(RevocationRow.consent_id == row.consent_id, RevocationRow.reason != "")
    )
    assert row.destroy_by is not None  # only due consents are planned
    destruction = Destruction(
        consent_id=row.consent_id,
        consent_version=row.version,
        performer_id=row.performer_id,
        production_id=row.production_id,
        destroy_by=row.destroy_by,
        consent_fields=tuple(sorted(name for name in record if name not in _KEPT_MEMBERS)),
        face_templates=outcome,
        face_templates_destroyed=len(template_ids) if outcome is TemplateOutcome.DESTROYED else 0,
        performer_details_destroyed=details_go,
        confirmations_reduced=confirmations or 0,
        feed_reasons_cleared=reasons or 0,
        badges_revoked=len(badge_ids),
    )
    return _Plan(destruction, template_ids if outcome is TemplateOutcome.DESTROYED else [], badge_ids)


def _consent_hashes(session: Session, row: ConsentRow) -> tuple[str, ...]:
    hashes = list(
        session.scalars(
            select(ConsentIssueRow.object_hash)
            .where(ConsentIssueRow.consent_id == row.consent_id)
            .order_by(ConsentIssueRow.issued_at, ConsentIssueRow.object_hash)
        )
    )
    current = object_hash_hex(json.loads(row.record_json))
    if current in hashes:  # the record as it stands is the last one
        hashes.remove(current)
    return (*hashes, current)


def destroy_consent(
    session: Session, performer_id: str, consent_id: str, now: datetime, signer: Signer
) -> Destruction | None:
    """Destroy one due consent inside the caller's write transaction; None if it is no longer due.

    Locks the performer, then the consent (PostgreSQL), and re-reads both, so a consent
    another purge destroyed meanwhile is left alone.
    """
    performer = require_performer(session, performer_id, for_update=True)
    row = session.get(ConsentRow, consent_id, with_for_update=True, populate_existing=True)
    if (
        row is None
        or row.status == ConsentStatus.DESTROYED.value
        or row.destroy_by is None
        or row.destroy_by >= _utc_date(now)
    ):
        return None
    plan = _plan(session, row, performer, now)
    record = json.loads(row.record_json)
    receipt_id = "dr-" + secrets.token_hex(8)
    receipt = DestructionReceipt.sign(
        {
            **{
                k: v
                for k, v in plan.destruction.to_dict().items()
                if k not in ("receipt_id", "consent_fields")
            },
            "receipt_id": receipt_id,
            "destroyed_at": now,
            "consent_hashes": _consent_hashes(session, row),
            "document_sha256": record["document_sha256"],
            "consent_fields_destroyed": plan.destruction.consent_fields,
        },
        signer,
    )
    tombstone = ConsentTombstone(
        consent_id=row.consent_id,
        version=row.version,
        supersedes=row.supersedes,
        performer_id=row.performer_id,
        production_id=row.production_id,
        status="destroyed",
        status_before=ConsentStatus(row.status),
        valid_from=record["valid_from"],
        valid_until=record["valid_until"],
        revoked_at=record["revoked_at"],
        issued_at=record["issued_at"],
        destroy_by=row.destroy_by,
        destroyed_at=now,
        document_sha256=record["document_sha256"],
        consent_hashes=receipt.consent_hashes,
        receipt_id=receipt_id,
    )
    row.record_json = compact_json(tombstone.model_dump(mode="json"))
    row.status = ConsentStatus.DESTROYED.value
    row.destroyed_at = now
    if plan.template_ids:
        session.execute(delete(FaceTemplateRow).where(FaceTemplateRow.template_id.in_(plan.template_ids)))
    if plan.destruction.performer_details_destroyed:
        performer.display_name = DESTROYED_NAME
        performer.union_membership = None
        performer.representative = None
        performer.details_destroyed_at = now
    if plan.badge_ids:
        session.execute(update(BadgeRow).where(BadgeRow.badge_id.in_(plan.badge_ids)).values(revoked_at=now))
    for confirmation in session.scalars(
        select(ConfirmationRow).where(ConfirmationRow.consent_id == row.consent_id)
    ):
        confirmation.decision = "destroyed"
        confirmation.body_json = compact_json(
            {
                "consent_id": confirmation.consent_id,
                "consent_version": confirmation.consent_version,
                "rig_id": confirmation.rig_id,
                "session_id": confirmation.session_id,
            }
        )
    session.execute(update(RevocationRow).where(RevocationRow.consent_id == row.consent_id).values(reason=""))
    lock_feed(session, row.production_id)
    session.add(
        RevocationRow(
            consent_id=row.consent_id,
            consent_version=row.version,
            performer_id=row.performer_id,
            production_id=row.production_id,
            status=ConsentStatus.DESTROYED.value,
            revoked_at=now,
            reason=f"destroy_by {row.destroy_by.isoformat()} is over: the registry destroyed this consent"
            f" (receipt {receipt_id}); delete every copy",
        )
    )
    session.add(
        DestructionReceiptRow(
            receipt_id=receipt_id,
            consent_id=row.consent_id,
            performer_id=row.performer_id,
            production_id=row.production_id,
            destroyed_at=now,
            receipt_json=compact_json(receipt.wire_dict()),
        )
    )
    session.flush()
    return replace(plan.destruction, receipt=receipt)


def purge(database: Database, *, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
    """Destroy every consent past destroy_by at ``now`` (registry clock), one transaction each.

    With ``dry_run`` nothing is written: the report lists what a purge now would destroy.

    Raises:
        registry.errors.DatabaseError: no usable signing key (checked before anything is destroyed).
    """
    now = now or utc_now()
    report = PurgeReport(as_of=now, dry_run=dry_run)
    with database.read() as session:
        due = due_consents(session, now)
        if dry_run:
            report.destructions = _dry_run(session, due, now)
            return report
        if not due:
            return report
        signer = load_active_signer(session)
    for performer_id, consent_id in due:
        try:
            with database.write() as session:
                done = destroy_consent(session, performer_id, consent_id, now, signer)
        except IntegrityError:  # another purge stored the receipt first
            done = None
        if done is None:
            report.skipped += 1
            continue
        report.destructions.append(done)
        log.info(
            "retention: destroyed consent %s (receipt %s)",
            consent_id,
            done.receipt and done.receipt.receipt_id,
        )
    if report.destructions:
        _release_freed_pages(database)
    return report


def _dry_run(session: Session, due: Sequence[tuple[str, str]], now: datetime) -> list[Destruction]:
    """Plans for every due consent, as the real run would destroy them in order."""
    gone_templates: set[str] = set()
    gone_details: set[str] = set()
    plans = []
    for performer_id, consent_id in due:
        row = session.get(ConsentRow, consent_id)
        performer = session.get(PerformerRow, performer_id)
        assert row is not None and performer is not None
        plan = _plan(session, row, performer, now).destruction
        if performer_id in gone_templates:
            plan = replace(plan, face_templates=TemplateOutcome.NONE_HELD, face_templates_destroyed=0)
        if performer_id in gone_details:
            plan = replace(plan, performer_details_destroyed=False, badges_revoked=0)
        if plan.face_templates is TemplateOutcome.DESTROYED:
            gone_templates.add(performer_id)
        if plan.performer_details_destroyed:
            gone_details.add(performer_id)
        plans.append(plan)
    return plans


def _release_freed_pages(database: Database) -> None:
    """On SQLite, move the WAL into the file and truncate it, so destroyed rows leave no old copy there.

    Deleted rows are overwritten in place (``secure_delete``, see registry.db); the WAL still
    holds earlier page images until a checkpoint. Best effort: readers may keep it busy.
    """
    if database.engine.url.get_backend_name() != "sqlite":
        return
    with database.engine.connect() as connection:
        busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if busy is not None and busy[0]:
        log.warning(
            "retention: the SQLite WAL could not be truncated now (readers busy); it is at the next checkpoint"
        )


RECEIPT_PAGE_MAX = 1000


def receipt_page(
    session: Session,
    *,
    after: int = 0,
    limit: int = 200,
    consent_id: str | None = None,
    performer_id: str | None = None,
    production_id: str | None = None,
) -> DestructionReceiptPage:
    """Stored destruction receipts after position ``after``, oldest first, optionally filtered."""
    limit = max(1, min(limit, RECEIPT_PAGE_MAX))
    query = select(DestructionReceiptRow).where(DestructionReceiptRow.position > after)
    if consent_id is not None:
        query = query.where(DestructionReceiptRow.consent_id == consent_id)
    if performer_id is not None:
        query = query.where(DestructionReceiptRow.performer_id == performer_id)
    if production_id is not None:
        query = query.where(DestructionReceiptRow.production_id == production_id)
    rows = session.scalars(query.order_by(DestructionReceiptRow.position).limit(limit + 1)).all()
    page = rows[:limit]
    return DestructionReceiptPage(
        receipts=tuple(DestructionReceipt.model_validate_json(row.receipt_json) for row in page),
        next_after=page[-1].position if page else after,
        has_more=len(rows) > limit,
    )
