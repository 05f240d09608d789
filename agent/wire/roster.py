"""The production roster: performers with biometric-check consent and their face templates."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field

from agent.wire.base import Identifier, ShortText, SignedWireModel, StrictInt, UtcDateTime, WireModel

FACE_MODEL: Final = "dlib_face_recognition_resnet_model_v1"
"""The only face encoder whose templates the registry stores and sends."""

ENCODING_LENGTH: Final = 128

EncodingValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class FaceTemplate(WireModel):
    """One 128-d face encoding of a performer (never the photo it was computed from)."""

    template_id: Identifier = Field(description="Registry id of this template.")
    version: StrictInt = Field(ge=1, description="Enrolment version; re-enrolling a performer increments it.")
    model: Literal["dlib_face_recognition_resnet_model_v1"] = Field(
        description="Encoder that produced the encoding; matching needs the same model."
    )
    encoding: tuple[EncodingValue, ...] = Field(
        min_length=ENCODING_LENGTH,
        max_length=ENCODING_LENGTH,
        description="The 128 floats of the face encoding (finite numbers).",
    )


class RosterEntry(WireModel):
    """A performer on the roster with the templates to recognise them by."""

    performer_id: Identifier = Field(description="Registry id of the performer.")
    display_name: ShortText = Field(description="Name shown on the touchscreen.")
    templates: tuple[FaceTemplate, ...] = Field(
        min_length=1, description="Face templates of the performer's latest enrolment."
    )


class Roster(SignedWireModel):
    """Answer of ``GET /v1/productions/{production_id}/roster``, signed by the registry.

    Lists only performers who hold an active, not yet expired consent for the
    production with ``biometric_check_consent`` true and at least one template.
    Templates are meant to be kept in memory for the session only.
    """

    wire_version: Literal["scangate.registry/1"] = Field(
        "scangate.registry/1", description="Registry protocol version of this message."
    )
    production_id: Identifier = Field(description="The production this roster is for.")
    generated_at: UtcDateTime = Field(description="When the registry produced (signed) this roster.")
    entries: tuple[RosterEntry, ...] = Field(description="Performers on the roster, by performer_id.")
