"""The registry's signed statement of its own time, bound to a nonce the rig chose.

Consent windows and notice periods are judged on registry time, not on the
rig's clock (which the rig cannot prove right). With every consent lookup, and
on ``GET /v1/time``, the rig sends a fresh random nonce; the registry answers
with a :class:`TimeStatement` signed by its active key over the nonce and its
current time. Because the nonce is new for every request, an old statement
cannot be replayed, and because the rig times the round trip on its monotonic
clock, a statement held back in transit only widens the measurement's
uncertainty (Roughtime's argument). See docs/registry.md, "Registry time".
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from agent.wire.base import SignedWireModel, UtcDateTime, WireVersion

TIME_STATEMENT: Final = "scangate.registry-time/1"
"""What a time statement says it is (part of what is signed, so it cannot pass for another object)."""

Nonce = Annotated[str, StringConstraints(min_length=22, max_length=86, pattern=r"^[A-Za-z0-9_-]+$")]
"""A random value chosen by the rig for one request: 22 to 86 base64url characters (≥ 128 bits)."""


class TimeStatement(SignedWireModel):
    """Answer of ``GET /v1/time?nonce=`` (and member ``time_statement`` of a consent list).

    Signed by the registry's active key. Every member is required: a statement
    without its nonce, its time or its signature is not a time statement.
    """

    wire_version: WireVersion = Field(description="Registry protocol version ('scangate.registry/1').")
    statement: Literal["scangate.registry-time/1"] = Field(
        description="What this signed object is: the registry's time ('scangate.registry-time/1')."
    )
    nonce: Nonce = Field(description="The nonce the rig sent with this request, echoed unchanged.")
    registry_time: UtcDateTime = Field(
        description="The registry's clock when it answered (UTC, microseconds when non-zero)."
    )
