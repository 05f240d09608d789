"""Inputs and outputs of the consent policy: PolicyContext in, Decision out.

Everything is immutable and free of I/O. Codes are stable (they go into
session records and are documented in docs/consent-policy.md); messages are
plain language for the performer and the technician and may be reworded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.clock import ClockReading
from agent.session.model import IdentificationMethod

DEFAULT_MAX_CLOCK_SKEW = timedelta(seconds=60)
"""How far the rig clock may be from registry time before consent is refused (``clock_skew``)."""


class ReasonCode(StrEnum):
    """Why a consent does not allow capture. One code per rule; see docs/consent-policy.md."""

    NO_CONSENT = "no_consent"
    SIGNATURE_UNKNOWN_KEY = "signature_unknown_key"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_KEY_RETIRED = "signature_key_retired"
    STATUS_NOT_ACTIVE = "status_not_active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    CACHE_STALE = "cache_stale"
    CLOCK_SKEW = "clock_skew"
    PERFORMER_MISMATCH = "performer_mismatch"
    PRODUCTION_MISMATCH = "production_mismatch"
    CAPTURE_TYPE_NOT_PERMITTED = "capture_type_not_permitted"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NOTICE_TOO_SHORT = "notice_too_short"
    DOCUMENT_MISSING = "document_missing"
    REPRESENTATION_MISSING = "representation_missing"
    GUARDIAN_REQUIRED = "guardian_required"
    BIOMETRIC_CHECK_NOT_CONSENTED = "biometric_check_not_consented"


class RequirementCode(StrEnum):
    """Something the session must still obtain on set before it may unlock (not a refusal)."""

    GUARDIAN_CO_CONFIRMATION = "guardian_co_confirmation"


class NoticeCode(StrEnum):
    """Information about a decision that does not block it."""

    OFFLINE_COPY = "offline_copy"
    OFFLINE_CLOCK = "offline_clock"
    CLOCK_NOT_VERIFIED = "clock_not_verified"


@dataclass(frozen=True)
class Reason:
    """One failing rule: a stable code and a plain-language message."""

    code: ReasonCode
    message: str


@dataclass(frozen=True)
class Requirement:
    """A condition passed on to the session (e.g. a guardian must co-confirm on the touchscreen)."""

    code: RequirementCode
    message: str


@dataclass(frozen=True)
class Notice:
    """A non-blocking remark (e.g. the consent came from the offline copy)."""

    code: NoticeCode
    message: str


@dataclass(frozen=True)
class TrustedKey:
    """A registry public key the rig trusts (pinned), and when the registry retired it, if it did."""

    key_id: str
    public_key: Ed25519PublicKey
    retired_at: datetime | None = None


@dataclass(frozen=True)
class PolicyContext:
    """What the rig knows when it evaluates a consent.

    Attributes:
        production_id: the production this rig is configured for.
        performer_id: the performer identified in front of the rig.
        requested_capture_types: what the technician wants to capture (CaptureType values).
        identification_method: how the performer was identified (face or fallback).
        trusted_keys: pinned registry keys by key id; the policy verifies the
            record's signature itself, so this rule can never be skipped.
        revoked_consent_ids: consent ids seen on the revocation feed.
        guardian_co_confirmation_available: the touchscreen can take a
            guardian's co-confirmation. If so, a minor's consent yields the
            requirement ``guardian_co_confirmation``; if not, the refusal
            ``guardian_required``.
        cached_at: when the record was fetched, if it comes from the offline
            copy (None: fetched from the registry just now).
        max_staleness: the oldest offline copy that may be used.
        clock: the rig clock's measured offset from registry time (None: not
            measured, e.g. judged from the offline copy after a restart). The
            ``now`` given to :func:`~agent.consent.policy.evaluate` is then
            registry time (rig time + offset).
        max_clock_skew: the largest offset (and measurement uncertainty) accepted;
            beyond it the decision refuses with ``clock_skew``.
    """

    production_id: str
    performer_id: str
    requested_capture_types: frozenset[str]
    identification_method: IdentificationMethod
    trusted_keys: Mapping[str, TrustedKey]
    revoked_consent_ids: frozenset[str] = frozenset()
    guardian_co_confirmation_available: bool = False
    cached_at: datetime | None = None
    max_staleness: timedelta = timedelta(0)
    clock: ClockReading | None = None
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW


@dataclass(frozen=True)
class Decision:
    """The policy's answer.

    ``allowed`` is true exactly when no rule fails (``reasons`` is empty and a
    consent was given). ``requirements`` must still be met on set before
    capture unlocks (the session engine enforces them). ``fallback_required``
    is true when the only failing rule is ``biometric_check_not_consented``:
    identify the performer with the non-biometric fallback and evaluate again.
    ``verified_key_id`` is the registry key whose signature verified (None
    when it did not).
    """

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    notices: tuple[Notice, ...] = ()
    fallback_required: bool = False
    consent_id: str | None = None
    verified_key_id: str | None = None

    def __post_init__(self) -> None:
        if self.allowed == bool(self.reasons):
            raise ValueError("a decision is allowed exactly when it lists no reason")

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in rule order."""
        return tuple(reason.code.value for reason in self.reasons)

    def explain(self) -> str:
        """All reasons as plain-language lines (or a one-line approval)."""
        if self.allowed:
            extra = [r.message for r in self.requirements] + [n.message for n in self.notices]
            return "\n".join(["Consent is valid for this capture.", *extra])
        return "\n".join(f"- {r.message} [{r.code.value}]" for r in self.reasons)
