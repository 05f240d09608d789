"""Admin endpoints (admin bearer token): the same operations as the admin CLI, over HTTP.

Each request is one transaction: a rejected request changes nothing. Registry
administrators may do everything; production administrators only what concerns their
production (see registry.access): each handler states which, and the authorization
matrix test (tests/registry/test_authorization_matrix.py) holds every route to it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.wire import ConsentStatus, Identifier, KeyList
from registry import admin_ops, retention, tokens
from registry.access import (
    Caller,
    consent_in_scope,
    production_in_scope,
    require_registry_admin,
    rig_in_scope,
)
from registry.http_errors import ERROR_RESPONSES
from registry.keys import key_list, new_signing_key
from registry.routes_rig import MAX_POSITION, DbDep, SignerDep, caller_for
from registry.schemas import (
    BadgeIssue,
    BadgeIssued,
    ConsentGrant,
    ConsentIssued,
    Created,
    DestructionReceiptPage,
    PerformerCreate,
    ProductionAdminTokenIssue,
    ProductionCreate,
    RigCreate,
    RigInfo,
    RigKeyAdd,
    SessionRecordPage,
    StatusChange,
    TemplateEnrol,
    TemplateEnrolled,
    TokenIssue,
    TokenIssued,
    TokenList,
    TokenRevoked,
)

_admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description=(
        "Admin bearer token: a registry administrator's (`scangate registry init` or `issue-admin-token`)"
        " or a production administrator's (`issue-admin-token --production ID`, or `POST /v1/admin/tokens`)."
    ),
)


def admin_caller(
    db: DbDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
) -> Caller:
    """The calling administrator (401 without a valid admin token, 403 with a rig token)."""
    return caller_for(db, credentials, "admin")


AdminDep = Annotated[Caller, Depends(admin_caller)]
router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/productions", response_model=Created, status_code=201, summary="Create a production")
def create_production(body: ProductionCreate, caller: AdminDep, db: DbDep) -> Created:
    """Creates a production; 409 if the id exists. Registry administrators only."""
    require_registry_admin(caller, "create productions")
    with db.write() as session:
        admin_ops.add_production(session, body)
    return Created(id=body.production_id)


@router.post("/performers", response_model=Created, status_code=201, summary="Create a performer")
def create_performer(body: PerformerCreate, caller: AdminDep, db: DbDep) -> Created:
    """Creates a performer; 409 if the id exists. Registry administrators only (performers are global)."""
    require_registry_admin(caller, "create performers")
    with db.write() as session:
        admin_ops.add_performer(session, body)
    return Created(id=body.performer_id)


@router.post(
    "/performers/{performer_id}/templates",
    response_model=TemplateEnrolled,
    status_code=201,
    summary="Enrol face templates (a new enrolment version)",
)
def enrol(performer_id: Identifier, body: TemplateEnrol, caller: AdminDep, db: DbDep) -> TemplateEnrolled:
    """Stores 128-d encodings computed elsewhere (the CLI computes them from photos).

    Registry administrators only: a performer's face serves every production's roster.
    """
    require_registry_admin(caller, "enrol face templates")
    with db.write() as session:
        return admin_ops.enrol_templates(session, performer_id, body.encodings, body.source)


@router.post("/consents", response_model=ConsentIssued, status_code=201, summary="Grant a consent")
def grant(body: ConsentGrant, caller: AdminDep, db: DbDep, signers: SignerDep) -> ConsentIssued:
    """Issues a signed consent record (superseding an earlier version when 'supersedes' is given)."""
    production_in_scope(caller, body.production_id)
    with db.write() as session:
        if body.supersedes is not None:
            consent_in_scope(session, caller, body.supersedes)
        return ConsentIssued(consent=admin_ops.grant_consent(session, body, signers.current(session)))


def _change(
    caller: Caller, consent_id: str, status: ConsentStatus, body: StatusChange, db: DbDep, signers: SignerDep
) -> ConsentIssued:
    with db.write() as session:
        consent_in_scope(session, caller, consent_id)
        record = admin_ops.change_consent_status(
            session, consent_id, status, body.reason, signers.current(session)
        )
    return ConsentIssued(consent=record)


@router.post("/consents/{consent_id}/revoke", response_model=ConsentIssued, summary="Revoke a consent")
def revoke(
    consent_id: Identifier, body: StatusChange, caller: AdminDep, db: DbDep, signers: SignerDep
) -> ConsentIssued:
    """Revokes for good; the consent appears in the revocation feed."""
    return _change(caller, consent_id, ConsentStatus.REVOKED, body, db, signers)


@router.post("/consents/{consent_id}/suspend", response_model=ConsentIssued, summary="Suspend a consent")
def suspend(
    consent_id: Identifier, body: StatusChange, caller: AdminDep, db: DbDep, signers: SignerDep
) -> ConsentIssued:
    """Suspends; lift it by granting a new version that supersedes this one."""
    return _change(caller, consent_id, ConsentStatus.SUSPENDED, body, db, signers)


@router.post("/keys/rotate", response_model=KeyList, summary="Rotate the registry signing key")
def rotate(caller: AdminDep, db: DbDep) -> KeyList:
    """Generates a new active key; the old one is retired but stays listed. Registry administrators only."""
    require_registry_admin(caller, "rotate the registry signing key")
    with db.write() as session:
        new_signing_key(session)
        return key_list(session)


@router.post("/rigs", response_model=RigInfo, status_code=201, summary="Register a rig")
def create_rig(body: RigCreate, caller: AdminDep, db: DbDep) -> RigInfo:
    """Registers a rig for one production, with its record-signing public key."""
    production_in_scope(caller, body.production_id)
    with db.write() as session:
        return admin_ops.register_rig(session, body)


@router.post("/rigs/{rig_id}/keys", response_model=RigInfo, status_code=201, summary="Add a rig public key")
def add_rig_key(rig_id: Identifier, body: RigKeyAdd, caller: AdminDep, db: DbDep) -> RigInfo:
    """Adds a rotated rig key; earlier keys keep verifying earlier records."""
    with db.write() as session:
        rig_in_scope(session, caller, rig_id)
        return admin_ops.add_rig_key(session, rig_id, body.public_key, retire_others=body.retire_others)


@router.post(
    "/rigs/{rig_id}/tokens", response_model=TokenIssued, status_code=201, summary="Issue a rig token"
)
def issue_rig_token(rig_id: Identifier, body: TokenIssue, caller: AdminDep, db: DbDep) -> TokenIssued:
    """A new bearer token for the rig (90 days unless `expires_in` says otherwise); shown only here."""
    with db.write() as session:
        return tokens.issue_rig_token(session, caller, rig_id, body.label, body.expires_in)


@router.post(
    "/tokens", response_model=TokenIssued, status_code=201, summary="Issue a production administrator's token"
)
def issue_production_admin_token(body: ProductionAdminTokenIssue, caller: AdminDep, db: DbDep) -> TokenIssued:
    """A token for administering one production (12 hours unless `expires_in` says otherwise).

    Registry administrators only. Registry-administrator tokens are issued only by the CLI
    (`scangate registry issue-admin-token`), which needs access to the database itself.
    """
    require_registry_admin(caller, "issue admin tokens")
    with db.write() as session:
        return tokens.issue_admin_token(session, body.production_id, body.label, body.expires_in)


@router.get("/tokens", response_model=TokenList, summary="List tokens")
def list_tokens(caller: AdminDep, db: DbDep) -> TokenList:
    """Tokens the caller may see (a production administrator: its production's), never the secrets."""
    with db.read() as session:
        return tokens.list_tokens(session, caller)


@router.post("/tokens/{token_id}/revoke", response_model=TokenRevoked, summary="Revoke a token")
def revoke_token(token_id: str, caller: AdminDep, db: DbDep) -> TokenRevoked:
    """Stops accepting a rig or admin token immediately."""
    with db.write() as session:
        return tokens.revoke_token(session, caller, token_id)


@router.post("/badges", response_model=BadgeIssued, status_code=201, summary="Issue a fallback badge")
def issue_badge(body: BadgeIssue, caller: AdminDep, db: DbDep) -> BadgeIssued:
    """A badge code + PIN for the non-biometric fallback; the PIN is shown only here."""
    production_in_scope(caller, body.production_id)
    with db.write() as session:
        return admin_ops.issue_badge(session, body)


@router.get(
    "/session-records", response_model=SessionRecordPage, summary="Collected session records of a rig"
)
def session_records(
    caller: AdminDep,
    db: DbDep,
    rig_id: Annotated[Identifier, Query(description="The rig.")],
    after_sequence: Annotated[
        int, Query(ge=-1, le=MAX_POSITION, description="Return records with a higher sequence.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Maximum records.")] = 200,
) -> SessionRecordPage:
    """Records exactly as uploaded, in sequence order (for review and verification tools).

    A stored row that cannot be served (say, stored by an older version) is listed under
    ``unreadable`` with its problem; it never fails the page.
    """
    with db.read() as session:
        rig_in_scope(session, caller, rig_id)
        return admin_ops.session_record_page(session, rig_id, after_sequence, limit)


@router.get(
    "/destruction-receipts",
    response_model=DestructionReceiptPage,
    summary="Signed receipts of consents destroyed past their destroy_by date",
)
def destruction_receipts(
    caller: AdminDep,
    db: DbDep,
    after: Annotated[
        int,
        Query(ge=0, le=MAX_POSITION, description="Return receipts after this position (0: from the start)."),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=retention.RECEIPT_PAGE_MAX, description="Maximum receipts.")] = 200,
    consent_id: Annotated[Identifier | None, Query(description="Only the receipt of this consent.")] = None,
    performer_id: Annotated[Identifier | None, Query(description="Only receipts of this performer.")] = None,
    production_id: Annotated[
        Identifier | None, Query(description="Only receipts of this production.")
    ] = None,
) -> DestructionReceiptPage:
    """Receipts signed by the registry's key when retention destroyed a consent, oldest first.

    Each names only ids, hashes, dates and counts; verify it against `GET /v1/keys`. Registry
    administrators only: a receipt can say that a performer's templates were kept for a consent
    of another production.
    """
    require_registry_admin(caller, "read destruction receipts")
    with db.read() as session:
        return retention.receipt_page(
            session,
            after=after,
            limit=limit,
            consent_id=consent_id,
            performer_id=performer_id,
            production_id=production_id,
        )
