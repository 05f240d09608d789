"""Admin request and response models (registry-only; rigs never see these).

The same models validate admin HTTP bodies and the files given to the admin
CLI (a consent grant file is a :class:`ConsentGrant` in JSON or TOML).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from agent.wire import (
    CaptureType,
    ConsentRecord,
    DestructionReceipt,
    FaceTemplate,
    Guardian,
    Identifier,
    Performer,
    Production,
    PublicKeyB64,
    RepresentationBasis,
    Sha256Hex,
    UtcDateTime,
    WireDate,
    WireEnvelope,
    WireModel,
)
from agent.wire.base import ShortText, StrictBool, StrictInt
from agent.wire.consent import UseCategory
from agent.wire.fallback import BadgeCode, Pin
from agent.wire.roster import EncodingValue


class ProductionCreate(Production):
    """Body of ``POST /v1/admin/productions``."""


class PerformerCreate(Performer):
    """Body of ``POST /v1/admin/performers``."""


class TemplateEnrol(WireModel):
    """Body of ``POST /v1/admin/performers/{performer_id}/templates``: a new enrolment version."""

    encodings: tuple[Annotated[tuple[EncodingValue, ...], Field(min_length=128, max_length=128)], ...] = (
        Field(
            min_length=1,
            max_length=32,
            description="One 128-d encoding (dlib_face_recognition_resnet_model_v1) per enrolment photo.",
        )
    )
    source: ShortText | None = Field(None, description="Where the encodings came from (not the photos).")


class TemplateEnrolled(WireEnvelope):
    """The stored templates of a new enrolment version."""

    performer_id: Identifier = Field(description="The performer enrolled.")
    version: StrictInt = Field(ge=1, description="The new enrolment version (the roster sends the latest).")
    templates: tuple[FaceTemplate, ...] = Field(description="The stored templates.")


class ConsentGrant(WireModel):
    """A consent to grant (body of ``POST /v1/admin/consents``, or a JSON/TOML grant file).

    Performer and production details are filled in from the registry; the
    version, status, issue time and signature are set by the registry.
    """

    consent_id: Identifier | None = Field(
        None, description="Id for the new consent; generated when omitted. Must not exist yet."
    )
    performer_id: Identifier = Field(description="An existing performer.")
    production_id: Identifier = Field(description="An existing production.")
    supersedes: Identifier | None = Field(
        None,
        description=(
            "An active or suspended consent of the same performer and production that this one replaces;"
            " it becomes 'superseded'."
        ),
    )
    capture_types: tuple[CaptureType, ...] = Field(min_length=1, description="Permitted capture kinds.")
    intended_use_text: str = Field(
        min_length=1, max_length=10000, description="Intended use, verbatim from the signed consent document."
    )
    use_categories: tuple[UseCategory, ...] = Field(
        min_length=1, description="Machine-readable use categories."
    )
    ai_training_allowed: StrictBool = Field(description="May the scans be used to train AI models?")
    synthetic_performance_allowed: StrictBool = Field(
        description="May the scans drive a synthetic performance?"
    )
    third_party_licensing_allowed: StrictBool = Field(
        description="May the scans be licensed to third parties?"
    )
    valid_from: UtcDateTime = Field(description="Capture permitted from (UTC offset required).")
    valid_until: UtcDateTime = Field(description="Capture permitted until (UTC offset required).")
    notice_given_at: UtcDateTime | None = Field(None, description="When notice of the scan was given.")
    notice_hours: StrictInt | None = Field(None, ge=0, le=8760, description="Minimum notice in hours.")
    minor: StrictBool = Field(False, description="The performer is a minor (a guardian is then required).")
    guardian: Guardian | None = Field(None, description="The guardian of a minor.")
    biometric_check_consent: StrictBool = Field(
        description="The performer agreed to face matching at the rig."
    )
    destroy_by: WireDate | None = Field(None, description="Date by which the scans must be destroyed.")
    remuneration_reference: ShortText | None = Field(None, description="Payment agreement reference.")
    document_sha256: Sha256Hex = Field(description="SHA-256 (hex) of the signed consent document.")
    representation_basis: RepresentationBasis = Field(description="union_agreement, legal_counsel or none.")


class StatusChange(WireModel):
    """Body of ``POST /v1/admin/consents/{consent_id}/revoke`` and ``.../suspend``."""

    reason: str = Field("", max_length=1000, description="Why, in plain language (goes into the feed).")


class ConsentIssued(WireEnvelope):
    """A consent record as issued (or re-issued) by the registry."""

    consent: ConsentRecord = Field(description="The signed record.")


class RigCreate(WireModel):
    """Body of ``POST /v1/admin/rigs``: register a rig and its record-signing public key."""

    rig_id: Identifier = Field(description="The rig's id (its config's rig.rig_id).")
    production_id: Identifier = Field(description="The production the rig serves; it sees only this one.")
    name: ShortText = Field("Scanning rig", description="Human-readable rig name.")
    public_key: PublicKeyB64 = Field(
        description="The rig's Ed25519 record-signing public key (raw, base64url)."
    )


class RigKeyAdd(WireModel):
    """Body of ``POST /v1/admin/rigs/{rig_id}/keys``: add a (rotated) rig public key."""

    public_key: PublicKeyB64 = Field(description="The rig's new Ed25519 public key (raw, base64url).")
    retire_others: StrictBool = Field(
        True, description="Mark the rig's other keys retired (they still verify old records)."
    )


class RigInfo(WireEnvelope):
    """A registered rig."""

    rig_id: Identifier = Field(description="The rig's id.")
    production_id: Identifier = Field(description="The production the rig serves.")
    name: ShortText = Field(description="Human-readable rig name.")
    key_ids: tuple[str, ...] = Field(
        description="Key ids of the rig's registered public keys (all still verify)."
    )


Lifetime = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,5}[mhd]$")]
"""A token lifetime: a whole number of minutes (m), hours (h) or days (d), e.g. "90d", "12h"."""
AdminRole = Literal["registry_admin", "production_admin"]

_LIFETIME = "Lifetime: a whole number and m (minutes), h (hours) or d (days), e.g. '12h'."


class TokenIssue(WireModel):
    """Body of ``POST /v1/admin/rigs/{rig_id}/tokens``."""

    label: str = Field("", max_length=200, description="Free note, e.g. who installed the token where.")
    expires_in: Lifetime | None = Field(
        None, description=_LIFETIME + " Default 90d, at most 366d: re-provision rigs before it ends."
    )


class ProductionAdminTokenIssue(WireModel):
    """Body of ``POST /v1/admin/tokens``: a token for a production administrator (registry admins only)."""

    production_id: Identifier = Field(description="The one production this administrator may administer.")
    label: str = Field("", max_length=200, description="Free note, e.g. who holds the token.")
    expires_in: Lifetime | None = Field(None, description=_LIFETIME + " Default 12h, at most 30d.")


class TokenIssued(WireEnvelope):
    """A new bearer token. The token itself is shown only here, once; the registry keeps its hash."""

    token_id: str = Field(description="Id to list and revoke the token by.")
    kind: Literal["rig", "admin"] = Field(description="Rig token (rig endpoints) or admin token.")
    role: AdminRole | None = Field(None, description="For admin tokens: what the administrator may do.")
    rig_id: Identifier | None = Field(description="The rig the token belongs to; null for admin tokens.")
    production_id: Identifier | None = Field(
        None, description="A production administrator's production (null for other tokens)."
    )
    expires_at: UtcDateTime = Field(description="When the registry stops accepting the token.")
    token: str = Field(description="The secret bearer token; store it in the rig's config now.")


class TokenInfo(WireModel):
    """A token as listed: never the token itself nor its hash."""

    token_id: str = Field(description="Id to revoke the token by.")
    kind: Literal["rig", "admin"] = Field(description="Rig token or admin token.")
    role: AdminRole | None = Field(description="For admin tokens: registry_admin or production_admin.")
    rig_id: Identifier | None = Field(description="The rig of a rig token.")
    production_id: Identifier | None = Field(
        description="The rig's production, or a production administrator's; null for registry admins."
    )
    label: str = Field(description="The note given when the token was issued.")
    created_at: UtcDateTime = Field(description="When it was issued.")
    expires_at: UtcDateTime = Field(description="When it stops (or stopped) being accepted.")
    revoked_at: UtcDateTime | None = Field(description="When it was revoked; null if it was not.")


class TokenList(WireEnvelope):
    """Answer of ``GET /v1/admin/tokens``: the tokens the caller may see, oldest first."""

    tokens: tuple[TokenInfo, ...] = Field(description="Tokens, oldest first (revoked and expired included).")


class TokenRevoked(WireEnvelope):
    """Answer of a token revocation."""

    token_id: str = Field(description="The revoked token.")
    revoked_at: UtcDateTime = Field(description="When it stopped being accepted.")


class BadgeIssue(WireModel):
    """Body of ``POST /v1/admin/badges``: a fallback badge for a performer on a production."""

    production_id: Identifier = Field(description="The production.")
    performer_id: Identifier = Field(description="The performer.")
    badge_code: BadgeCode | None = Field(
        None, description="Code to print on the badge; generated when omitted."
    )
    pin: Pin | None = Field(None, description="PIN to use; a random 6-digit PIN when omitted.")


class BadgeIssued(WireEnvelope):
    """A new badge. The PIN is shown only here, once; the registry keeps a salted hash."""

    production_id: Identifier = Field(description="The production.")
    performer_id: Identifier = Field(description="The performer.")
    badge_code: BadgeCode = Field(description="Code printed on the badge.")
    pin: Pin = Field(description="The PIN; hand it to the performer privately.")


class Created(WireEnvelope):
    """Acknowledges a created production or performer."""

    id: Identifier = Field(description="The id of what was created.")


class UnreadableRecord(WireModel):
    """A stored row of the page that cannot be served as a record (e.g. stored by an older version)."""

    sequence: StrictInt = Field(ge=0, description="Sequence number the row is stored under.")
    record_hash: str = Field(max_length=64, description="Hash the row is stored under.")
    problem: str = Field(description="Why the stored text cannot be served, and where in it.")


class SessionRecordPage(WireEnvelope):
    """Answer of ``GET /v1/admin/session-records``: a page of a rig's collected records."""

    rig_id: Identifier = Field(description="The rig.")
    records: tuple[dict[str, Any], ...] = Field(
        description="Signed records exactly as uploaded, by sequence (unreadable rows left out)."
    )
    unreadable: tuple[UnreadableRecord, ...] = Field(
        description="Rows of this page that cannot be served, each with its problem; usually empty."
    )
    next_after_sequence: StrictInt = Field(ge=-1, description="Pass as after_sequence for the next page.")


class DestructionReceiptPage(WireEnvelope):
    """Answer of ``GET /v1/admin/destruction-receipts``: signed destruction receipts, oldest first."""

    receipts: tuple[DestructionReceipt, ...] = Field(
        description="Receipts signed by the registry (verify them against GET /v1/keys), oldest first."
    )
    next_after: StrictInt = Field(ge=0, description="Pass as 'after' for the next page.")
    has_more: StrictBool = Field(description="More receipts are waiting: ask again with next_after.")
