"""Building blocks of the registry wire schema: strict scalars, UTC times, signed models.

Every wire model forbids unknown members and is immutable. Scalars are strict
where lax coercion would be dangerous: a consent flag must be a JSON boolean,
never the string ``"yes"``; an integer must be a JSON integer. Datetimes must
carry a UTC offset (naive times are rejected) and always serialise as RFC 3339
UTC with a ``Z`` suffix, so that the canonical JSON a signature covers is the
same on the registry and on every rig.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal, Self, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from agent.errors import ScanGateError
from agent.settings_base import StrictModel
from agent.signing import SIGNATURE_FIELD, Signature, Signer, signed_payload, verify_embedded

WIRE_VERSION: Final = "scangate.registry/1"
"""Version of the registry protocol; every response envelope carries it."""

WireVersion = Literal["scangate.registry/1"]


class WireFormatError(ScanGateError):
    """A message from (or for) the registry does not match the wire schema."""


class WireModel(StrictModel):
    """Base of every wire model: unknown members rejected, immutable."""


class WireEnvelope(WireModel):
    """Base of every top-level response body: carries the protocol version."""

    wire_version: WireVersion = Field(
        WIRE_VERSION, description="Registry protocol version of this message ('scangate.registry/1')."
    )


# --- scalars -------------------------------------------------------------------------------------

StrictBool = Annotated[bool, Strict()]
"""A JSON boolean; strings such as "true" or numbers are rejected."""

StrictInt = Annotated[int, Strict()]
"""A JSON integer; strings and floats are rejected."""

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
"""An id (performer, production, consent, rig, session, template): letters, digits, '.', '_', '-'."""

Sha256Hex = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex digits."""

PublicKeyB64 = Annotated[str, StringConstraints(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$")]
"""A raw 32-byte Ed25519 public key, base64url without padding."""

KeyId = Annotated[str, StringConstraints(pattern=r"^ed25519:[0-9a-f]{32}$")]
"""A key id as defined in agent.signing: 'ed25519:' + 32 hex digits."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A short human-readable text (a name, a reference)."""


# --- UTC datetimes -------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_utc(value: datetime) -> str:
    """The one wire form of an instant: RFC 3339 UTC, 'Z', microseconds only when non-zero."""
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    return naive_utc.isoformat(timespec="microseconds" if naive_utc.microsecond else "seconds") + "Z"


def _parse_utc(value: Any) -> datetime:
    if isinstance(value, str):
        if not _RFC3339.match(value):
            raise ValueError("expected an RFC 3339 date-time with offset, e.g. '2025-03-01T09:30:00Z'")
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError("expected an RFC 3339 date-time string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive date-time: a UTC offset ('Z' or '+hh:mm') is required")
    return value.astimezone(UTC)


def _parse_date(value: Any) -> date:
    if isinstance(value, str):
        if not _ISO_DATE.match(value):
            raise ValueError("expected a date 'YYYY-MM-DD'")
        return date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("expected a date string 'YYYY-MM-DD'")


UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_parse_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2025-03-01T09:30:00Z"}),
]
"""An aware instant, normalised to UTC; naive values are rejected; serialised as '...Z'."""

WireDate = Annotated[
    date,
    BeforeValidator(_parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date", "example": "2030-12-31"}),
]
"""A calendar date, serialised as 'YYYY-MM-DD'."""


def utc_now() -> datetime:
    """The current instant in UTC, truncated to whole milliseconds (as stored and sent)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- signed models -------------------------------------------------------------------------------

_PLACEHOLDER_SIGNATURE: Final = {"alg": "Ed25519", "key_id": "ed25519:" + "0" * 32, "value": "A" * 86}


class SignedWireModel(WireModel):
    """A wire object signed by the registry (or a rig) with the agent.signing scheme.

    The signature covers the RFC 8785 canonical JSON of :meth:`wire_dict` minus
    the ``signature`` member. Because every field serialises deterministically,
    ``model_validate(raw).wire_dict() == raw`` for any object the registry sent,
    so verifying the raw JSON and verifying the parsed model are equivalent.
    """

    signature: Signature = Field(
        description="Ed25519 signature (with key id) over the canonical JSON of every other member."
    )

    def wire_dict(self) -> dict[str, Any]:
        """The JSON form of this object, exactly as sent on the wire."""
        return self.model_dump(mode="json")

    def signed_payload(self) -> dict[str, Any]:
        """The JSON members the signature covers (all but ``signature``)."""
        return signed_payload(self.wire_dict())

    def verify(self, trusted_keys: Mapping[str, Ed25519PublicKey]) -> Signature:
        """Verify the signature against the trusted keys by key id.

        Raises:
            agent.signing.UnknownKeyError: the key id is not trusted.
            agent.signing.BadSignatureError: the object was modified or signed by another key.
        """
        return verify_embedded(self.wire_dict(), trusted_keys)

    @classmethod
    def sign(cls, payload: Mapping[str, Any], signer: Signer) -> Self:
        """Validate ``payload`` (all members but ``signature``), sign it, return the signed model."""
        draft = cls.model_validate({**signed_payload(payload), SIGNATURE_FIELD: _PLACEHOLDER_SIGNATURE})
        normalised = signed_payload(draft.wire_dict())
        return draft.model_copy(update={SIGNATURE_FIELD: signer.sign(normalised)})


# --- parsing with clear errors -------------------------------------------------------------------

M = TypeVar("M", bound=WireModel)


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: 'member.path: message' (unknown members named as such)."""
    problems = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = (
            "unknown member (not part of the wire schema)" if err["type"] == "extra_forbidden" else err["msg"]
        )
        problems.append(f"{path}: {message}")
    return problems


def parse_wire(model: type[M], data: Any, *, where: str | None = None) -> M:
    """Validate ``data`` as ``model``; raises :class:`WireFormatError` listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise WireFormatError(
            f"not a valid {model.__name__} ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems),
            where=where,
            hint="the registry and this rig may speak different protocol versions; compare wire_version",
        ) from None
