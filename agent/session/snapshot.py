"""What screens show about the session: an immutable snapshot, safe to hand across threads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.session.liveness_checks import ChallengeView
from agent.session.model import Phase, SessionContext, SessionState
from agent.wire.consent import ConsentRecord


class LockState(enum.Enum):
    """The one big word the technician sees."""

    LOCKED = "LOCKED"
    CHECKING = "CHECKING"
    AWAITING_PERFORMER = "AWAITING PERFORMER"
    UNLOCKED = "UNLOCKED"
    FAULT = "FAULT"


_LOCK_STATE = {
    Phase.IDLE: LockState.LOCKED,
    Phase.IDENTIFYING: LockState.CHECKING,
    Phase.CHALLENGING: LockState.CHECKING,
    Phase.CHECKING_CONSENT: LockState.CHECKING,
    Phase.AWAITING_CONFIRMATION: LockState.AWAITING_PERFORMER,
    Phase.UNLOCKED: LockState.UNLOCKED,
    Phase.CLOSING: LockState.LOCKED,
    Phase.LOCKED_FAULT: LockState.FAULT,
}

_REASON_TEXT = {
    "performer_absent": "the performer left the camera's view",
    "multiple_subjects": "several people are in view and the performer cannot be confirmed",
    "recognition_stalled": "the rig could not analyse camera frames in time",
    "different_subject": "a different person is in front of the camera",
    "unknown_subject": "an unrecognised face is in front of the camera",
    "performer_stopped": "the performer tapped STOP",
    "performer_declined": "the performer declined",
    "technician_ended": "the technician ended the session",
    "consent_window_ended": "the consent's validity window has ended",
    "consent_revoked": "the consent was revoked",
    "unlock_timebox_expired": "the unlock time limit ran out",
    "gate_lease_lapsed": "the capture gate was not renewed in time",
    "registry_unreachable": "the registry could not re-confirm the consent in time",
    "liveness_failed": "the liveness check was not passed: the face may be a photo or a screen",
    "liveness_missing": "the performer has not passed the liveness check",
    "clock_skew": "the rig's clock disagrees with the registry's; fix the rig's time",
    "registry_key_untrusted": "the registry's signing key is no longer trusted",
    "consent_refused": "no valid consent for this capture",
    "identity_stale": "the performer's identity needs re-checking",
    "scope_invalid": "the confirmed capture types are not covered by the consent",
    "guardian_required": "a guardian must co-confirm for a minor",
    "fault": "a component failed",
    "witness_missing": "a badge + PIN identification needs a technician witness",
    "performer_not_identified": "nobody was identified",
    "record_write_retried": "writing the session record had to be retried",
    "agent_stopped_mid_session": "the agent stopped in the middle of the session",
}


def reason_text(code: str) -> str:
    """Plain-language text for a lock reason code (the code itself if unknown)."""
    return _REASON_TEXT.get(code, code.replace("_", " "))


@dataclass(frozen=True)
class SessionSnapshot:
    """The session as screens show it at one instant."""

    phase: Phase
    lock_state: LockState
    headline: str
    detail: str
    session_id: str | None
    performer_id: str | None
    performer_name: str | None
    match_distance: float | None
    match_margin: float | None
    identification_method: str | None
    requested_capture_types: frozenset[str]
    confirmed_capture_types: frozenset[str]
    consent: ConsentRecord | None
    fallback_mode: bool
    unlock_deadline: datetime | None
    refusal_codes: tuple[str, ...]
    captures: int
    last_record_hash: str | None
    last_record: dict[str, object] | None = None
    events: tuple[tuple[datetime, str], ...] = field(default=())
    challenge: ChallengeView | None = None
    """The liveness challenge's current step, while one runs."""

    @property
    def capture_unlocked(self) -> bool:
        """True exactly while capture is allowed."""
        return self.phase is Phase.UNLOCKED

    def seconds_left(self, now: datetime) -> float | None:
        """Seconds until the unlock ends by itself (None when not unlocked)."""
        if self.phase is not Phase.UNLOCKED or self.unlock_deadline is None:
            return None
        return max(0.0, (self.unlock_deadline - now).total_seconds())


def describe(phase: Phase, ctx: SessionContext) -> tuple[str, str]:
    """(headline, detail) texts for the technician console."""
    if phase is Phase.IDLE:
        # An idle state carries no session; screens tell how the last one ended from its record.
        return "No session", "Start a session to begin."
    if phase is Phase.IDENTIFYING:
        if ctx.fallback_mode:
            return "Badge + PIN needed", "The performer enters their badge code and PIN; you witness it."
        return "Identifying", "Waiting for the performer to face the camera."
    if phase is Phase.CHALLENGING:
        return (
            "Liveness check",
            "The performer follows the prompts on the touchscreen (turn the head, blink).",
        )
    if phase is Phase.CHECKING_CONSENT:
        return "Checking consent", "Asking the consent registry."
    if phase is Phase.AWAITING_CONFIRMATION:
        return "Awaiting performer", "The performer is reviewing the terms on the touchscreen."
    if phase is Phase.UNLOCKED:
        return "Capture unlocked", "Capture is allowed for: " + ", ".join(sorted(ctx.confirmed_capture_types))
    if phase is Phase.CLOSING:
        last = ctx.lock_reasons[-1].value if ctx.lock_reasons else "session ended"
        return "Locked", f"Locked because {reason_text(last)}. Writing the session record."
    return "Fault — capture locked", (ctx.fault_detail or "a component failed") + ". Acknowledge to continue."


def lock_state_of(phase: Phase) -> LockState:
    """The big lock word for a phase."""
    return _LOCK_STATE[phase]


def snapshot_of(
    state: SessionState,
    consent: ConsentRecord | None,
    last_record: dict[str, Any] | None,
    last_record_hash: str | None,
    events: tuple[tuple[datetime, str], ...],
    challenge: ChallengeView | None = None,
) -> SessionSnapshot:
    """What the screens show for ``state`` (plus the verified consent and the last record).

    The controller publishes a snapshot after every event (frames, ticks), so the last
    record's hash is passed in, computed once when the record was written.
    """
    ctx = state.context
    headline, detail = describe(state.phase, ctx)
    identity = ctx.identity
    return SessionSnapshot(
        phase=state.phase,
        lock_state=lock_state_of(state.phase),
        headline=headline,
        detail=detail,
        session_id=ctx.session_id or None,
        performer_id=identity.performer_id if identity else None,
        performer_name=(identity.display_name if identity else None)
        or (consent.performer.display_name if consent else None),
        match_distance=identity.distance if identity else None,
        match_margin=identity.margin if identity else None,
        identification_method=identity.method.value if identity else None,
        requested_capture_types=ctx.requested_capture_types,
        confirmed_capture_types=ctx.confirmed_capture_types,
        consent=consent,
        fallback_mode=ctx.fallback_mode,
        unlock_deadline=ctx.unlock_deadline,
        refusal_codes=ctx.refusal_codes,
        captures=len(ctx.captures),
        last_record_hash=last_record_hash,
        last_record=last_record,
        events=events,
        challenge=challenge if state.phase is Phase.CHALLENGING else None,
    )
