"""Endpoints for content credentials: the production CA (public), rig certificates, consent status.

Who may call what, and why (docs/provenance.md, "Trust model"):

* ``GET /v1/productions/{production_id}/ca`` — **public**. Whoever receives a scan needs the
  production's CA certificate (the C2PA trust anchor) and its revocation list; both are public
  by nature (a certificate and a CRL carry no secret, and the production id is in every file).
* ``GET /v1/rigs/{rig_id}/certificate`` — **the rig's own token** (another rig: 403, like the
  checkpoint). The chain is public data too, but only the rig needs it, and answering it may
  renew the certificate.
* ``GET /v1/consents/{consent_id}/status?document_sha256=`` — **public, with a capability**: the
  hash of the signed consent document, which every file's ScanGate consent assertion carries.
  Without the right hash the answer is the same 404 as for an unknown consent, so holding a
  file (or the consent) is what lets someone ask about its consent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from agent.wire import WIRE_VERSION, ConsentRecord, ConsentStatus, Identifier, Sha256Hex
from agent.wire.provenance import (
    CONSENT_STATUS_STATEMENT,
    ConsentStatusStatement,
    ProductionCa,
    RigCertificate,
)
from registry.admin_ops import unknown_consent
from registry.db import ConsentRow
from registry.errors import ForbiddenError
from registry.http_errors import ERROR_RESPONSES
from registry.retention import ConsentTombstone
from registry.rig_ca import current_rig_certificate, production_ca
from registry.routes_rig import DbDep, RigDep, SignerDep

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get(
    "/productions/{production_id}/ca",
    response_model=ProductionCa,
    tags=["public"],
    summary="The production's CA certificate and CRL (no token needed)",
)
def production_ca_route(production_id: Identifier, db: DbDep) -> ProductionCa:
    """The trust anchor for the production's content credentials, and the rig certificates it revoked."""
    with db.write() as session:  # the CA is created on first use for productions made before it existed
        return production_ca(session, production_id)


@router.get(
    "/rigs/{rig_id}/certificate",
    response_model=RigCertificate,
    tags=["rig"],
    summary="The rig's C2PA signing certificate chain",
)
def rig_certificate_route(
    rig_id: Identifier,
    caller: RigDep,
    db: DbDep,
    key_id: Annotated[
        str | None,
        Query(pattern=r"^ed25519:[0-9a-f]{32}$", description="The rig key to certify (default: its newest)."),
    ] = None,
) -> RigCertificate:
    """The rig certificate for one of its active keys, then the production CA certificate.

    Issued when the key was registered; renewed here when it is missing or ends within 30 days.
    """
    if rig_id != caller.rig_id:
        raise ForbiddenError(f"this token belongs to rig {caller.rig_id!r}, not {rig_id!r}")
    with db.write() as session:
        return current_rig_certificate(session, rig_id, key_id)


@router.get(
    "/consents/{consent_id}/status",
    response_model=ConsentStatusStatement,
    tags=["public"],
    summary="Whether a consent is still in force (no token; needs the consent document's hash)",
)
def consent_status_route(
    consent_id: Identifier,
    db: DbDep,
    signers: SignerDep,
    document_sha256: Annotated[
        Sha256Hex,
        Query(description="Hash of the signed consent document, as the file's consent assertion carries it."),
    ],
) -> ConsentStatusStatement:
    """The consent's status now, signed with the registry's time; 404 unless the document hash matches."""
    with db.read() as session:
        row = session.get(ConsentRow, consent_id)
        # A consent destroyed past its destroy_by date keeps a tombstone, not the signed record.
        held: ConsentRecord | ConsentTombstone | None = None
        if row is not None:
            held = (
                ConsentTombstone.model_validate_json(row.record_json)
                if row.destroyed_at is not None
                else ConsentRecord.model_validate_json(row.record_json)
            )
        if held is None or held.document_sha256 != document_sha256:
            raise unknown_consent(consent_id)
        successor = session.scalar(select(ConsentRow.consent_id).where(ConsentRow.supersedes == consent_id))
        signer = signers.current(session)
    if isinstance(held, ConsentTombstone):
        production_id, status = held.production_id, ConsentStatus.DESTROYED
    else:
        production_id, status = held.production.production_id, held.status
    payload = {
        "wire_version": WIRE_VERSION,
        "statement": CONSENT_STATUS_STATEMENT,
        "consent_id": held.consent_id,
        "version": held.version,
        "production_id": production_id,
        "status": status,
        "revoked_at": held.revoked_at,
        "superseded_by": successor,
        "valid_until": held.valid_until,
        "destroy_by": held.destroy_by,
        "document_sha256": held.document_sha256,
        "registry_time": datetime.now(UTC),
    }
    return ConsentStatusStatement.sign(payload, signer)
