"""Example-based tests of the session state machine: the flows a technician sees."""

from __future__ import annotations

import contextlib
import typing
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agent.session import events as ev
from agent.session.machine import IllegalTransitionError, outcome_of, transition
from agent.session.model import (
    Capture,
    ConsentCheck,
    ConsentTerms,
    IdentificationMethod,
    Identity,
    LivenessOutcome,
    LockReason,
    Outcome,
    Phase,
    SessionState,
    Timing,
)
from agent.session.recording import build_record_draft

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TIMING = Timing(timedelta(seconds=3), timedelta(seconds=10), timedelta(minutes=5))
TYPES = frozenset({"face", "facs_expressions"})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def terms(*, minor: bool = False, permitted: frozenset[str] = TYPES, hours: int = 8) -> ConsentTerms:
    return ConsentTerms(
        "c-1", 1, "perf-a", permitted, T0 + timedelta(hours=hours), minor, "ed25519:" + "a" * 32
    )


def run(state: SessionState, *events: ev.Event) -> tuple[SessionState, list[ev.Effect]]:
    effects: list[ev.Effect] = []
    for event in events:
        state, produced = transition(state, event, TIMING)
        effects.extend(produced)
    return state, effects


def face(seconds: float, performer: str = "perf-a") -> ev.IdentityConfirmed:
    return ev.IdentityConfirmed(at(seconds), Identity(performer, IdentificationMethod.FACE, at(seconds)))


def awaiting(**terms_kwargs: object) -> SessionState:
    state, effects = run(
        SessionState(),
        ev.SessionStarted(at(0), "s-1", "tech", TYPES),
        face(1),
        ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms(**terms_kwargs))),  # type: ignore[arg-type]
    )
    assert state.phase is Phase.AWAITING_CONFIRMATION
    assert effects == [ev.FetchConsent("perf-a"), ev.PresentTerms()]
    return state


def test_confirm_unlocks_for_the_confirmed_types_until_the_timebox() -> None:
    state, effects = run(awaiting(), ev.PerformerConfirmed(at(2), TYPES))
    assert state.phase is Phase.UNLOCKED
    assert effects == [ev.UnlockGate(TYPES, at(2) + TIMING.unlock_timebox)]


def test_unlock_deadline_never_passes_the_consent_window() -> None:
    state, effects = run(awaiting(hours=0), ev.PerformerConfirmed(at(2), TYPES))
    assert state.phase is Phase.CLOSING  # the window ended at T0, before the confirmation
    assert ev.LockGate(LockReason.CONSENT_WINDOW_ENDED) in effects


def test_narrowing_keeps_only_the_remaining_types() -> None:
    _, effects = run(awaiting(), ev.PerformerConfirmed(at(2), frozenset({"face"})))
    assert effects == [ev.UnlockGate(frozenset({"face"}), at(2) + TIMING.unlock_timebox)]


def test_widening_beyond_the_consent_is_refused() -> None:
    state, effects = run(
        awaiting(permitted=frozenset({"face"})),
        ev.PerformerConfirmed(at(2), frozenset({"face", "facs_expressions"})),
    )
    assert state.phase is Phase.CLOSING
    assert effects[0] == ev.LockGate(LockReason.SCOPE_INVALID)
    assert effects[1] == ev.WriteRecord(Outcome.REFUSED)


def test_minor_needs_guardian_co_confirmation() -> None:
    state, effects = run(
        awaiting(minor=True), ev.PerformerConfirmed(at(2), TYPES, guardian_co_confirmed=False)
    )
    assert effects[0] == ev.LockGate(LockReason.GUARDIAN_REQUIRED)
    state, effects = run(
        awaiting(minor=True), ev.PerformerConfirmed(at(2), TYPES, guardian_co_confirmed=True)
    )
    assert state.phase is Phase.UNLOCKED


def test_decline_writes_a_declined_record_and_never_unlocks() -> None:
    state, effects = run(awaiting(), ev.PerformerDeclined(at(2)), ev.RecordWritten(at(2.1)))
    assert state.phase is Phase.IDLE
    assert not any(isinstance(e, ev.UnlockGate) for e in effects)
    assert ev.WriteRecord(Outcome.DECLINED) in effects


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (ev.PerformerStopped(at(3)), LockReason.PERFORMER_STOPPED),
        (ev.TechnicianEnded(at(3)), LockReason.TECHNICIAN_ENDED),
        (ev.ConsentRevoked(at(3), "c-1"), LockReason.CONSENT_REVOKED),
        (ev.RegistryKeyUntrusted(at(3), "ed25519:" + "a" * 32), LockReason.REGISTRY_KEY_UNTRUSTED),
        (face(3, "perf-b"), LockReason.DIFFERENT_SUBJECT),
        (ev.UnknownSubject(at(3)), LockReason.UNKNOWN_SUBJECT),
        (ev.FrameAnalysed(at(4.5)), LockReason.PERFORMER_ABSENT),  # a frame shows nobody, 3.5 s on
        (ev.Tick(at(6.5)), LockReason.RECOGNITION_STALLED),  # no frame analysed in time to show it
        (ev.Fault(at(3), "camera", "unplugged"), LockReason.FAULT),
        (ev.GateLeaseLapsed(at(3)), LockReason.GATE_LEASE_LAPSED),
    ],
)
def test_every_relock_trigger_locks_first(event: ev.Event, reason: LockReason) -> None:
    unlocked, _ = run(awaiting(), ev.PerformerConfirmed(at(2), TYPES))
    state, effects = run(unlocked, event)
    assert state.phase in (Phase.CLOSING, Phase.LOCKED_FAULT)
    assert effects[0] == ev.LockGate(reason)
    assert state.context.lock_reasons[-1] is reason


def test_timebox_expiry_locks() -> None:
    unlocked, _ = run(awaiting(), ev.PerformerConfirmed(at(2), TYPES))
    steps = [face(2 + k) for k in range(1, 300)]  # the performer stays in view the whole time
    _, effects = run(unlocked, *steps, ev.Tick(at(2 + 300)))
    assert ev.LockGate(LockReason.UNLOCK_TIMEBOX_EXPIRED) in effects


@pytest.mark.parametrize(
    ("hours", "reason"),
    [(8, LockReason.UNLOCK_TIMEBOX_EXPIRED), (0, LockReason.CONSENT_WINDOW_ENDED)],
)
def test_a_gate_that_locks_at_its_token_expiry_ends_the_unlock_window_not_as_a_fault(
    hours: int, reason: LockReason
) -> None:
    """The capture token expires when the unlock window ends; when the gate's own watchdog sees
    that before the engine's tick does, the record must still say the window ended."""
    state = awaiting(hours=hours)
    if hours == 0:  # consent valid until 4 minutes after T0, inside the 5-minute time-box
        ctx = state.context
        assert ctx.consent is not None and ctx.consent.terms is not None
        short = replace(ctx.consent.terms, valid_until=T0 + timedelta(minutes=4))
        state = SessionState(state.phase, replace(ctx, consent=replace(ctx.consent, terms=short)))
    unlocked, effects = run(state, ev.PerformerConfirmed(at(2), TYPES))
    deadline = next(e for e in effects if isinstance(e, ev.UnlockGate)).deadline
    lapse = ev.GateLeaseLapsed(deadline + timedelta(milliseconds=3), token_expired=True)
    closed, effects = run(unlocked, lapse)
    assert effects[0] == ev.LockGate(reason)
    assert closed.phase is Phase.CLOSING
    assert closed.context.lock_reasons[-1] is reason
    assert outcome_of(closed.context) is not Outcome.FAULT


def test_revocation_of_another_consent_is_ignored() -> None:
    unlocked, _ = run(awaiting(), ev.PerformerConfirmed(at(2), TYPES))
    state, effects = run(unlocked, ev.ConsentRevoked(at(3), "c-other"))
    assert state.phase is Phase.UNLOCKED and effects == []


def test_captures_inside_the_window_make_the_outcome_captured() -> None:
    unlocked, _ = run(awaiting(), ev.PerformerConfirmed(at(2), TYPES))
    capture = Capture("IMG_0001.png", "ab" * 32, at(2.5), within_unlock_window=True)
    state, effects = run(unlocked, ev.CaptureRecorded(at(2.5), capture), ev.PerformerStopped(at(3)))
    assert ev.WriteRecord(Outcome.CAPTURED) in effects
    assert outcome_of(state.context) is Outcome.CAPTURED


def test_no_biometric_consent_switches_to_the_fallback() -> None:
    state, _ = run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), face(1))
    check = ConsentCheck(False, (("biometric_check_not_consented", "..."),), terms(), fallback_required=True)
    state, effects = run(state, ev.ConsentChecked(at(1.5), check))
    assert state.phase is Phase.IDENTIFYING and state.context.fallback_mode
    assert effects == [ev.RequestFallback()]
    # A face match cannot stand in for the badge + PIN now.
    state, effects = run(state, face(2))
    assert state.phase is Phase.IDENTIFYING and effects == []
    badge = Identity("perf-a", IdentificationMethod.FALLBACK_BADGE_PIN, at(3), witness="tech")
    state, effects = run(state, ev.IdentityConfirmed(at(3), badge))
    assert state.phase is Phase.CHECKING_CONSENT


def test_fault_stays_visible_until_record_written_and_acknowledged() -> None:
    state, effects = run(awaiting(), ev.Fault(at(2), "registry", "connection refused"))
    assert state.phase is Phase.LOCKED_FAULT
    assert effects == [ev.LockGate(LockReason.FAULT), ev.WriteRecord(Outcome.FAULT)]
    state, _ = run(state, ev.TechnicianEnded(at(3)))
    assert state.phase is Phase.LOCKED_FAULT  # the record is not written yet
    state, _ = run(state, ev.RecordWritten(at(4)), ev.TechnicianEnded(at(3)))
    assert state.phase is Phase.IDLE


def test_illegal_pairs_raise() -> None:
    with pytest.raises(IllegalTransitionError):
        transition(SessionState(), ev.RecordWritten(at(0)), TIMING)
    # A double-clicked Start is ignored, never a second session on top of the first.
    state, effects = transition(awaiting(), ev.SessionStarted(at(3), "s-2", "tech", TYPES), TIMING)
    assert state.context.session_id == "s-1" and effects == ()
    with pytest.raises(IllegalTransitionError, match="capture type"):
        transition(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", frozenset()), TIMING)


def test_transition_is_total_over_phases_and_events() -> None:
    """Every (phase, event) pair either transitions or raises IllegalTransitionError."""
    samples: list[ev.Event] = [
        ev.SessionStarted(at(0), "s", "t", TYPES),
        face(0),
        ev.UnknownSubject(at(0)),
        ev.FrameAnalysed(at(0)),
        ev.FallbackRequested(at(0)),
        ev.ConsentChecked(at(0), ConsentCheck(False, (("x", "y"),))),
        ev.ConsentRechecked(at(0), ConsentCheck(False, (("x", "y"),))),
        ev.PerformerConfirmed(at(0), TYPES),
        ev.PerformerDeclined(at(0)),
        ev.PerformerStopped(at(0)),
        ev.TechnicianEnded(at(0)),
        ev.ConsentRevoked(at(0), "c-1"),
        ev.RegistryKeyUntrusted(at(0), "k"),
        ev.GateLeaseLapsed(at(0)),
        ev.GateUnlocked(at(0)),
        ev.CaptureRecorded(at(0), Capture("x", None, at(0), False)),
        ev.Fault(at(0), "x", "y"),
        ev.Tick(at(0)),
        ev.RecordWritten(at(0)),
        ev.LivenessChecked(at(0), LivenessOutcome("perf-a", "challenge", False, at(0), 1)),
    ]
    assert {type(s) for s in samples} == set(typing.get_args(ev.Event))
    base = awaiting().context
    for phase in Phase:
        for event in samples:
            with contextlib.suppress(IllegalTransitionError):
                transition(SessionState(phase, base), event, TIMING)


def test_revocation_during_the_lookup_is_not_forgotten() -> None:
    """A revocation seen while the consent lookup is in flight refuses its (stale) 'allowed' answer."""
    state, _ = run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), face(1))
    state, _ = run(state, ev.ConsentRevoked(at(1.1), "c-1"))
    state, effects = run(state, ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms())))
    assert state.phase is Phase.CLOSING
    assert effects[0] == ev.LockGate(LockReason.CONSENT_REVOKED)


def test_fallback_identity_needs_a_witness_and_presence() -> None:
    state, _ = run(
        SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), ev.FallbackRequested(at(0.5))
    )
    unwitnessed = Identity("perf-a", IdentificationMethod.FALLBACK_BADGE_PIN, at(1), witness="")
    state, _ = run(
        state,
        ev.IdentityConfirmed(at(1), unwitnessed),
        ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms())),
        ev.FrameAnalysed(at(1.5), subject_in_view=True),
    )
    state, effects = run(state, ev.PerformerConfirmed(at(2), TYPES))
    assert effects[0] == ev.LockGate(LockReason.WITNESS_MISSING)
    # With a witness it unlocks, and still re-locks when nobody is in view any more.
    state, _ = run(
        SessionState(), ev.SessionStarted(at(0), "s-2", "tech", TYPES), ev.FallbackRequested(at(0.5))
    )
    witnessed = Identity("perf-a", IdentificationMethod.FALLBACK_BADGE_PIN, at(1), witness="tech")
    state, _ = run(
        state,
        ev.IdentityConfirmed(at(1), witnessed),
        ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms())),
        ev.FrameAnalysed(at(1.5), subject_in_view=True),
        ev.PerformerConfirmed(at(2), TYPES),
    )
    assert state.phase is Phase.UNLOCKED
    state, effects = run(state, ev.FrameAnalysed(at(4), subject_in_view=True), ev.Tick(at(5)))
    assert state.phase is Phase.UNLOCKED and effects == []
    state, effects = run(state, ev.FrameAnalysed(at(6), subject_in_view=False), ev.Tick(at(6.5)))
    assert state.phase is Phase.UNLOCKED and effects == []  # nobody in view for only 2 s
    state, effects = run(state, ev.FrameAnalysed(at(7.5), subject_in_view=False))
    assert effects[0] == ev.LockGate(LockReason.PERFORMER_ABSENT)


def test_a_face_identity_from_a_frame_taken_before_the_start_is_ignored() -> None:
    state, _ = run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES))
    state, effects = run(state, face(-0.8))  # a frame taken 0.8 s before the start, analysed after it
    assert state.phase is Phase.IDENTIFYING and effects == []
    state, effects = run(state, face(0.1))
    assert state.phase is Phase.CHECKING_CONSENT


def test_a_face_match_cannot_replace_the_badge_and_a_badge_cannot_replace_the_face() -> None:
    state, _ = run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES))
    badge = Identity("perf-a", IdentificationMethod.FALLBACK_BADGE_PIN, at(1), witness="tech")
    state, effects = run(state, ev.IdentityConfirmed(at(1), badge))
    assert state.phase is Phase.IDENTIFYING and effects == []


def test_every_lock_reason_has_plain_language_text() -> None:
    from agent.session.snapshot import reason_text

    for reason in LockReason:
        assert reason_text(reason.value) != reason.value.replace("_", " "), reason


def _unlocked_with_registry_answer(asked: float) -> SessionState:
    state, _ = run(
        SessionState(),
        ev.SessionStarted(at(0), "s-1", "tech", TYPES),
        face(1),
        ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms(), asked_at=at(asked))),
        ev.PerformerConfirmed(at(2), TYPES),
    )
    assert state.phase is Phase.UNLOCKED
    return state


def _faces_until(state: SessionState, end: int, start: int = 3) -> tuple[SessionState, list[ev.Effect]]:
    effects: list[ev.Effect] = []
    for second in range(start, end + 1):
        state, more = run(state, face(second))
        effects.extend(more)
        if state.phase is not Phase.UNLOCKED:
            break
    return state, effects


def test_unlocked_without_a_fresh_consent_answer_locks_as_registry_unreachable() -> None:
    """Finding 9.6: with the registry gone, the gate once stayed open until the 10-minute time-box."""
    state, effects = _faces_until(_unlocked_with_registry_answer(1.0), 40)
    assert state.phase is Phase.CLOSING
    assert ev.LockGate(LockReason.REGISTRY_UNREACHABLE) in effects
    lock_at = state.context.gate_events[-1][1]
    assert lock_at - at(1.0) <= TIMING.consent_max_age + timedelta(seconds=1)


def test_a_fresh_re_check_keeps_the_unlock_and_a_revoking_one_locks() -> None:
    state = _unlocked_with_registry_answer(1.0)
    state, _ = _faces_until(state, 19)
    state, _ = run(state, ev.ConsentRechecked(at(20), ConsentCheck(True, (), terms(), asked_at=at(19.9))))
    state, _ = _faces_until(state, 40, start=21)
    assert state.phase is Phase.UNLOCKED, "confirmed at 19.9 s: good until 49.9 s"
    assert state.context.consent_confirmed_at == at(19.9)
    revoked = ConsentCheck(False, (("revoked", "the consent was revoked"),), terms(), asked_at=at(40.5))
    state, effects = run(state, ev.ConsentRechecked(at(41), revoked))
    assert ev.LockGate(LockReason.CONSENT_REVOKED) in effects


def test_terms_confirmed_after_the_consent_answer_went_stale_do_not_unlock() -> None:
    state, _ = run(
        SessionState(),
        ev.SessionStarted(at(0), "s-1", "tech", TYPES),
        face(1),
        ev.ConsentChecked(at(1.2), ConsentCheck(True, (), terms(), asked_at=at(1.0))),
    )
    for second in range(2, 40):
        state, _ = run(state, face(second))
    state, effects = run(state, ev.PerformerConfirmed(at(40), TYPES))
    assert state.phase is Phase.CLOSING
    assert ev.LockGate(LockReason.REGISTRY_UNREACHABLE) in effects


LIVE = Timing(timedelta(seconds=3), timedelta(seconds=10), timedelta(minutes=5), liveness_required=True)


def live_run(state: SessionState, *events: ev.Event) -> tuple[SessionState, list[ev.Effect]]:
    effects: list[ev.Effect] = []
    for event in events:
        state, produced = transition(state, event, LIVE)
        effects.extend(produced)
    return state, effects


def liveness(
    seconds: float, *, passed: bool, attempt: int = 1, performer: str = "perf-a"
) -> ev.LivenessChecked:
    outcome = LivenessOutcome(performer, "challenge", passed, at(seconds), attempt)
    return ev.LivenessChecked(at(seconds), outcome)


def test_with_liveness_on_a_face_goes_through_the_challenge_before_the_consent_is_fetched() -> None:
    state, effects = live_run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), face(1))
    assert state.phase is Phase.CHALLENGING
    assert effects == [ev.StartChallenge("perf-a", 1)]
    state, effects = live_run(state, face(1.5), liveness(2, passed=True))
    assert state.phase is Phase.CHECKING_CONSENT and effects == [ev.FetchConsent("perf-a")]
    state, effects = live_run(
        state,
        ev.ConsentChecked(at(2.2), ConsentCheck(True, (), terms())),
        face(2.5),
        ev.PerformerConfirmed(at(3), TYPES),
    )
    assert state.phase is Phase.UNLOCKED
    assert state.context.liveness is not None and state.context.liveness.passed


def test_a_failed_challenge_may_be_retried_once_then_nothing_unlocks() -> None:
    state, effects = live_run(
        SessionState(),
        ev.SessionStarted(at(0), "s-1", "tech", TYPES),
        face(1),
        liveness(4, passed=False),
        face(4.5),
        liveness(8, passed=False, attempt=2),
        ev.RecordWritten(at(8.1)),
    )
    assert ev.StartChallenge("perf-a", 2) in effects
    assert ev.LockGate(LockReason.LIVENESS_FAILED) in effects
    assert not any(isinstance(e, (ev.UnlockGate, ev.FetchConsent)) for e in effects)
    assert state.phase is Phase.IDLE


def test_a_liveness_answer_for_another_face_or_an_old_attempt_is_ignored() -> None:
    state, _ = live_run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), face(1))
    for stale in (liveness(2, passed=True, performer="perf-b"), liveness(2, passed=True, attempt=7)):
        after, effects = live_run(state, stale)
        assert after.phase is Phase.CHALLENGING and effects == []


def test_without_a_passed_challenge_the_unlock_is_blocked_even_if_everything_else_holds() -> None:
    state, _ = live_run(SessionState(), ev.SessionStarted(at(0), "s-1", "tech", TYPES), face(1))
    # Force the phase past the challenge without a pass (as a buggy caller might).
    forced = SessionState(
        Phase.AWAITING_CONFIRMATION,
        replace(state.context, consent=ConsentCheck(True, (), terms()), consent_checked_at=at(1.2)),
    )
    after, effects = live_run(forced, ev.PerformerConfirmed(at(2), TYPES))
    assert not any(isinstance(e, ev.UnlockGate) for e in effects)
    assert LockReason.LIVENESS_MISSING.value in after.context.refusal_codes


def test_a_challenge_failed_before_switching_to_badge_and_pin_stays_in_the_record() -> None:
    """The performer fails the challenge, then is identified by badge + PIN: the failed
    attempt happened and the record says so (it is not dropped with the face identity)."""
    badge = Identity("perf-a", IdentificationMethod.FALLBACK_BADGE_PIN, at(6), witness="tech")
    state, _ = live_run(
        SessionState(),
        ev.SessionStarted(at(0), "s-1", "tech", TYPES),
        face(1),
        liveness(4, passed=False),
        ev.FallbackRequested(at(5)),
        ev.IdentityConfirmed(at(6), badge),
    )
    assert state.context.identity is not None and state.context.identity.method is badge.method
    draft = build_record_draft(state.context, production_id="p", consent=None, ended_at=at(9))
    liveness_member = draft["identification"]["liveness"]
    assert liveness_member["passed"] is False and liveness_member["attempt"] == 1
    assert liveness_member["earlier_attempts"] == []
