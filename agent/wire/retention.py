"""Destruction receipts: the registry's signed statement that it destroyed a consent's personal data.

When a consent's ``destroy_by`` date is over, the registry destroys the personal
fields of the stored consent (and, when nothing else needs them, the performer's
face templates and personal details) and issues one :class:`DestructionReceipt`,
signed with its active key by the same scheme as consent records. It names only
pseudonymous ids and hashes, so it can be handed to the performer or their union
as proof without itself becoming personal data to destroy. See docs/security.md,
"Retention and destruction".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from agent.wire.base import (
    Identifier,
    Sha256Hex,
    SignedWireModel,
    StrictBool,
    StrictInt,
    UtcDateTime,
    WireDate,
)

DESTRUCTION_RECEIPT_SCHEMA: Literal["scangate.destruction-receipt/1"] = "scangate.destruction-receipt/1"


class TemplateOutcome(StrEnum):
    """What happened to the performer's face templates when this consent was destroyed.

    - ``destroyed``: every template was deleted (no other consent needed them).
    - ``kept_for_another_consent``: another consent of the performer (possibly for another
      production) still allows biometric checks and is not past its own destroy_by date;
      the templates are destroyed with the last such consent.
    - ``none_held``: the registry held no template of the performer.
    """

    DESTROYED = "destroyed"
    KEPT_FOR_ANOTHER_CONSENT = "kept_for_another_consent"
    NONE_HELD = "none_held"


class DestructionReceipt(SignedWireModel):
    """Signed proof that the registry destroyed a consent's personal data once its destroy_by was over."""

    schema_version: Literal["scangate.destruction-receipt/1"] = Field(
        DESTRUCTION_RECEIPT_SCHEMA, description="Schema of this receipt ('scangate.destruction-receipt/1')."
    )
    receipt_id: Identifier = Field(description="Registry id of this receipt.")
    consent_id: Identifier = Field(description="The destroyed consent.")
    consent_version: StrictInt = Field(ge=1, description="Its version.")
    performer_id: Identifier = Field(description="The performer's pseudonymous registry id.")
    production_id: Identifier = Field(description="The production the consent was for.")
    destroy_by: WireDate = Field(description="The consent's destroy_by date, now over.")
    destroyed_at: UtcDateTime = Field(description="When the registry destroyed the data (registry clock).")
    consent_hashes: tuple[Sha256Hex, ...] = Field(
        min_length=1,
        description="Object hash (SHA-256 of the RFC 8785 JSON, signature included) of every version"
        " of the consent record the registry signed, oldest first; the last is the record as it stood"
        " when destroyed. Session records cite one of these as consent.consent_hash.",
    )
    document_sha256: Sha256Hex = Field(
        description="Hash of the separately signed consent document the record summarised (kept)."
    )
    consent_fields_destroyed: tuple[str, ...] = Field(
        min_length=1, description="Members of the stored consent record that were destroyed."
    )
    face_templates: TemplateOutcome = Field(description="What happened to the performer's face templates.")
    face_templates_destroyed: StrictInt = Field(ge=0, description="How many templates were deleted.")
    performer_details_destroyed: StrictBool = Field(
        description="True when the performer's name, union membership and representative were destroyed"
        " too (no consent of theirs is left); false while another consent still names them."
    )
    confirmations_reduced: StrictInt = Field(
        ge=0, description="On-set confirmations of the consent reduced to their ids."
    )
    feed_reasons_cleared: StrictInt = Field(
        ge=0, description="Earlier revocation-feed entries of the consent whose free-text reason was cleared."
    )
    badges_revoked: StrictInt = Field(ge=0, description="Fallback badges of the performer revoked.")

    @model_validator(mode="after")
    def _consistent(self) -> DestructionReceipt:
        if (self.face_templates is TemplateOutcome.DESTROYED) != (self.face_templates_destroyed > 0):
            raise ValueError(
                "face_templates_destroyed must be > 0 exactly when face_templates is 'destroyed'"
            )
        if len(set(self.consent_hashes)) != len(self.consent_hashes):
            raise ValueError("consent_hashes contains duplicates")
        return self
