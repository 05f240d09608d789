"""Endpoints for rigs (bearer token per rig), plus the public health and key endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from agent import __version__
from agent.signing import Signer
from agent.wire import (
    Checkpoint,
    Confirmation,
    ConfirmationReceipt,
    ConsentList,
    ConsentStatus,
    FallbackVerifyRequest,
    FallbackVerifyResponse,
    Health,
    Identifier,
    KeyList,
    KeyRotationReceipt,
    Nonce,
    RevocationFeed,
    Roster,
    SessionRecordReceipt,
    TimeStatement,
    utc_now,
)
from registry.access import Caller, authenticate_in
from registry.db import Database
from registry.errors import ForbiddenError, UnauthorizedError
from registry.hot_reads import Reads, SessionReads
from registry.http_errors import ERROR_RESPONSES
from registry.intake import current_checkpoint, intake_record, intake_rotation
from registry.keys import key_list, load_active_signer
from registry.rig_ops import (
    REVOCATION_PAGE_MAX,
    SignerCache,
    active_key_id,
    build_roster,
    consent_list_body,
    record_confirmation,
    require_production_access,
    revocation_feed,
    rig_consent_lookup,
    time_statement,
    verify_fallback,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

MAX_POSITION = 2**53 - 1
"""Largest feed cursor or record sequence a query may name (JSON-safe; beyond it the database overflows)."""
_rig_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="rigToken",
    description="Per-rig bearer token (`scangate registry issue-token`).",
)


# The two accessors below are async on purpose: FastAPI runs a plain `def` dependency in its
# thread pool, and these do no I/O, so the thread hop would be pure cost on every request.
async def database(request: Request) -> Database:
    """The registry database of this app."""
    db: Database = request.app.state.database
    return db


async def signer_cache(request: Request) -> SignerCache:
    """The cached active registry signer of this app."""
    cache: SignerCache = request.app.state.signer_cache
    return cache


def caller_in(session: Session, credentials: HTTPAuthorizationCredentials | None, kind: str) -> Caller:
    """Authenticate a bearer token inside ``session`` and require the given caller kind."""
    return caller_of(SessionReads(session), credentials, kind)


def caller_of(reads: Reads, credentials: HTTPAuthorizationCredentials | None, kind: str) -> Caller:
    """Authenticate a bearer token inside a read transaction and require the given caller kind."""
    return require_kind(authenticate_in(reads, bearer_token(credentials)), kind)


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token sent (401 without one)."""
    if credentials is None:
        raise UnauthorizedError(
            "missing bearer token", hint="send the header 'Authorization: Bearer <token>'"
        )
    return credentials.credentials


def require_kind(caller: Caller, kind: str) -> Caller:
    """``caller``, if it is of the given kind (403 otherwise)."""
    if caller.kind != kind:
        raise ForbiddenError(
            f"an {caller.kind} token cannot be used here; this endpoint needs a {kind} token"
        )
    return caller


def caller_for(db: Database, credentials: HTTPAuthorizationCredentials | None, kind: str) -> Caller:
    """Authenticate a bearer token (in its own short transaction) and require the caller kind."""
    return db.hot.run(lambda reads: caller_of(reads, credentials, kind))


def rig_caller(
    db: Annotated[Database, Depends(database)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_rig_bearer)],
) -> Caller:
    """The calling rig (401 without a valid rig token)."""
    return caller_for(db, credentials, "rig")


def signed_by(db: Database, signers: SignerCache, active: str | None) -> Signer:
    """The signer of the key read as active (``active``), loaded in a transaction of its own when
    it is not the cached one: never while a hot-path connection is held, so a pool of N
    connections cannot run dry with N requests each waiting for a second one."""

    def load() -> Signer:
        with db.read() as session:
            return load_active_signer(session)

    return signers.signer_for(active, load)


def active_signer(db: Database, signers: SignerCache) -> Signer:
    """The signer of the key that is active in the database right now."""
    return signed_by(db, signers, db.hot.run(active_key_id))


DbDep = Annotated[Database, Depends(database)]
RigDep = Annotated[Caller, Depends(rig_caller)]
# The hot read endpoints authenticate in the same transaction as their query (one
# pooled connection per request instead of two).
RigCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_rig_bearer)]
SignerDep = Annotated[SignerCache, Depends(signer_cache)]
NONCE_DESCRIPTION = (
    "A fresh random value (22-86 base64url characters) chosen by the rig for this request;"
    " the answer's signed time statement echoes it, so it cannot be an old statement replayed."
)


@router.get("/health", response_model=Health, tags=["public"], summary="Registry health (no token needed)")
def health(db: DbDep, signers: SignerDep) -> Health:
    """Answers when the registry and its database work; reports the registry clock and active key."""
    key_id = active_signer(db, signers).key_id
    return Health(
        status="ok",
        service="scangate-registry",
        software_version=__version__,
        time=utc_now(),
        active_key_id=key_id,
    )


@router.get(
    "/keys", response_model=KeyList, tags=["public"], summary="Registry public keys (no token needed)"
)
def keys(db: DbDep) -> KeyList:
    """Every registry signing key by key id; retired keys stay listed so old signatures verify."""
    with db.read() as session:
        return key_list(session)


@router.get(
    "/productions/{production_id}/roster",
    response_model=Roster,
    tags=["rig"],
    summary="Signed production roster",
)
def roster(production_id: Identifier, credentials: RigCredentials, db: DbDep, signers: SignerDep) -> Roster:
    """Performers with an active, unexpired consent that allows biometric checks, and their templates."""
    with db.read() as session:
        require_production_access(caller_in(session, credentials, "rig"), production_id)
        return build_roster(session, production_id, signers.current(session))


@router.get("/time", response_model=TimeStatement, tags=["rig"], summary="The registry's signed time")
def registry_time(
    credentials: RigCredentials,
    db: DbDep,
    signers: SignerDep,
    nonce: Annotated[Nonce, Query(description=NONCE_DESCRIPTION)],
) -> TimeStatement:
    """The registry's current time and the rig's nonce, signed by the active key.

    Rigs call it periodically to measure their clock offset; consent windows are judged on
    registry time, and a rig clock too far off locks capture (`clock_skew`).
    """

    def authenticated_active_key(reads: Reads) -> str | None:
        caller_of(reads, credentials, "rig")
        return active_key_id(reads)

    return time_statement(nonce, signed_by(db, signers, db.hot.run(authenticated_active_key)))


@router.get("/consents", response_model=ConsentList, tags=["rig"], summary="Signed consent records")
def consents(
    credentials: RigCredentials,
    db: DbDep,
    signers: SignerDep,
    performer_id: Annotated[Identifier, Query(description="The performer.")],
    production_id: Annotated[Identifier, Query(description="The production (must be the rig's).")],
    status: Annotated[ConsentStatus | None, Query(description="Only records with this status.")] = None,
    nonce: Annotated[
        Nonce | None, Query(description=NONCE_DESCRIPTION + " With it, the answer has a time_statement.")
    ] = None,
) -> Response:
    """Every consent record of the performer for the production, newest version first.

    An empty list means no consent: capture must stay locked. With ``nonce``, the answer
    carries the registry's signed time (``time_statement``), on which the rig judges it.
    """
    token = bearer_token(credentials)

    def lookup(reads: Reads) -> tuple[list[str], str | None]:
        caller, records = rig_consent_lookup(reads, token, performer_id, production_id, status, utc_now())
        require_production_access(require_kind(caller, "rig"), production_id)
        return records, active_key_id(reads) if nonce is not None else None

    records, active = db.hot.run(lookup)
    signer = signed_by(db, signers, active) if nonce is not None else None
    body = consent_list_body(records, performer_id, production_id, nonce=nonce, signer=signer)
    return Response(body, media_type="application/json")


@router.get("/revocations", response_model=RevocationFeed, tags=["rig"], summary="Revocation feed")
def revocations(
    credentials: RigCredentials,
    db: DbDep,
    since: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Cursor: return entries after it (0: from the start).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=REVOCATION_PAGE_MAX, description="Maximum entries.")] = 500,
) -> RevocationFeed:
    """Consents of the rig's production that stopped being active, oldest first."""
    with db.read() as session:
        production_id = caller_in(session, credentials, "rig").production_id
        assert production_id is not None  # every rig is registered for a production
        return revocation_feed(session, production_id, since, limit)


@router.post(
    "/consents/{consent_id}/confirmations",
    response_model=ConfirmationReceipt,
    tags=["rig"],
    summary="Report an on-set confirmation or decline",
)
def confirm(
    consent_id: Identifier, confirmation: Confirmation, caller: RigDep, db: DbDep
) -> ConfirmationReceipt:
    """Stores what the performer decided on the touchscreen; idempotent by (rig, session, consent)."""
    return record_confirmation(db, caller, consent_id, confirmation)


async def raw_body(request: Request) -> bytes:
    """The request body as sent (within the body size limit), for endpoints that check it themselves."""
    return await request.body()


_RECORD_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": True,
                "title": "Record",
                "description": (
                    "The rig's signed session record, exactly as in its log: it must fit the"
                    " session-record schema (docs/records.md) and the upload limits (docs/registry.md)."
                ),
            }
        }
    },
}


@router.post(
    "/session-records",
    response_model=SessionRecordReceipt,
    tags=["rig"],
    summary="Upload a signed session record",
    openapi_extra={"requestBody": _RECORD_BODY},
)
def upload_record(
    body: Annotated[bytes, Depends(raw_body)], caller: RigDep, db: DbDep, signers: SignerDep
) -> SessionRecordReceipt:
    """Checks the record's limits, schema and signature (the rig's registered key) and stores it once.

    Idempotent by record hash; a different record at a sequence already held is a 409 conflict.
    """
    return intake_record(db, caller, body, signers)


@router.get(
    "/rigs/{rig_id}/checkpoint",
    response_model=Checkpoint,
    tags=["rig"],
    summary="The rig's signed checkpoint",
)
def checkpoint(rig_id: Identifier, caller: RigDep, db: DbDep) -> Checkpoint:
    """How much of the rig's log the registry holds (a rig may only ask about itself)."""
    if rig_id != caller.rig_id:
        raise ForbiddenError(f"this token belongs to rig {caller.rig_id!r}, not {rig_id!r}")
    with db.read() as session:
        return current_checkpoint(session, rig_id)


@router.post(
    "/fallback/verify",
    response_model=FallbackVerifyResponse,
    tags=["rig"],
    summary="Check a badge code and PIN (non-biometric fallback)",
)
def fallback_verify(request: FallbackVerifyRequest, caller: RigDep, db: DbDep) -> FallbackVerifyResponse:
    """Identifies a performer by badge code + PIN; too many wrong PINs lock the badge for a while."""
    with db.write() as session:
        return verify_fallback(session, caller, request)


@router.post(
    "/rigs/{rig_id}/keys/rotate",
    response_model=KeyRotationReceipt,
    tags=["rig"],
    summary="Register the rig's key rotation (a key-rotation record signed by its current key)",
    openapi_extra={"requestBody": _RECORD_BODY},
)
def rotate_rig_key(
    rig_id: Identifier,
    body: Annotated[bytes, Depends(raw_body)],
    caller: RigDep,
    db: DbDep,
    signers: SignerDep,
) -> KeyRotationReceipt:
    """Stores the rig's key-rotation record like any session record and registers its new key.

    Only the rig itself (its token, and its registered key's signature on the record): the old
    key is retired after the record's sequence, so later records it signs are refused
    (``retired_key``). Idempotent by record hash.
    """
    return intake_rotation(db, caller, rig_id, body, signers)
