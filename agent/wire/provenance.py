"""Wire models of content credentials: the production CA, rig certificates and consent status.

The registry is each production's certificate authority for C2PA signing: registering
a rig key issues the rig an X.509 certificate for that key, chained to the production's
CA certificate (see docs/provenance.md). Rigs fetch their chain with their token; anyone
holding a scan can fetch the CA (with its revocation list) and ask whether the consent a
file carries is still active, without a token.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from agent.wire.base import (
    Identifier,
    KeyId,
    Sha256Hex,
    SignedWireModel,
    UtcDateTime,
    WireDate,
    WireEnvelope,
    WireModel,
    WireVersion,
)
from agent.wire.consent import ConsentStatus

CONSENT_STATUS_STATEMENT: Final = "scangate.consent-status/1"
"""What a consent-status statement says it is (signed, so it cannot pass for another object)."""

PemText = Annotated[
    str, StringConstraints(min_length=1, max_length=64_000, pattern=r"^-----BEGIN [A-Z0-9 ]+-----")
]
"""PEM text (one or more blocks), starting with its first BEGIN line."""

SerialHex = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9a-f]+$")]
"""An X.509 serial number as lowercase hex without leading zeros."""


class RevokedCertificate(WireModel):
    """One rig certificate the production CA has revoked (also in the signed CRL)."""

    serial: SerialHex = Field(description="Serial number of the revoked certificate (lowercase hex).")
    rig_id: Identifier = Field(description="The rig it was issued to.")
    key_id: KeyId = Field(description="The rig key it certified.")
    revoked_at: UtcDateTime = Field(description="When it was revoked (the rig key was retired).")
    reason: str = Field(max_length=200, description="Why, in plain words.")


class ProductionCa(WireEnvelope):
    """Answer of ``GET /v1/productions/{production_id}/ca`` (public): the trust anchor for a production."""

    production_id: Identifier = Field(description="The production whose CA this is.")
    ca_certificate_pem: PemText = Field(
        description="The production CA's self-signed X.509 certificate (Ed25519), PEM: the C2PA trust anchor."
    )
    crl_pem: PemText = Field(
        description="A certificate revocation list signed by the CA, issued with this answer (PEM)."
    )
    revoked: tuple[RevokedCertificate, ...] = Field(
        description="The certificates the CRL lists, with the rig and key each was issued to."
    )
    generated_at: UtcDateTime = Field(description="When the registry produced this answer.")


class RigCertificate(WireEnvelope):
    """Answer of ``GET /v1/rigs/{rig_id}/certificate`` (the rig's token): its C2PA signing chain."""

    rig_id: Identifier = Field(description="The rig the certificate was issued to.")
    production_id: Identifier = Field(description="The production whose CA issued it.")
    key_id: KeyId = Field(description="The rig key the certificate certifies.")
    serial: SerialHex = Field(description="Serial number of the rig certificate (lowercase hex).")
    not_before: UtcDateTime = Field(description="Start of the certificate's validity.")
    not_after: UtcDateTime = Field(description="End of the certificate's validity.")
    chain_pem: PemText = Field(
        description="The rig certificate, then the production CA certificate, PEM: what C2PA signing needs."
    )


class ConsentStatusStatement(SignedWireModel):
    """Answer of ``GET /v1/consents/{consent_id}/status`` (public): is this consent still in force?

    Signed by the registry's active key, with the registry's time, so a verifier can keep
    it as evidence of what the registry said and when.
    """

    wire_version: WireVersion = Field(description="Registry protocol version ('scangate.registry/1').")
    statement: Literal["scangate.consent-status/1"] = Field(
        description="What this signed object is: a consent's current status ('scangate.consent-status/1')."
    )
    consent_id: Identifier = Field(description="The consent asked about.")
    version: int = Field(ge=1, description="Its version.")
    production_id: Identifier = Field(description="The production the consent is for.")
    status: ConsentStatus = Field(description="Its status now: only 'active' still permits use.")
    revoked_at: UtcDateTime | None = Field(
        description="When it stopped being active (revoked, suspended or superseded); null while active."
    )
    superseded_by: Identifier | None = Field(
        description="The consent that replaced it, when it was amended; else null."
    )
    valid_until: UtcDateTime = Field(description="End of the consent's capture window.")
    destroy_by: WireDate | None = Field(
        description="Date by which the scans must be destroyed; null if the consent sets none."
    )
    document_sha256: Sha256Hex = Field(description="Hash of the signed consent document (as asked with).")
    registry_time: UtcDateTime = Field(description="The registry's clock when it answered.")
