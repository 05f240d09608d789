"""The session state machine: a pure, total transition function.

``transition(state, event, timing)`` returns the next state and the effects the
controller must carry out. It performs no I/O and reads no clock: every event
carries its own time. For every (phase, event) pair the answer is defined: a
transition, an explicit no-op (for inputs that can legitimately arrive late,
such as a frame or a STOP tap racing the end of a session), or
:class:`IllegalTransitionError` for pairs that mean the caller is broken.

Safety argument, checked as properties in tests/session/test_machine_properties.py:
``UnlockGate`` is emitted only on entering ``UNLOCKED``, only when every unlock
condition holds at that moment, and every transition out of ``UNLOCKED``
emits ``LockGate`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from agent.errors import ScanGateError
from agent.session import events as ev
from agent.session.conditions import (
    ANALYSIS_LAG_ALLOWANCE,
    consent_stale,
    outcome_of,
    presence_lapsed,
    unlock_blockers,
)
from agent.session.model import (
    ACTIVE_PHASES,
    ConsentCheck,
    IdentificationMethod,
    LockReason,
    Phase,
    SessionContext,
    SessionState,
    Timing,
)

__all__ = ["ANALYSIS_LAG_ALLOWANCE", "IllegalTransitionError", "outcome_of", "transition", "unlock_blockers"]

Result = tuple[SessionState, tuple[ev.Effect, ...]]
NOT_IDENTIFIED = "performer_not_identified"
UNLOCK_REASON = "consent_confirmed"
RECORD_WRITE_RETRIED = "record_write_retried"
_ACTIVE = ACTIVE_PHASES
_BEFORE_TERMS = (Phase.IDENTIFYING, Phase.CHALLENGING, Phase.CHECKING_CONSENT)


class IllegalTransitionError(ScanGateError):
    """An event arrived that cannot happen in this phase: the caller is broken.

    The controller treats this as a fault and keeps the gate locked.
    """


def transition(state: SessionState, event: ev.Event, timing: Timing) -> Result:
    """Next state and effects for ``event`` in ``state`` (see module docstring)."""
    effects: tuple[ev.Effect, ...] = ()
    if state.phase in _ACTIVE and not isinstance(event, ev.Tick):
        # Every event is also a clock reading: re-lock rules that are due apply first, so an
        # event arriving between two ticks can never act on an expired unlock.
        state, effects = _tick(state, ev.Tick(event.at), timing)
    handler = _HANDLERS.get((state.phase, type(event)))
    if handler is None:
        raise IllegalTransitionError(
            f"event {type(event).__name__} is not allowed in phase {state.phase.value}",
            hint="this is a bug in the component that sent the event; capture stays locked",
        )
    state, more = handler(state, event, timing)
    return state, effects + more


# --- helpers -----------------------------------------------------------------------------------


def _stay(state: SessionState, _event: ev.Event, _timing: Timing) -> Result:
    return state, ()


def _close(
    state: SessionState, at: datetime, reason: LockReason, ctx: SessionContext | None = None
) -> Result:
    """Leave the active phases: lock first, then write the one record."""
    ctx = state.context if ctx is None else ctx
    if ctx.identity is None and NOT_IDENTIFIED not in ctx.refusal_codes:
        ctx = replace(ctx, refusal_codes=(*ctx.refusal_codes, NOT_IDENTIFIED))
    ctx = replace(
        ctx,
        lock_reasons=(*ctx.lock_reasons, reason),
        gate_events=(*ctx.gate_events, ("lock", at, reason.value)),
        closed_at=at,
    )
    return SessionState(Phase.CLOSING, ctx), (ev.LockGate(reason), ev.WriteRecord(outcome_of(ctx)))


def _fault(
    state: SessionState, at: datetime, component: str, detail: str, reason: LockReason = LockReason.FAULT
) -> Result:
    ctx = state.context
    ctx = replace(
        ctx,
        fault_detail=f"{component}: {detail}",
        lock_reasons=(*ctx.lock_reasons, reason),
        gate_events=(*ctx.gate_events, ("lock", at, reason.value)),
        closed_at=at,
    )
    return SessionState(Phase.LOCKED_FAULT, ctx), (
        ev.LockGate(reason),
        ev.WriteRecord(outcome_of(ctx)),
    )


def _confirmation_of(ctx: SessionContext, check: ConsentCheck) -> dict[str, Any]:
    """Context changes for a consent answer that allowed: when it was last vouched for, and by whom."""
    asked = check.asked_at
    changes: dict[str, Any] = {}
    if asked is not None and (ctx.consent_checked_at is None or asked > ctx.consent_checked_at):
        changes["consent_checked_at"] = asked
    if check.source != "registry":
        changes["consent_offline"] = True
    elif asked is not None and (ctx.consent_confirmed_at is None or asked > ctx.consent_confirmed_at):
        changes["consent_confirmed_at"] = asked
    return changes


def _refusal_reason(codes: tuple[str, ...]) -> LockReason:
    """The lock reason of a consent answer that refused (the policy's codes stay in the record)."""
    if LockReason.CLOCK_SKEW.value in codes:
        return LockReason.CLOCK_SKEW
    if "revoked" in codes or LockReason.CONSENT_REVOKED.value in codes:
        return LockReason.CONSENT_REVOKED
    return LockReason.CONSENT_REFUSED


# --- handlers ----------------------------------------------------------------------------------


def _start(state: SessionState, event: ev.SessionStarted, timing: Timing) -> Result:
    ctx = SessionContext(
        liveness_required=timing.liveness_required,
        session_id=event.session_id,
        technician=event.technician,
        requested_capture_types=event.capture_types,
        started_at=event.at,
    )
    if not event.capture_types:
        raise IllegalTransitionError(
            "a session needs at least one capture type", hint="pick the capture types, then start"
        )
    return SessionState(Phase.IDENTIFYING, ctx), ()


def _identified(state: SessionState, event: ev.IdentityConfirmed, timing: Timing) -> Result:
    ctx = state.context
    identity = event.identity
    fallback = identity.method is IdentificationMethod.FALLBACK_BADGE_PIN
    if state.phase is Phase.IDENTIFYING:
        if ctx.fallback_mode != fallback:
            # In fallback mode only badge + PIN identifies; otherwise only the face does.
            return state, ()
        if ctx.started_at is not None and min(event.at, identity.verified_at) < ctx.started_at:
            # A frame taken before this session started (analysed late) never identifies its performer.
            return state, ()
        ctx = replace(ctx, identity=identity, last_seen_at=event.at)
        if timing.liveness_required and not fallback:
            # A face is evidence only once the person behind it has shown they are live.
            ctx = replace(ctx, liveness_attempts=ctx.liveness_attempts + 1)
            challenge = ev.StartChallenge(identity.performer_id, ctx.liveness_attempts)
            return SessionState(Phase.CHALLENGING, ctx), (challenge,)
        return SessionState(Phase.CHECKING_CONSENT, ctx), (ev.FetchConsent(identity.performer_id),)

    current = ctx.identity
    assert current is not None  # every phase after IDENTIFYING has an identity
    if identity.performer_id != current.performer_id:
        return _close(state, event.at, LockReason.DIFFERENT_SUBJECT)
    # Results can arrive out of order: an older frame never turns back the identity or presence.
    seen = max(event.at, ctx.last_seen_at) if ctx.last_seen_at else event.at
    newer = identity.verified_at >= current.verified_at
    if current.method is IdentificationMethod.FACE and not fallback and newer:
        return SessionState(state.phase, replace(ctx, identity=identity, last_seen_at=seen)), ()
    return SessionState(state.phase, replace(ctx, last_seen_at=seen)), ()


def _liveness_checked(state: SessionState, event: ev.LivenessChecked, timing: Timing) -> Result:
    ctx = state.context
    outcome = event.outcome
    identity = ctx.identity
    assert identity is not None  # CHALLENGING always has an identity
    if outcome.performer_id != identity.performer_id or outcome.attempt != ctx.liveness_attempts:
        return state, ()  # an answer about another face or an earlier attempt
    ctx = replace(ctx, liveness=outcome, liveness_history=(*ctx.liveness_history, outcome))
    if outcome.passed:
        return SessionState(Phase.CHECKING_CONSENT, ctx), (ev.FetchConsent(identity.performer_id),)
    if ctx.liveness_attempts <= timing.liveness_retries:
        ctx = replace(ctx, liveness_attempts=ctx.liveness_attempts + 1)
        return SessionState(Phase.CHALLENGING, ctx), (
            ev.StartChallenge(identity.performer_id, ctx.liveness_attempts),
        )
    return _close(state, event.at, LockReason.LIVENESS_FAILED, ctx)


def _frame_analysed(state: SessionState, event: ev.FrameAnalysed, timing: Timing) -> Result:
    """Presence and absence, judged on the camera times of analysed frames.

    A frame that shows the identified performer (face sessions: it matched them; badge +
    PIN sessions: one face in view) refreshes presence. The performer is absent only when
    an analysed frame taken more than ``absence_timeout`` after they were last seen still
    does not show them. Late results therefore delay the verdict, never make it up; when
    results stop coming, :func:`_tick` locks as a recognition stall instead.
    """
    ctx = state.context
    identity, last_seen = ctx.identity, ctx.last_seen_at
    if identity is None or last_seen is None:
        return state, ()  # nobody identified yet: nobody to be present
    if identity.method is IdentificationMethod.FALLBACK_BADGE_PIN:
        shows_performer = event.subject_in_view
    else:
        shows_performer = event.performer_id == identity.performer_id
    if shows_performer:
        seen = replace(ctx, last_seen_at=max(last_seen, event.at), unseen_frames=(0, 0))
        return SessionState(state.phase, seen), ()
    frames, several = ctx.unseen_frames
    ctx = replace(ctx, unseen_frames=(frames + 1, several + int(event.several_subjects)))
    if event.at - last_seen > timing.absence_timeout:
        # Say what the frames showed: mostly nobody usable, or mostly several people none of whom
        # could be confirmed as the performer.
        frames, several = ctx.unseen_frames
        reason = LockReason.MULTIPLE_SUBJECTS if 2 * several > frames else LockReason.PERFORMER_ABSENT
        return _close(state, event.at, reason, ctx)
    return SessionState(state.phase, ctx), ()


def _unknown_subject(state: SessionState, event: ev.UnknownSubject, _t: Timing) -> Result:
    if state.phase is Phase.IDENTIFYING or state.context.fallback_mode:
        return state, ()  # not recognised yet, or a fallback performer who is not on the roster
    return _close(state, event.at, LockReason.UNKNOWN_SUBJECT)


def _fallback(state: SessionState, _event: ev.FallbackRequested, _t: Timing) -> Result:
    ctx = replace(state.context, fallback_mode=True, identity=None, last_seen_at=None, consent=None)
    return SessionState(Phase.IDENTIFYING, ctx), (ev.RequestFallback(),)


def _consent_checked(state: SessionState, event: ev.ConsentChecked, _t: Timing) -> Result:
    ctx = state.context
    check = event.check
    identity = ctx.identity
    assert identity is not None
    if check.terms is not None and check.terms.performer_id != identity.performer_id:
        return state, ()  # an answer about someone else (stale request): ignore it
    if check.fallback_required and identity.method is IdentificationMethod.FACE:
        ctx = replace(ctx, fallback_mode=True, identity=None, last_seen_at=None)
        return SessionState(Phase.IDENTIFYING, ctx), (ev.RequestFallback(),)
    if check.terms is not None and check.terms.consent_id in ctx.revoked_consent_ids:
        return _close(state, event.at, LockReason.CONSENT_REVOKED, replace(ctx, consent=check))
    if check.terms is not None and check.terms.registry_key_id in ctx.untrusted_key_ids:
        return _close(state, event.at, LockReason.REGISTRY_KEY_UNTRUSTED, replace(ctx, consent=check))
    if not check.allowed or check.terms is None:
        codes = tuple(code for code, _ in check.reasons) or ("consent_refused",)
        refused = replace(ctx, consent=check, refusal_codes=codes)
        return _close(state, event.at, _refusal_reason(codes), refused)
    ctx = replace(ctx, consent=check, **_confirmation_of(ctx, check))
    return SessionState(Phase.AWAITING_CONFIRMATION, ctx), (ev.PresentTerms(),)


def _rechecked(state: SessionState, event: ev.ConsentRechecked, _t: Timing) -> Result:
    ctx = state.context
    check = event.check
    relied_on = ctx.consent
    current = relied_on.terms if relied_on is not None else None
    if relied_on is None or current is None:
        return state, ()
    same = check.terms is not None and (check.terms.consent_id, check.terms.version) == (
        current.consent_id,
        current.version,
    )
    if check.allowed and same:
        kept = replace(relied_on, clock=check.clock or relied_on.clock)
        return SessionState(state.phase, replace(ctx, consent=kept, **_confirmation_of(ctx, check))), ()
    if check.allowed:
        # Another consent, or a new version of it, now decides: the terms the performer
        # confirmed are no longer the registry's; they must see and confirm them again.
        codes: tuple[str, ...] = ("consent_changed",)
    else:
        codes = tuple(code for code, _ in check.reasons) or ("consent_refused",)
    refused = replace(ctx, refusal_codes=tuple(dict.fromkeys((*ctx.refusal_codes, *codes))))
    return _close(state, event.at, _refusal_reason(codes), refused)


def _confirmed(state: SessionState, event: ev.PerformerConfirmed, timing: Timing) -> Result:
    ctx = replace(
        state.context,
        confirmed_capture_types=event.capture_types,
        guardian_co_confirmed=event.guardian_co_confirmed,
        confirmed_at=event.at,
    )
    blockers = unlock_blockers(ctx, event.at, timing)
    if blockers:
        refused = replace(ctx, refusal_codes=tuple(b.value for b in blockers))
        return _close(state, event.at, blockers[0], refused)
    terms = ctx.consent.terms if ctx.consent else None
    assert terms is not None
    timebox_end = event.at + timing.unlock_timebox
    window_first = terms.valid_until <= timebox_end
    ctx = replace(
        ctx,
        unlocked_at=event.at,
        unlock_deadline=terms.valid_until if window_first else timebox_end,
        unlock_deadline_reason=(
            LockReason.CONSENT_WINDOW_ENDED if window_first else LockReason.UNLOCK_TIMEBOX_EXPIRED
        ),
        unlock_identity=ctx.identity,
    )
    deadline = ctx.unlock_deadline
    assert deadline is not None
    return SessionState(Phase.UNLOCKED, ctx), (ev.UnlockGate(event.capture_types, deadline),)


def _declined(state: SessionState, event: ev.PerformerDeclined, _t: Timing) -> Result:
    ctx = replace(state.context, declined=True, declined_at=event.at)
    return _close(state, event.at, LockReason.PERFORMER_DECLINED, ctx)


def _stopped(state: SessionState, event: ev.PerformerStopped, _t: Timing) -> Result:
    # STOP before the terms were shown is not a decline of terms the performer never saw.
    saw_terms = state.phase in (Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED)
    ctx = replace(state.context, declined=True, declined_at=event.at) if saw_terms else state.context
    return _close(state, event.at, LockReason.PERFORMER_STOPPED, ctx)


def _ended(state: SessionState, event: ev.TechnicianEnded, _t: Timing) -> Result:
    return _close(state, event.at, LockReason.TECHNICIAN_ENDED)


def _revoked(state: SessionState, event: ev.ConsentRevoked, _t: Timing) -> Result:
    # Remembered for the whole session: a lookup already in flight may still answer "allowed".
    ctx = replace(state.context, revoked_consent_ids=state.context.revoked_consent_ids | {event.consent_id})
    check = ctx.consent
    if check is None or check.terms is None or check.terms.consent_id != event.consent_id:
        return SessionState(state.phase, ctx), ()
    return _close(state, event.at, LockReason.CONSENT_REVOKED, ctx)


def _key_untrusted(state: SessionState, event: ev.RegistryKeyUntrusted, _t: Timing) -> Result:
    ctx = replace(state.context, untrusted_key_ids=state.context.untrusted_key_ids | {event.key_id})
    check = ctx.consent
    if check is None or check.terms is None or check.terms.registry_key_id != event.key_id:
        return SessionState(state.phase, ctx), ()
    return _close(state, event.at, LockReason.REGISTRY_KEY_UNTRUSTED, ctx)


def _lease_lapsed(state: SessionState, event: ev.GateLeaseLapsed, _t: Timing) -> Result:
    if event.token_expired and state.phase is Phase.UNLOCKED:
        # The token was minted to expire at the unlock deadline: the window ended, nothing failed.
        reason = state.context.unlock_deadline_reason or LockReason.UNLOCK_TIMEBOX_EXPIRED
        return _close(state, event.at, reason)
    detail = "the gate lease lapsed (the agent did not renew it in time)"
    return _fault(state, event.at, "gate", detail, LockReason.GATE_LEASE_LAPSED)


def _gate_unlocked(state: SessionState, event: ev.GateUnlocked, _t: Timing) -> Result:
    ctx = state.context
    return SessionState(
        state.phase, replace(ctx, gate_events=(*ctx.gate_events, ("unlock", event.at, UNLOCK_REASON)))
    ), ()


def _captured(state: SessionState, event: ev.CaptureRecorded, _t: Timing) -> Result:
    ctx = state.context
    owner = event.capture.session_id
    if owner is not None and owner != ctx.session_id:
        return state, ()  # another session's capture (the gate reconciles and quarantines it)
    return SessionState(state.phase, replace(ctx, captures=(*ctx.captures, event.capture))), ()


def _faulted(state: SessionState, event: ev.Fault, _t: Timing) -> Result:
    return _fault(state, event.at, event.component, event.detail)


def _idle_fault(_state: SessionState, _event: ev.Fault, _t: Timing) -> Result:
    # No session, so no record; the gate is locked anyway and the health display shows the fault.
    return SessionState(), (ev.LockGate(LockReason.FAULT),)


def _tick(state: SessionState, event: ev.Tick, timing: Timing) -> Result:
    ctx = state.context
    at = event.at
    terms = ctx.consent.terms if ctx.consent else None
    if terms is not None and at >= terms.valid_until:
        return _close(state, at, LockReason.CONSENT_WINDOW_ENDED)
    if state.phase is Phase.UNLOCKED and ctx.unlock_deadline is not None and at >= ctx.unlock_deadline:
        return _close(state, at, LockReason.UNLOCK_TIMEBOX_EXPIRED)
    if state.phase is Phase.UNLOCKED and consent_stale(ctx, at, timing):
        return _close(state, at, LockReason.REGISTRY_UNREACHABLE)
    if (
        ctx.identity is not None
        and ctx.last_seen_at is not None
        and presence_lapsed(ctx.last_seen_at, at, timing)
    ):
        # Absence is for analysed frames to show (_frame_analysed); none came in time to show it.
        age = (at - ctx.last_seen_at).total_seconds()
        detail = (
            "the rig could not analyse camera frames in time to tell whether the performer is still"
            f" there (last seen on a frame taken {age:.1f} s ago; the CPU may be overloaded)"
        )
        return _fault(state, at, "recognition", detail, LockReason.RECOGNITION_STALLED)
    return state, ()


def _record_written(state: SessionState, _event: ev.RecordWritten, _t: Timing) -> Result:
    if state.context.record_written:
        raise IllegalTransitionError(
            "the session record was already written; a record is never written twice"
        )
    if state.phase is Phase.LOCKED_FAULT:
        # Stay visibly faulted until the technician acknowledges.
        return SessionState(Phase.LOCKED_FAULT, replace(state.context, record_written=True)), ()
    return SessionState(), ()


def _fault_acknowledged(state: SessionState, _event: ev.TechnicianEnded, _t: Timing) -> Result:
    if not state.context.record_written:
        return state, ()  # the record must be written first; the controller is retrying it
    return SessionState(), (ev.LockGate(LockReason.FAULT),)


def _closing_fault(state: SessionState, event: ev.Fault, _t: Timing) -> Result:
    ctx = state.context
    if event.component == "records":
        # Writing the record failed; the controller retries. That is not what the session was.
        codes = (
            ctx.refusal_codes
            if RECORD_WRITE_RETRIED in ctx.refusal_codes
            else (*ctx.refusal_codes, RECORD_WRITE_RETRIED)
        )
        return SessionState(state.phase, replace(ctx, refusal_codes=codes)), ()
    # e.g. the gate could not confirm the lock: the record must say fault.
    return SessionState(state.phase, replace(ctx, fault_detail=f"{event.component}: {event.detail}")), ()


Handler = Callable[[SessionState, ev.Event, Timing], Result]
_HANDLERS: dict[tuple[Phase, type], Handler] = {}


def _on(phases: tuple[Phase, ...], event_type: type, handler: Callable[..., Result]) -> None:
    for phase in phases:
        _HANDLERS[(phase, event_type)] = handler


_LATE_INPUTS: tuple[type, ...] = (
    ev.IdentityConfirmed,
    ev.GateUnlocked,
    ev.FrameAnalysed,
    ev.UnknownSubject,
    ev.Tick,
    ev.PerformerStopped,
    ev.TechnicianEnded,
    ev.ConsentRevoked,
    ev.RegistryKeyUntrusted,
    ev.GateLeaseLapsed,
    ev.CaptureRecorded,
    ev.ConsentChecked,
    ev.ConsentRechecked,
    ev.PerformerConfirmed,
    ev.PerformerDeclined,
    ev.LivenessChecked,
)

# IDLE: only a session start moves it; late inputs from a finished session are ignored.
_on((Phase.IDLE,), ev.SessionStarted, _start)
for _late_input in _LATE_INPUTS:
    _on((Phase.IDLE,), _late_input, _stay)
_on((Phase.IDLE,), ev.Fault, _idle_fault)

# Active phases.
_on(_ACTIVE, ev.IdentityConfirmed, _identified)
_on(_ACTIVE, ev.UnknownSubject, _unknown_subject)
_on(_ACTIVE, ev.FrameAnalysed, _frame_analysed)
# Taps and clicks that race a phase change (double-clicked Start, a Confirm tap on terms that
# are gone, a fallback request after the terms are shown) are ignored, not faults.
_on(_ACTIVE, ev.SessionStarted, _stay)
_on(_BEFORE_TERMS, ev.PerformerConfirmed, _stay)
_on(_BEFORE_TERMS, ev.PerformerDeclined, _stay)
_on((Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED), ev.FallbackRequested, _stay)
_on(_BEFORE_TERMS, ev.FallbackRequested, _fallback)
_on((Phase.CHECKING_CONSENT,), ev.ConsentChecked, _consent_checked)
_on((Phase.CHALLENGING,), ev.LivenessChecked, _liveness_checked)
_on(tuple(p for p in _ACTIVE if p is not Phase.CHALLENGING), ev.LivenessChecked, _stay)
_on((Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED), ev.ConsentRechecked, _rechecked)
_on(_BEFORE_TERMS, ev.ConsentRechecked, _stay)
_on(
    (Phase.IDENTIFYING, Phase.CHALLENGING, Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED),
    ev.ConsentChecked,
    _stay,
)
_on((Phase.AWAITING_CONFIRMATION,), ev.PerformerConfirmed, _confirmed)
_on((Phase.UNLOCKED,), ev.PerformerConfirmed, _stay)  # a double tap
_on((Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED), ev.PerformerDeclined, _declined)
_on(_ACTIVE, ev.PerformerStopped, _stopped)
_on(_ACTIVE, ev.TechnicianEnded, _ended)
_on(_ACTIVE, ev.ConsentRevoked, _revoked)
_on(_ACTIVE, ev.RegistryKeyUntrusted, _key_untrusted)
_on(_ACTIVE, ev.GateLeaseLapsed, _lease_lapsed)
_on((Phase.UNLOCKED,), ev.GateUnlocked, _gate_unlocked)
# A confirmation that arrives after the session re-locked (the gate has been locked again since).
_on((*_BEFORE_TERMS, Phase.AWAITING_CONFIRMATION), ev.GateUnlocked, _stay)
_on(_ACTIVE, ev.CaptureRecorded, _captured)
_on(_ACTIVE, ev.Fault, _faulted)
_on(_ACTIVE, ev.Tick, _tick)

# CLOSING: waiting for the record; everything else is late and ignored.
_on((Phase.CLOSING,), ev.RecordWritten, _record_written)
_on((Phase.CLOSING,), ev.Fault, _closing_fault)
for _closing_input in (*_LATE_INPUTS, ev.FallbackRequested, ev.SessionStarted):
    _on((Phase.CLOSING,), _closing_input, _stay)
_on((Phase.CLOSING,), ev.CaptureRecorded, _captured)

# LOCKED_FAULT: record written, then the technician acknowledges to return to IDLE.
_on((Phase.LOCKED_FAULT,), ev.RecordWritten, _record_written)
_on((Phase.LOCKED_FAULT,), ev.TechnicianEnded, _fault_acknowledged)
for _fault_input in (*_LATE_INPUTS, ev.Fault, ev.FallbackRequested, ev.SessionStarted):
    if _fault_input is not ev.TechnicianEnded:
        _on((Phase.LOCKED_FAULT,), _fault_input, _stay)
_on((Phase.LOCKED_FAULT,), ev.CaptureRecorded, _captured)
