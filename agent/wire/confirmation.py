"""On-set confirmation (or decline) of a consent, reported by the rig to the registry."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from agent.wire.base import Identifier, StrictBool, StrictInt, UtcDateTime, WireEnvelope, WireModel
from agent.wire.consent import CaptureType


class ConfirmationDecision(StrEnum):
    """What the performer did on the touchscreen."""

    CONFIRMED = "confirmed"
    NARROWED = "narrowed"
    DECLINED = "declined"


class Confirmation(WireModel):
    """Body of ``POST /v1/consents/{consent_id}/confirmations``.

    Idempotent by (rig_id, session_id, consent_id): sending the same body again
    is acknowledged as a duplicate; a different body for the same key is a 409.
    """

    consent_id: Identifier = Field(description="The consent that was shown (must match the URL).")
    consent_version: StrictInt = Field(ge=1, description="Version of the consent that was shown.")
    rig_id: Identifier = Field(description="The rig where it happened (must match the bearer token's rig).")
    session_id: Identifier = Field(description="The rig's session id.")
    decision: ConfirmationDecision = Field(
        description="confirmed, narrowed (fewer capture types) or declined."
    )
    capture_types: tuple[CaptureType, ...] = Field(
        description="Capture types the performer confirmed (a subset of the consent's); empty when declined."
    )
    guardian_co_confirmed: StrictBool = Field(
        description="A guardian co-confirmed on the touchscreen (required for minors to unlock)."
    )
    confirmed_at: UtcDateTime = Field(description="When the performer tapped (rig clock, UTC).")

    @model_validator(mode="after")
    def _consistent(self) -> Confirmation:
        if len(set(self.capture_types)) != len(self.capture_types):
            raise ValueError("capture_types contains duplicates")
        if self.decision is ConfirmationDecision.DECLINED and self.capture_types:
            raise ValueError("a declined confirmation confirms no capture types")
        if self.decision is not ConfirmationDecision.DECLINED and not self.capture_types:
            raise ValueError("a confirmed or narrowed confirmation names at least one capture type")
        return self


class ConfirmationReceipt(WireEnvelope):
    """Answer to a confirmation: stored now, or already stored earlier (duplicate)."""

    confirmation_id: StrictInt = Field(ge=1, description="Registry id of the stored confirmation.")
    duplicate: StrictBool = Field(description="True when this exact confirmation had been stored before.")
    received_at: UtcDateTime = Field(description="When the registry first stored it.")
