"""Capture tokens: short-lived, signed by the rig key, bound to one session.

A capture token says "this rig may capture these capture types of this
performer for this production in this session until ``expires_at``". The
session engine mints one when it unlocks; every gate backend checks it before
unlocking, the loopback gate API hands it to capture software, and session
records can carry it as evidence. The signature follows :mod:`agent.signing`
(Ed25519 over the RFC 8785 canonical JSON of the token without ``signature``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import AwareDatetime, Field, ValidationError, field_validator, model_validator

from agent.gate.errors import CaptureTokenError
from agent.settings_base import StrictModel
from agent.signing import Signature, SignatureError, Signer, verify_embedded

TOKEN_SCHEMA = "scangate.capture-token/1"
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Session ids name a folder on disk, so they are restricted to safe file-name characters."""

DEFAULT_CLOCK_SKEW = timedelta(seconds=5)
MAX_TOKEN_LIFETIME = timedelta(hours=12)


class CaptureToken(StrictModel):
    """A signed permission to capture, bound to session, performer, production, types and expiry."""

    schema_id: Literal["scangate.capture-token/1"] = Field(
        alias="schema", description="Token format and version."
    )
    token_id: str = Field(min_length=1, max_length=64, description="Unique id of this token.")
    session_id: str = Field(pattern=SESSION_ID_PATTERN, description="Session the token belongs to.")
    rig_id: str = Field(min_length=1, max_length=64, description="Rig whose key signed the token.")
    performer_id: str = Field(min_length=1, description="Performer whose consent the token relies on.")
    production_id: str = Field(min_length=1, description="Production the capture is for.")
    capture_types: tuple[str, ...] = Field(
        min_length=1, description="Capture types allowed under this token (after any narrowing)."
    )
    issued_at: AwareDatetime = Field(description="When the token was minted (UTC).")
    expires_at: AwareDatetime = Field(description="After this instant the token allows nothing (UTC).")
    signature: Signature = Field(description="Rig key signature over the token without this member.")

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("capture_types")
    @classmethod
    def _distinct_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not item for item in value):
            raise ValueError("capture types must be non-empty strings")
        if len(set(value)) != len(value):
            raise ValueError("capture types must not repeat")
        return value

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> CaptureToken:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be later than issued_at")
        if self.expires_at - self.issued_at > MAX_TOKEN_LIFETIME:
            raise ValueError(f"token lifetime exceeds the maximum of {MAX_TOKEN_LIFETIME}")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The token as a JSON-compatible dict (the signed form)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """The token as compact JSON text."""
        return json.dumps(self.to_wire(), separators=(",", ":"), sort_keys=True)

    def remaining(self, now: datetime) -> timedelta:
        """Time left until expiry (negative once expired)."""
        return self.expires_at - now


def mint_capture_token(
    signer: Signer,
    *,
    session_id: str,
    rig_id: str,
    performer_id: str,
    production_id: str,
    capture_types: Iterable[str],
    lifetime: timedelta,
    now: datetime | None = None,
    token_id: str | None = None,
) -> CaptureToken:
    """Create and sign a capture token with the rig key.

    Raises:
        CaptureTokenError: a field is invalid (e.g. no capture types, bad session id).
    """
    issued_at = (now or datetime.now(UTC)).astimezone(UTC)
    unsigned: dict[str, Any] = {
        "schema": TOKEN_SCHEMA,
        "token_id": token_id or uuid.uuid4().hex,
        "session_id": session_id,
        "rig_id": rig_id,
        "performer_id": performer_id,
        "production_id": production_id,
        "capture_types": list(capture_types),
        "issued_at": _iso(issued_at),
        "expires_at": _iso(issued_at + lifetime),
    }
    signed = signer.sign_into(unsigned)
    try:
        return CaptureToken.model_validate(signed)
    except ValidationError as exc:
        raise CaptureTokenError(f"cannot mint capture token: {_first_problem(exc)}") from None


def verify_capture_token(
    token_json: str | bytes | Mapping[str, Any],
    trusted_rig_keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    *,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> CaptureToken:
    """Parse a capture token and check its signature and validity period.

    The signature is checked over the token exactly as received (not a
    re-serialisation), so a token passed through any JSON tool still verifies.

    Raises:
        CaptureTokenError: malformed, unknown key, bad signature, not yet valid, or expired.
    """
    raw = _as_mapping(token_json)
    try:
        token = CaptureToken.model_validate(raw)
    except ValidationError as exc:
        raise CaptureTokenError(f"malformed capture token: {_first_problem(exc)}") from None
    try:
        verify_embedded(raw, trusted_rig_keys)
    except SignatureError as exc:
        raise CaptureTokenError(
            f"capture token {token.token_id} rejected: {exc.what}",
            hint="tokens must be signed by a rig key pinned in this rig's configuration",
        ) from None
    if now + clock_skew < token.issued_at:
        raise CaptureTokenError(
            f"capture token {token.token_id} is not valid yet (issued {token.issued_at.isoformat()})",
            hint="check the clocks of the machines involved",
        )
    if now >= token.expires_at:
        raise CaptureTokenError(
            f"capture token {token.token_id} expired at {token.expires_at.isoformat()}",
            hint="the session must be re-confirmed to obtain a new token",
        )
    return token


def _as_mapping(token_json: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(token_json, Mapping):
        return token_json
    try:
        parsed = json.loads(token_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaptureTokenError(f"capture token is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise CaptureTokenError("capture token must be a JSON object")
    return parsed


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "(token)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{key}: {err['msg']}{more}"
