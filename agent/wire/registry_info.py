"""Registry metadata on the wire: health, signing keys, revocation feed, error bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from agent.wire.base import (
    Identifier,
    KeyId,
    PublicKeyB64,
    StrictBool,
    StrictInt,
    UtcDateTime,
    WireEnvelope,
    WireModel,
)
from agent.wire.consent import ConsentStatus


class Health(WireEnvelope):
    """Answer of ``GET /v1/health`` (no authentication needed)."""

    status: Literal["ok"] = Field(description="'ok' when the registry and its database answer.")
    service: Literal["scangate-registry"] = Field(description="Which service answered.")
    software_version: str = Field(description="Version of the registry software.")
    time: UtcDateTime = Field(
        description="The registry's clock, unsigned and for people only; rigs measure their clock"
        " offset from the signed time statement of GET /v1/time or of a consent lookup."
    )
    active_key_id: KeyId = Field(description="Key id currently signing consents, rosters and checkpoints.")


class KeyStatus(StrEnum):
    """Whether a registry key still signs new objects."""

    ACTIVE = "active"
    RETIRED = "retired"


class RegistryKey(WireModel):
    """A registry signing key's public half. Retired keys stay listed for verification."""

    key_id: KeyId = Field(description="Key id: 'ed25519:' + first 32 hex digits of SHA-256(raw public key).")
    public_key: PublicKeyB64 = Field(description="Raw 32-byte Ed25519 public key, base64url without padding.")
    created_at: UtcDateTime = Field(description="When the key was generated.")
    retired_at: UtcDateTime | None = Field(description="When the key stopped signing; null while active.")
    status: KeyStatus = Field(description="'active' (signs new objects) or 'retired' (verification only).")


class KeyList(WireEnvelope):
    """Answer of ``GET /v1/keys`` (no authentication needed): every key, active first."""

    keys: tuple[RegistryKey, ...] = Field(description="All registry keys; exactly one is active.")


class Revocation(WireModel):
    """One entry of the revocation feed: a consent that must no longer unlock capture.

    Entries are never undone: a suspended consent comes back only as a new
    consent version that supersedes it.
    """

    cursor: StrictInt = Field(ge=1, description="Position in the feed; strictly increasing.")
    consent_id: Identifier = Field(description="The consent that stopped being active.")
    consent_version: StrictInt = Field(ge=1, description="Version of that consent.")
    performer_id: Identifier = Field(description="Performer of that consent.")
    production_id: Identifier = Field(description="Production of that consent.")
    status: Literal[
        ConsentStatus.REVOKED, ConsentStatus.SUSPENDED, ConsentStatus.SUPERSEDED, ConsentStatus.DESTROYED
    ] = Field(
        description="The consent's new status: 'revoked', 'suspended', 'superseded', or 'destroyed' (its"
        " destroy_by date is over: the registry destroyed its personal data; drop every copy)."
    )
    revoked_at: UtcDateTime = Field(description="When the consent stopped being active.")
    reason: str = Field(max_length=1000, description="Why, in plain language (may be empty).")


class RevocationFeed(WireEnvelope):
    """Answer of ``GET /v1/revocations?since=<cursor>``: entries after the cursor, oldest first."""

    items: tuple[Revocation, ...] = Field(description="Feed entries with cursor > since, oldest first.")
    next_cursor: StrictInt = Field(
        ge=0, description="Pass as 'since' next time: the last entry's cursor, or 'since' when empty."
    )
    has_more: StrictBool = Field(
        description="More entries are waiting: ask again right away with next_cursor."
    )

    @model_validator(mode="after")
    def _ordered(self) -> RevocationFeed:
        cursors = [item.cursor for item in self.items]
        if cursors != sorted(set(cursors)):
            raise ValueError("items must be in strictly increasing cursor order")
        if cursors and self.next_cursor != cursors[-1]:
            raise ValueError("next_cursor must be the last item's cursor")
        return self


class ErrorCode(StrEnum):
    """Stable machine-readable error codes of the registry."""

    BAD_REQUEST = "bad_request"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_SIGNATURE = "bad_signature"
    RETIRED_KEY = "retired_key"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_MANY_REQUESTS = "too_many_requests"
    INTERNAL_ERROR = "internal_error"


class ErrorDetail(WireModel):
    """What went wrong, for people (message) and programs (code, detail)."""

    code: ErrorCode = Field(description="Stable machine-readable error code.")
    message: str = Field(description="One plain-language sentence saying what went wrong and what to do.")
    detail: Any = Field(
        None, description="Structured detail, e.g. the list of validation problems; may be null."
    )


class ErrorBody(WireEnvelope):
    """The body of every error response (HTTP 4xx/5xx) of the registry."""

    error: ErrorDetail = Field(description="The error.")
