"""Consent records: what a performer agreed to, for which production, signed by the registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from agent.wire.base import (
    Identifier,
    Sha256Hex,
    ShortText,
    SignedWireModel,
    StrictBool,
    StrictInt,
    UtcDateTime,
    WireDate,
    WireEnvelope,
    WireModel,
)
from agent.wire.registry_time import TimeStatement

CONSENT_SCHEMA: Literal["scangate.consent/1"] = "scangate.consent/1"


class CaptureType(StrEnum):
    """The kinds of capture a consent can permit (a closed set; new kinds need a new wire version).

    - ``face``: neutral face / head photogrammetry (stills from a ring of cameras).
    - ``facs_expressions``: a FACS expression set (many facial poses, for rigging a face model).
    - ``full_body``: full-body photogrammetry (body shape and texture, clothed or in a scan suit).
    - ``hands``: close-up hand scans.
    - ``motion_capture``: body or facial motion recorded over time (performance capture).
    """

    FACE = "face"
    FACS_EXPRESSIONS = "facs_expressions"
    FULL_BODY = "full_body"
    HANDS = "hands"
    MOTION_CAPTURE = "motion_capture"


class ConsentStatus(StrEnum):
    """Lifecycle of a consent record. Only ``active`` consents can ever unlock capture.

    Transitions are one-way: active → suspended | revoked | superseded, and
    suspended → revoked | superseded. A suspension is lifted by granting a new
    version that supersedes the suspended one.

    ``destroyed`` is reached from any status once the consent's ``destroy_by``
    date is over: the registry then destroys the record's personal fields and
    never serves it again, so no :class:`ConsentRecord` carries this status; only
    the revocation feed names it (see docs/security.md, "Retention and destruction").
    """

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    DESTROYED = "destroyed"


class RepresentationBasis(StrEnum):
    """On what basis the performer was represented when the consent was negotiated."""

    UNION_AGREEMENT = "union_agreement"
    LEGAL_COUNSEL = "legal_counsel"
    NONE = "none"


UseCategory = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
]
"""A machine-readable use category, e.g. 'vfx_digital_double', 'marketing_stills'."""


class Performer(WireModel):
    """A performer as the registry knows them (no biometric data)."""

    performer_id: Identifier = Field(description="Stable registry id of the performer.")
    display_name: ShortText = Field(description="Name shown on the touchscreen and in records.")
    union_membership: ShortText | None = Field(
        None, description="Union and membership reference (e.g. 'SAG-AFTRA 1234567'), if any."
    )
    representative: ShortText | None = Field(
        None, description="Agent, counsel or union representative who negotiated for the performer, if any."
    )


class Production(WireModel):
    """A production (film, series, game) that scans performers."""

    production_id: Identifier = Field(description="Stable registry id of the production.")
    name: ShortText = Field(description="Title of the production.")
    producer: ShortText = Field(description="Producing company responsible for the scans.")


class Guardian(WireModel):
    """The guardian of a minor performer, who must co-confirm on the touchscreen."""

    name: ShortText = Field(description="Full name of the guardian.")
    relationship: ShortText = Field(description="Relationship to the performer, e.g. 'parent'.")


class ConsentRecord(SignedWireModel):
    """One signed consent: a performer's agreement to specific captures for one production.

    Signed by the registry (Ed25519 over the RFC 8785 canonical JSON of every
    member but ``signature``). A status change (revocation, suspension,
    supersession) re-issues the record with a new ``issued_at`` and signature.
    """

    schema_version: Literal["scangate.consent/1"] = Field(
        CONSENT_SCHEMA, description="Schema of this record ('scangate.consent/1')."
    )
    consent_id: Identifier = Field(description="Registry id of this consent (one per granted version).")
    version: StrictInt = Field(
        ge=1, description="Version in the consent's lineage: 1, or supersedes.version + 1."
    )
    supersedes: Identifier | None = Field(
        description="consent_id of the earlier version this one replaces; null for a first grant."
    )
    performer: Performer = Field(description="Who consented.")
    production: Production = Field(description="The one production this consent is valid for.")
    capture_types: tuple[CaptureType, ...] = Field(
        min_length=1, description="Capture kinds permitted (no duplicates); anything else is refused."
    )
    intended_use_text: str = Field(
        min_length=1,
        max_length=10000,
        description="The intended use, verbatim from the signed consent document; shown to the performer.",
    )
    use_categories: tuple[UseCategory, ...] = Field(
        min_length=1, description="Machine-readable use categories (e.g. 'vfx_digital_double')."
    )
    ai_training_allowed: StrictBool = Field(description="May the scans be used to train AI models?")
    synthetic_performance_allowed: StrictBool = Field(
        description="May the scans drive a synthetic (digital replica) performance?"
    )
    third_party_licensing_allowed: StrictBool = Field(
        description="May the scans be licensed to third parties?"
    )
    valid_from: UtcDateTime = Field(description="Capture is permitted from this instant (UTC).")
    valid_until: UtcDateTime = Field(description="Capture is permitted until this instant (UTC).")
    notice_given_at: UtcDateTime | None = Field(
        description="When the performer was given notice of the scan session; null if never."
    )
    notice_hours: StrictInt | None = Field(
        ge=0,
        le=8760,
        description=(
            "Minimum notice in hours: capture is permitted only at or after notice_given_at + notice_hours."
            " Null: no notice requirement."
        ),
    )
    status: ConsentStatus = Field(description="Lifecycle status; only 'active' can unlock capture.")
    revoked_at: UtcDateTime | None = Field(
        description="When the consent stopped being active (revoked, suspended or superseded); null while active."
    )
    minor: StrictBool = Field(description="The performer is a minor: a guardian must co-confirm on set.")
    guardian: Guardian | None = Field(description="The guardian; required exactly when minor is true.")
    biometric_check_consent: StrictBool = Field(
        description=(
            "The performer agreed to face matching at the rig; if false, the non-biometric fallback"
            " (badge code + PIN + technician witness) identifies them and no templates are sent."
        )
    )
    destroy_by: WireDate | None = Field(
        description="Date by which the scans must be destroyed; null if none."
    )
    remuneration_reference: ShortText | None = Field(
        description="Reference of the payment agreement for the scans (e.g. contract number), if any."
    )
    document_sha256: Sha256Hex = Field(
        description="SHA-256 (hex) of the separately signed consent document this record summarises."
    )
    representation_basis: RepresentationBasis = Field(
        description="How the performer was represented when negotiating: union agreement, legal counsel, none."
    )
    issued_at: UtcDateTime = Field(
        description="When the registry issued (signed) this version of the record."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ConsentRecord:
        problems = []
        if len(set(self.capture_types)) != len(self.capture_types):
            problems.append("capture_types contains duplicates")
        if len(set(self.use_categories)) != len(self.use_categories):
            problems.append("use_categories contains duplicates")
        if self.valid_until <= self.valid_from:
            problems.append("valid_until must be after valid_from")
        if self.minor != (self.guardian is not None):
            problems.append("guardian must be given exactly when minor is true")
        if (self.status is ConsentStatus.ACTIVE) != (self.revoked_at is None):
            problems.append("revoked_at must be set exactly when status is not 'active'")
        if (self.version == 1) != (self.supersedes is None):
            problems.append("supersedes must be set exactly when version > 1")
        if self.supersedes == self.consent_id:
            problems.append("a consent cannot supersede itself")
        if self.status is ConsentStatus.DESTROYED:
            problems.append("a destroyed consent has no record (only the revocation feed names it)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def destroy_by_passed(destroy_by: date | None, now: datetime) -> bool:
    """True once the day ``destroy_by`` is over at ``now`` (judged on the UTC calendar).

    The date itself is still allowed: a consent with ``destroy_by`` 2030-12-31 is
    past it from 2031-01-01T00:00:00Z. Registry purge, rig caches and ``verify``
    all judge with this one rule.
    """
    return destroy_by is not None and now.astimezone(UTC).date() > destroy_by


class ConsentList(WireEnvelope):
    """Answer of ``GET /v1/consents``: every consent record of a performer for a production."""

    performer_id: Identifier = Field(description="The performer asked about.")
    production_id: Identifier = Field(description="The production asked about.")
    consents: tuple[ConsentRecord, ...] = Field(
        description="Signed records, newest version first (all statuses unless filtered)."
    )
    generated_at: UtcDateTime = Field(description="When the registry produced this answer.")
    time_statement: TimeStatement | None = Field(
        None,
        description="The registry's signed time, bound to the request's 'nonce' query parameter;"
        " present exactly when the request carried a nonce (a rig judges consent on this time).",
    )
