"""Non-biometric fallback identification: badge code + PIN (checked by the registry)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from agent.wire.base import Identifier, StrictBool, StrictInt, WireEnvelope, WireModel

BadgeCode = Annotated[str, StringConstraints(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
"""The code printed (and QR-encoded) on a performer's badge."""

Pin = Annotated[str, StringConstraints(min_length=4, max_length=12, pattern=r"^[0-9]+$")]
"""A numeric PIN, 4 to 12 digits; stored only as a salted scrypt hash."""


class FallbackVerifyRequest(WireModel):
    """Body of ``POST /v1/fallback/verify``."""

    production_id: Identifier = Field(description="The rig's production (must match the rig's registration).")
    badge_code: BadgeCode = Field(description="Code read from the performer's badge (typed or scanned).")
    pin: Pin = Field(description="PIN typed by the performer.")


class FallbackRefusal(StrEnum):
    """Why a fallback check failed."""

    UNKNOWN_BADGE = "unknown_badge"
    WRONG_PIN = "wrong_pin"
    LOCKED = "locked"
    BADGE_REVOKED = "badge_revoked"


class FallbackVerifyResponse(WireEnvelope):
    """Answer of ``POST /v1/fallback/verify``: the performer, or a refusal with its reason.

    After too many wrong PINs the badge is locked for a while (refusal 'locked');
    a technician witness is still required on set.
    """

    verified: StrictBool = Field(description="True when badge and PIN match an active badge.")
    performer_id: Identifier | None = Field(description="The identified performer; null when refused.")
    refusal: FallbackRefusal | None = Field(description="Why it was refused; null when verified.")
    attempts_left: StrictInt | None = Field(
        ge=0, description="Wrong PINs left before the badge locks; null when not applicable."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FallbackVerifyResponse:
        if self.verified != (self.performer_id is not None) or self.verified == (self.refusal is not None):
            raise ValueError(
                "a verified answer has a performer_id and no refusal; a refusal has no performer_id"
            )
        return self
