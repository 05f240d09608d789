"""Values the session state machine reasons about.

Everything here is immutable and free of I/O so that the transition function
(:mod:`agent.session.machine`) stays pure and can be tested as a property.
All times are timezone-aware UTC datetimes supplied by the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class Phase(enum.Enum):
    """Where a session is. Capture is unlocked in ``UNLOCKED`` and nowhere else."""

    IDLE = "idle"
    IDENTIFYING = "identifying"
    CHECKING_CONSENT = "checking_consent"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    UNLOCKED = "unlocked"
    CLOSING = "closing"
    LOCKED_FAULT = "locked_fault"


class Outcome(enum.Enum):
    """How a session ended, as written in its record."""

    CAPTURED = "captured"
    DECLINED = "declined"
    REFUSED = "refused"
    FAULT = "fault"


class LockReason(enum.Enum):
    """Why the gate was locked (or never unlocked). Stable codes for records."""

    PERFORMER_ABSENT = "performer_absent"
    RECOGNITION_STALLED = "recognition_stalled"
    DIFFERENT_SUBJECT = "different_subject"
    UNKNOWN_SUBJECT = "unknown_subject"
    PERFORMER_STOPPED = "performer_stopped"
    PERFORMER_DECLINED = "performer_declined"
    TECHNICIAN_ENDED = "technician_ended"
    CONSENT_WINDOW_ENDED = "consent_window_ended"
    CONSENT_REVOKED = "consent_revoked"
    UNLOCK_TIMEBOX_EXPIRED = "unlock_timebox_expired"
    GATE_LEASE_LAPSED = "gate_lease_lapsed"
    REGISTRY_KEY_UNTRUSTED = "registry_key_untrusted"
    CONSENT_REFUSED = "consent_refused"
    IDENTITY_STALE = "identity_stale"
    SCOPE_INVALID = "scope_invalid"
    GUARDIAN_REQUIRED = "guardian_required"
    WITNESS_MISSING = "witness_missing"
    FAULT = "fault"


class IdentificationMethod(enum.Enum):
    """How the performer was identified."""

    FACE = "face"
    FALLBACK_BADGE_PIN = "fallback_badge_pin"


@dataclass(frozen=True)
class Identity:
    """A verified identity of the performer in front of the rig."""

    performer_id: str
    method: IdentificationMethod
    verified_at: datetime
    display_name: str = ""
    distance: float | None = None
    margin: float | None = None
    frames_voted: int = 0
    template_version: str | None = None
    witness: str | None = None


@dataclass(frozen=True)
class ConsentTerms:
    """What the engine needs to know of a consent that the policy allowed."""

    consent_id: str
    version: int
    performer_id: str
    permitted_capture_types: frozenset[str]
    valid_until: datetime
    minor: bool
    registry_key_id: str


@dataclass(frozen=True)
class ConsentCheck:
    """The consent policy's answer, adapted for the engine.

    ``reasons`` holds (code, message) pairs for every failing rule; it is empty
    exactly when ``allowed`` is true. ``fallback_required`` means the only
    obstacle is that the performer did not consent to biometric checking, so
    the non-biometric fallback must identify them instead.
    """

    allowed: bool
    reasons: tuple[tuple[str, str], ...] = ()
    terms: ConsentTerms | None = None
    fallback_required: bool = False


@dataclass(frozen=True)
class Capture:
    """One captured file or photo reported by the gate."""

    name: str
    sha256: str | None
    captured_at: datetime
    within_unlock_window: bool
    session_id: str | None = None
    size_bytes: int = 0


@dataclass(frozen=True)
class Timing:
    """Time limits of a session (from configuration)."""

    absence_timeout: timedelta = timedelta(seconds=3)
    identity_max_age: timedelta = timedelta(seconds=10)
    unlock_timebox: timedelta = timedelta(minutes=10)
    fallback_identity_max_age: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class SessionContext:
    """Everything the engine knows about the current session."""

    session_id: str = ""
    technician: str = ""
    requested_capture_types: frozenset[str] = frozenset()
    started_at: datetime | None = None
    identity: Identity | None = None
    last_seen_at: datetime | None = None
    fallback_mode: bool = False
    consent: ConsentCheck | None = None
    confirmed_capture_types: frozenset[str] = frozenset()
    guardian_co_confirmed: bool = False
    confirmed_at: datetime | None = None
    declined: bool = False
    declined_at: datetime | None = None
    unlock_identity: Identity | None = None
    revoked_consent_ids: frozenset[str] = frozenset()
    untrusted_key_ids: frozenset[str] = frozenset()
    unlocked_at: datetime | None = None
    unlock_deadline: datetime | None = None
    lock_reasons: tuple[LockReason, ...] = ()
    refusal_codes: tuple[str, ...] = ()
    fault_detail: str | None = None
    captures: tuple[Capture, ...] = ()
    gate_events: tuple[tuple[str, datetime, str], ...] = field(default=())
    record_written: bool = False


@dataclass(frozen=True)
class SessionState:
    """The engine's whole state: a phase and the session's context."""

    phase: Phase = Phase.IDLE
    context: SessionContext = SessionContext()

    @property
    def capture_unlocked(self) -> bool:
        """True exactly when the gate may be open."""
        return self.phase is Phase.UNLOCKED
