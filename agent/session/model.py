"""Values the session state machine reasons about.

Everything here is immutable and free of I/O so that the transition function
(:mod:`agent.session.machine`) stays pure and can be tested as a property.
All times are timezone-aware UTC datetimes supplied by the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agent.clock import ClockReading


class Phase(enum.Enum):
    """Where a session is. Capture is unlocked in ``UNLOCKED`` and nowhere else."""

    IDLE = "idle"
    IDENTIFYING = "identifying"
    CHALLENGING = "challenging"
    CHECKING_CONSENT = "checking_consent"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    UNLOCKED = "unlocked"
    CLOSING = "closing"
    LOCKED_FAULT = "locked_fault"


ACTIVE_PHASES = (
    Phase.IDENTIFYING,
    Phase.CHALLENGING,
    Phase.CHECKING_CONSENT,
    Phase.AWAITING_CONFIRMATION,
    Phase.UNLOCKED,
)
"""The phases of a session in progress (one is open and will end in a record)."""


class Outcome(enum.Enum):
    """How a session ended, as written in its record."""

    CAPTURED = "captured"
    DECLINED = "declined"
    REFUSED = "refused"
    FAULT = "fault"


class LockReason(enum.Enum):
    """Why the gate was locked (or never unlocked). Stable codes for records."""

    PERFORMER_ABSENT = "performer_absent"
    MULTIPLE_SUBJECTS = "multiple_subjects"
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
    REGISTRY_UNREACHABLE = "registry_unreachable"
    CLOCK_SKEW = "clock_skew"
    LIVENESS_FAILED = "liveness_failed"
    LIVENESS_MISSING = "liveness_missing"
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
    """End of the consent window on the clock the engine runs on (the rig's): from a registry
    answer, the signed end minus the measured offset and its uncertainty."""
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
    source: str = "registry"
    """'registry' (the registry answered) or 'offline_copy' (judged on the rig's cached copy)."""
    asked_at: datetime | None = None
    """When the registry was asked (the status is known to be current as of then)."""
    clock: ClockReading | None = None
    """The clock offset measured with this answer, if any."""


@dataclass(frozen=True)
class Capture:
    """One captured file or photo reported by the gate."""

    name: str
    sha256: str | None
    captured_at: datetime
    within_unlock_window: bool
    session_id: str | None = None
    size_bytes: int = 0
    capture_type: str | None = None
    quarantined: bool = False
    flag_reason: str | None = None
    """Why the gate refused or flagged it; None only for a clean capture."""
    event_id: str = ""
    """The gate's id of the capture event (links the journaled capture to the record)."""

    @property
    def clean(self) -> bool:
        """Inside an unlock window and not flagged for any reason (type, hash, folder, ...)."""
        return self.within_unlock_window and self.flag_reason is None


@dataclass(frozen=True)
class Timing:
    """Time limits of a session (from configuration)."""

    absence_timeout: timedelta = timedelta(seconds=3)
    identity_max_age: timedelta = timedelta(seconds=10)
    unlock_timebox: timedelta = timedelta(minutes=10)
    fallback_identity_max_age: timedelta = timedelta(minutes=5)
    consent_max_age: timedelta = timedelta(seconds=30)
    consent_recheck_interval: timedelta = timedelta(seconds=5)
    liveness_required: bool = False
    """A face identification unlocks only with a passed liveness challenge (``[liveness]``)."""
    liveness_retries: int = 1
    """How many more challenges a performer may try after a failed one."""
    liveness_max_age: timedelta = timedelta(minutes=10)
    """How long a passed challenge vouches for the identification."""


@dataclass(frozen=True)
class LivenessOutcome:
    """How liveness was established (or not) for one identification, for the engine and the record.

    ``method``: ``challenge`` (the performer did the steps in front of the camera) or
    ``synthetic`` (the demo's stand-in camera: never evidence, always labelled).
    ``steps`` holds (step, passed, reason, evidence) per step asked, in order.
    """

    performer_id: str
    method: str
    passed: bool
    completed_at: datetime
    attempt: int
    steps: tuple[tuple[str, bool, str, tuple[tuple[str, float], ...]], ...] = ()
    model: str = ""


@dataclass(frozen=True)
class SessionContext:
    """Everything the engine knows about the current session."""

    session_id: str = ""
    technician: str = ""
    requested_capture_types: frozenset[str] = frozenset()
    started_at: datetime | None = None
    identity: Identity | None = None
    last_seen_at: datetime | None = None
    unseen_frames: tuple[int, int] = (0, 0)
    """Analysed frames since the performer was last seen: (all, those with several faces)."""
    fallback_mode: bool = False
    liveness: LivenessOutcome | None = None
    liveness_history: tuple[LivenessOutcome, ...] = ()
    """Every challenge outcome of this session, in order (the record lists them all)."""
    liveness_attempts: int = 0
    liveness_required: bool = False
    """Whether this session's face identification needed a challenge (``off`` is recorded as such)."""
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
    unlock_deadline_reason: LockReason | None = None
    """What the unlock deadline is: the time-box's end or the consent window's end."""
    consent_confirmed_at: datetime | None = None
    """Last time the registry itself confirmed the consent (None: never, or offline copy only)."""
    consent_checked_at: datetime | None = None
    """Last time an allowing answer was asked for (registry, or offline copy where configured)."""
    consent_offline: bool = False
    """Some consent answer of this session came from the offline copy, not the registry."""
    lock_reasons: tuple[LockReason, ...] = ()
    refusal_codes: tuple[str, ...] = ()
    fault_detail: str | None = None
    captures: tuple[Capture, ...] = ()
    gate_events: tuple[tuple[str, datetime, str], ...] = field(default=())
    closed_at: datetime | None = None
    """When the session ended (the record's ``ended_at``, however late the record is written)."""
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
