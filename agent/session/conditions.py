"""The conditions the session engine judges: may capture unlock, and how did a session end.

Pure functions of the session context and the time; the state machine
(agent/session/machine.py) calls them on every unlock and re-lock decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agent.session.model import IdentificationMethod, LockReason, Outcome, SessionContext, Timing

ANALYSIS_LAG_ALLOWANCE = timedelta(seconds=2)
"""How far, beyond the absence timeout, the analysed frames may lag behind the clock.

Absence is judged on the camera times of analysed frames, so it can only be known
once those frames are analysed. If the performer was last seen on a frame taken more
than ``absence_timeout + ANALYSIS_LAG_ALLOWANCE`` ago and no analysed frame has shown
them gone, the rig is not analysing frames in time: the session locks as
``recognition_stalled`` (a fault). Measured with both cores busy: a result arrives
0.3-0.9 s after its frame was taken, one every 0.3-0.6 s (docs/session.md).
"""


def unlock_blockers(ctx: SessionContext, at: datetime, timing: Timing) -> list[LockReason]:
    """Every unlock condition that does not hold at ``at`` (empty: unlock allowed)."""
    check = ctx.consent
    terms = check.terms if check is not None else None
    identity = ctx.identity
    if identity is None or ctx.last_seen_at is None:
        return [LockReason.IDENTITY_STALE]
    if check is None or terms is None:
        return [LockReason.CONSENT_REFUSED]
    blockers: list[LockReason] = []
    if not check.allowed or terms.performer_id != identity.performer_id:
        blockers.append(LockReason.CONSENT_REFUSED)
    fallback = identity.method is IdentificationMethod.FALLBACK_BADGE_PIN
    max_age = timing.fallback_identity_max_age if fallback else timing.identity_max_age
    if at - identity.verified_at > max_age or presence_lapsed(ctx.last_seen_at, at, timing):
        blockers.append(LockReason.IDENTITY_STALE)
    if fallback and not identity.witness:
        blockers.append(LockReason.WITNESS_MISSING)
    if timing.liveness_required and not fallback and not _live(ctx, at, timing):
        blockers.append(LockReason.LIVENESS_MISSING)
    if terms.consent_id in ctx.revoked_consent_ids:
        blockers.append(LockReason.CONSENT_REVOKED)
    if terms.registry_key_id in ctx.untrusted_key_ids:
        blockers.append(LockReason.REGISTRY_KEY_UNTRUSTED)
    if at >= terms.valid_until:
        blockers.append(LockReason.CONSENT_WINDOW_ENDED)
    if consent_stale(ctx, at, timing):
        blockers.append(LockReason.REGISTRY_UNREACHABLE)
    scope = ctx.confirmed_capture_types
    if (
        ctx.confirmed_at is None
        or not scope
        or not scope <= (terms.permitted_capture_types & ctx.requested_capture_types)
    ):
        blockers.append(LockReason.SCOPE_INVALID)
    if terms.minor and not ctx.guardian_co_confirmed:
        blockers.append(LockReason.GUARDIAN_REQUIRED)
    return sorted(set(blockers), key=lambda r: r.value)


def outcome_of(ctx: SessionContext) -> Outcome:
    """The outcome a session with this context ends with."""
    if any(c.clean for c in ctx.captures):
        return Outcome.CAPTURED
    if ctx.fault_detail is not None:
        return Outcome.FAULT
    if ctx.declined:
        return Outcome.DECLINED
    return Outcome.REFUSED


def presence_lapsed(last_seen_at: datetime, at: datetime, timing: Timing) -> bool:
    """No analysed frame taken in time shows the performer: the rig cannot vouch for presence."""
    return at - last_seen_at > timing.absence_timeout + ANALYSIS_LAG_ALLOWANCE


def consent_stale(ctx: SessionContext, at: datetime, timing: Timing) -> bool:
    """No answer vouched for the consent within the maximum age (registry lost, or too slow)."""
    checked = ctx.consent_checked_at
    return checked is not None and at - checked > timing.consent_max_age


def _live(ctx: SessionContext, at: datetime, timing: Timing) -> bool:
    """A passed challenge, by the identified performer, of the current attempt, in this session,
    recent enough."""
    outcome, identity = ctx.liveness, ctx.identity
    return (
        outcome is not None
        and identity is not None
        and outcome.passed
        and outcome.performer_id == identity.performer_id
        # The machine only keeps outcomes of the current attempt; judged here too, so the
        # unlock condition holds on its own.
        and outcome.attempt == ctx.liveness_attempts
        and ctx.started_at is not None
        and outcome.completed_at >= ctx.started_at
        and at - outcome.completed_at <= timing.liveness_max_age
    )
