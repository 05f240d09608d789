"""What rigs ask the registry: consents, roster, revocations, confirmations, fallback.

Who is calling (tokens, roles, production scope) is :mod:`registry.access`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Date, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.signing import Signer
from agent.wire import (
    FACE_MODEL,
    TIME_STATEMENT,
    WIRE_VERSION,
    CaptureType,
    Confirmation,
    ConfirmationReceipt,
    ConsentStatus,
    FaceTemplate,
    FallbackRefusal,
    FallbackVerifyRequest,
    FallbackVerifyResponse,
    Revocation,
    RevocationFeed,
    Roster,
    RosterEntry,
    TimeStatement,
    format_utc,
    utc_now,
)
from registry.access import Caller, caller_from_facts, consent_in_scope, token_facts_select
from registry.admin_ops import compact_json
from registry.credentials import token_digest, verify_pin
from registry.db import (
    BadgeRow,
    ConfirmationRow,
    ConsentRow,
    Database,
    FaceTemplateRow,
    PerformerRow,
    RevocationRow,
    RigRow,
    SigningKeyRow,
    template_key,
)
from registry.errors import ConflictError, ForbiddenError, InvalidInputError
from registry.hot_reads import PreparedSelect, Reads, SessionReads
from registry.keys import load_active_signer

MAX_FAILED_PINS = 5
PIN_LOCKOUT = timedelta(minutes=15)
REVOCATION_PAGE_MAX = 1000


def require_production_access(caller: Caller, production_id: str) -> None:
    """A rig only sees the production it is registered for."""
    if caller.kind == "rig" and caller.production_id != production_id:
        raise ForbiddenError(
            f"rig {caller.rig_id!r} is registered for production {caller.production_id!r},"
            f" not {production_id!r}",
            hint="check rig.production_id in the rig's configuration",
        )


ACTIVE_KEY_ID = PreparedSelect(select(SigningKeyRow.key_id).where(SigningKeyRow.status == "active"))


class SignerCache:
    """Keeps the active registry signer in memory; reloads it when the key is rotated.

    Only the (decrypted) private key is kept: which key is active is read from the
    database on every use, so a rotation takes effect from the next request on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signer: Signer | None = None

    def current(self, session: Session) -> Signer:
        """The signer of the key that is active in the database right now."""
        return self.signer_for(active_key_id(SessionReads(session)), lambda: load_active_signer(session))

    def signer_for(self, active: str | None, load: Callable[[], Signer]) -> Signer:
        """The signer of key ``active`` (read just before), loaded with ``load`` when it is not the cached one."""
        with self._lock:
            if self._signer is None or self._signer.key_id != active:
                self._signer = load()
            return self._signer


def active_key_id(reads: Reads) -> str | None:
    """The id of the active registry signing key (None: there is none)."""
    rows = reads.rows(ACTIVE_KEY_ID)
    return str(rows[0][0]) if rows else None


def time_statement(nonce: str, signer: Signer) -> TimeStatement:
    """The registry's time now, with the rig's nonce, signed by the active key (see agent.wire.registry_time).

    Full microseconds (not the milliseconds stored elsewhere): the rig measures its offset from this.
    """
    payload = {
        "wire_version": WIRE_VERSION,
        "statement": TIME_STATEMENT,
        "nonce": nonce,
        "registry_time": datetime.now(UTC),
    }
    return TimeStatement.sign(payload, signer)


def consent_records(
    reads: Reads, performer_id: str, production_id: str, status: ConsentStatus | None, now: datetime
) -> list[str]:
    """The stored signed JSON of the performer's servable consent records at ``now``, newest version first."""
    query = CONSENT_RECORDS if status is None else CONSENT_RECORDS_WITH_STATUS
    rows = reads.rows(query, **_record_params(performer_id, production_id, status, now))
    return [str(row[0]) for row in rows]


def rig_consent_lookup(
    reads: Reads,
    token: str,
    performer_id: str,
    production_id: str,
    status: ConsentStatus | None,
    now: datetime,
) -> tuple[Caller, list[str]]:
    """Who holds ``token``, and the records :func:`consent_records` reads, in one query (one round trip).

    The records come joined to the token's rig, so only a rig of ``production_id`` gets any;
    they are returned only with the caller, whose checks (token, kind, production) come first.

    Raises:
        UnauthorizedError: as :func:`registry.access.authenticate_in`.
    """
    query = RIG_LOOKUP if status is None else RIG_LOOKUP_WITH_STATUS
    rows = reads.rows(
        query, digest=token_digest(token), **_record_params(performer_id, production_id, status, now)
    )
    caller = caller_from_facts(rows[0] if rows else None)
    return caller, [str(row[-1]) for row in rows if row[-1] is not None]


def _record_params(
    performer_id: str, production_id: str, status: ConsentStatus | None, now: datetime
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "performer_id": performer_id,
        "production_id": production_id,
        "today": now.astimezone(UTC).date(),
    }
    if status is not None:
        params["status"] = status.value
    return params


def consent_list_body(
    records: list[str],
    performer_id: str,
    production_id: str,
    *,
    nonce: str | None = None,
    signer: Signer | None = None,
) -> bytes:
    """The ConsentList body, built from the stored signed JSON without re-serialising records.

    With a rig's ``nonce`` (and the active ``signer``) the body carries ``time_statement``,
    stamped now, after the records were read; without it the body is exactly what it was
    before registry time existed.
    """
    members: dict[str, Any] = {
        "wire_version": WIRE_VERSION,
        "performer_id": performer_id,
        "production_id": production_id,
        "generated_at": format_utc(utc_now()),
    }
    if nonce is not None:
        if signer is None:
            raise ValueError("a time statement needs the active signer")
        members["time_statement"] = time_statement(nonce, signer).wire_dict()
    head = compact_json(members)
    return (head[:-1] + ',"consents":[' + ",".join(records) + "]}").encode("utf-8")


def servable_consent(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Conditions on ConsentRow of a consent the registry may still serve at ``now``.

    Not destroyed, and its destroy_by date not over on the registry's UTC calendar: from
    00:00 UTC after destroy_by a consent is withheld at once, even before the purge job
    has destroyed it (agent.wire.destroy_by_passed states the same rule).
    """
    return _servable_on(now.astimezone(UTC).date())


def _servable_on(today: date | BindParameter[date]) -> tuple[ColumnElement[bool], ...]:
    return (
        ConsentRow.status != ConsentStatus.DESTROYED.value,
        or_(ConsentRow.destroy_by.is_(None), ConsentRow.destroy_by >= today),
    )


def _records_of(*also: ColumnElement[bool]) -> tuple[ColumnElement[bool], ...]:
    """Conditions on ConsentRow of the servable records a lookup names (and ``also``)."""
    return (
        ConsentRow.performer_id == bindparam("performer_id"),
        ConsentRow.production_id == bindparam("production_id"),
        *_servable_on(bindparam("today", type_=Date())),
        *also,
    )


_WITH_STATUS = (ConsentRow.status == bindparam("status"),)
_NEWEST_FIRST = ConsentRow.version.desc()
CONSENT_RECORDS = PreparedSelect(select(ConsentRow.record_json).where(*_records_of()).order_by(_NEWEST_FIRST))
CONSENT_RECORDS_WITH_STATUS = PreparedSelect(
    select(ConsentRow.record_json).where(*_records_of(*_WITH_STATUS)).order_by(_NEWEST_FIRST)
)


def _rig_lookup(*also: ColumnElement[bool]) -> PreparedSelect:
    records = and_(ConsentRow.production_id == RigRow.production_id, *_records_of(*also))
    query = token_facts_select(ConsentRow.record_json).outerjoin(ConsentRow, records)
    return PreparedSelect(query.order_by(_NEWEST_FIRST))


RIG_LOOKUP = _rig_lookup()
RIG_LOOKUP_WITH_STATUS = _rig_lookup(*_WITH_STATUS)


def build_roster(session: Session, production_id: str, signer: Signer) -> Roster:
    """The signed roster: performers with an active, unexpired, biometric-check consent and templates."""
    now = utc_now()
    performer_ids = session.scalars(
        select(ConsentRow.performer_id)
        .where(
            ConsentRow.production_id == production_id,
            ConsentRow.status == ConsentStatus.ACTIVE.value,
            ConsentRow.biometric_check_consent.is_(True),
            ConsentRow.valid_until > now,
            *servable_consent(now),
        )
        .distinct()
        .order_by(ConsentRow.performer_id)
    ).all()
    entries = []
    for performer_id in performer_ids:
        rows = session.scalars(
            select(FaceTemplateRow)
            .where(FaceTemplateRow.performer_id == performer_id)
            .order_by(FaceTemplateRow.version.desc(), FaceTemplateRow.position)
        ).all()
        latest = [row for row in rows if row.version == rows[0].version] if rows else []
        if not latest:
            continue
        performer = session.get(PerformerRow, performer_id)
        assert performer is not None  # foreign key
        key = template_key(session)  # read once per process, then kept
        templates = tuple(
            FaceTemplate(
                template_id=row.template_id,
                version=row.version,
                model=FACE_MODEL,
                encoding=key.open(row.template_id, performer_id, row.model, row.encoding_sealed),
            )
            for row in latest
        )
        entries.append(
            RosterEntry(performer_id=performer_id, display_name=performer.display_name, templates=templates)
        )
    payload = {
        "production_id": production_id,
        "generated_at": now,
        "entries": [entry.model_dump(mode="json") for entry in entries],
    }
    return Roster.sign(payload, signer)


def revocation_feed(session: Session, production_id: str, since: int, limit: int) -> RevocationFeed:
    """Feed entries of one production after cursor ``since``, oldest first."""
    limit = max(1, min(limit, REVOCATION_PAGE_MAX))
    rows = session.scalars(
        select(RevocationRow)
        .where(RevocationRow.production_id == production_id, RevocationRow.cursor > since)
        .order_by(RevocationRow.cursor)
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    items = tuple(
        Revocation(
            cursor=row.cursor,
            consent_id=row.consent_id,
            consent_version=row.consent_version,
            performer_id=row.performer_id,
            production_id=row.production_id,
            status=ConsentStatus(row.status),
            revoked_at=row.revoked_at,
            reason=row.reason,
        )
        for row in page
    )
    return RevocationFeed(
        items=items, next_cursor=items[-1].cursor if items else since, has_more=len(rows) > limit
    )


def record_confirmation(
    database: Database, caller: Caller, consent_id: str, confirmation: Confirmation
) -> ConfirmationReceipt:
    """Store an on-set confirmation; idempotent by (rig, session, consent)."""
    if confirmation.consent_id != consent_id:
        raise InvalidInputError(
            f"body names consent {confirmation.consent_id!r} but the URL names {consent_id!r}"
        )
    if confirmation.rig_id != caller.rig_id:
        raise ForbiddenError(f"this token belongs to rig {caller.rig_id!r}, not {confirmation.rig_id!r}")
    body_json = compact_json(confirmation.model_dump(mode="json"))
    for attempt in range(2):
        try:
            with database.write() as session:
                return _store_confirmation(session, caller, confirmation, body_json)
        except IntegrityError:
            # Another worker stored the same (rig, session, consent) at the same moment: read it back.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _store_confirmation(
    session: Session, caller: Caller, confirmation: Confirmation, body_json: str
) -> ConfirmationReceipt:
    destroyed = session.scalar(
        select(ConsentRow.destroyed_at).where(ConsentRow.consent_id == confirmation.consent_id)
    )
    if destroyed is not None:
        raise ConflictError(
            f"consent {confirmation.consent_id!r} was destroyed (its destroy_by date is over)",
            hint="no confirmation can be recorded for it; capture needs a new consent",
        )
    existing = session.scalars(
        select(ConfirmationRow).where(
            ConfirmationRow.rig_id == confirmation.rig_id,
            ConfirmationRow.session_id == confirmation.session_id,
            ConfirmationRow.consent_id == confirmation.consent_id,
        )
    ).first()
    if existing is not None:
        if existing.body_json != body_json:
            raise ConflictError(
                f"session {confirmation.session_id!r} already reported a different confirmation"
                f" for consent {confirmation.consent_id!r}",
                hint="a confirmation is never rewritten; start a new session to record a new decision",
            )
        return ConfirmationReceipt(
            confirmation_id=existing.confirmation_id, duplicate=True, received_at=existing.received_at
        )
    consent = consent_in_scope(session, caller, confirmation.consent_id)  # another production's: "unknown"
    if consent.version != confirmation.consent_version:
        raise ConflictError(
            f"consent {consent.consent_id!r} has version {consent.version}, not {confirmation.consent_version}"
        )
    permitted = {CaptureType(value) for value in json.loads(consent.record_json)["capture_types"]}
    widened = sorted(set(confirmation.capture_types) - permitted)
    if widened:
        raise InvalidInputError(
            "confirmed capture types outside the consent: " + ", ".join(t.value for t in widened),
            hint="a confirmation may only narrow the consent, never widen it",
        )
    row = ConfirmationRow(
        consent_id=confirmation.consent_id,
        consent_version=confirmation.consent_version,
        rig_id=confirmation.rig_id,
        session_id=confirmation.session_id,
        decision=confirmation.decision.value,
        body_json=body_json,
        received_at=utc_now(),
    )
    session.add(row)
    session.flush()
    return ConfirmationReceipt(
        confirmation_id=row.confirmation_id, duplicate=False, received_at=row.received_at
    )


def verify_fallback(
    session: Session, caller: Caller, request: FallbackVerifyRequest
) -> FallbackVerifyResponse:
    """Check a badge code + PIN; counts failures and locks the badge after too many."""
    require_production_access(caller, request.production_id)
    badge = session.scalars(
        select(BadgeRow).where(
            BadgeRow.production_id == request.production_id, BadgeRow.badge_code == request.badge_code
        )
    ).first()

    def refuse(reason: FallbackRefusal, attempts_left: int | None = None) -> FallbackVerifyResponse:
        return FallbackVerifyResponse(
            verified=False, performer_id=None, refusal=reason, attempts_left=attempts_left
        )

    if badge is None:
        return refuse(FallbackRefusal.UNKNOWN_BADGE)
    if badge.revoked_at is not None:
        return refuse(FallbackRefusal.BADGE_REVOKED)
    now = utc_now()
    if badge.locked_until is not None and badge.locked_until > now:
        return refuse(FallbackRefusal.LOCKED, 0)
    if not verify_pin(request.pin, badge.pin_hash):
        badge.failed_attempts += 1
        if badge.failed_attempts >= MAX_FAILED_PINS:
            badge.failed_attempts = 0
            badge.locked_until = now + PIN_LOCKOUT
            return refuse(FallbackRefusal.LOCKED, 0)
        return refuse(FallbackRefusal.WRONG_PIN, MAX_FAILED_PINS - badge.failed_attempts)
    badge.failed_attempts = 0
    badge.locked_until = None
    return FallbackVerifyResponse(
        verified=True, performer_id=badge.performer_id, refusal=None, attempts_left=None
    )
