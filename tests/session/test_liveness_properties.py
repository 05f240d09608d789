"""Property tests: with liveness on, the gate never unlocks without a fresh pass by the same face.

A hypothesis state machine drives the pure transition function
(agent/session/machine.py) with random sequences of session starts, face and
badge + PIN identifications of two performers, analysed frames, liveness outcomes
(passed or failed, for either performer, of the current, an earlier or a later
attempt, completed now, too long ago or before the session started), consent
answers, confirmations, fallback requests, technician ends and a clock moving on.

The test keeps its own account of what happened in the session — which
challenges the machine asked for and which outcomes were delivered — and after
every step checks, independently of the machine's own bookkeeping:

* an ``UnlockGate`` is emitted (and the machine is in ``UNLOCKED``) only when the
  identity that unlocks is a face and a delivered outcome passed, is of that
  identity's performer, answers the last challenge the machine asked for (the
  current attempt, for that performer) and completed after the session started
  and within ``liveness_max_age`` of the unlock — or the identity is a witnessed
  badge + PIN identification, which the machine accepts only in fallback mode
  and for which liveness does not apply (``unlock_blockers`` skips it exactly for
  ``FALLBACK_BADGE_PIN`` identities);
* freshness is judged at the moment of the unlock, like every unlock condition
  (docs/session.md, "checked at the moment of the confirmation"): while unlocked,
  the outcome relied on was fresh at ``unlocked_at``;
* every record drafted from the session says how liveness was established; with
  liveness off (``liveness_required`` false) no challenge is ever asked for, the
  context says liveness was not required, and a face record says ``off``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import event as note_event
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.session import events as ev
from agent.session.conditions import unlock_blockers
from agent.session.machine import _HANDLERS, IllegalTransitionError, transition
from agent.session.model import (
    ACTIVE_PHASES,
    ConsentCheck,
    ConsentTerms,
    IdentificationMethod,
    Identity,
    LivenessOutcome,
    LockReason,
    Phase,
    SessionContext,
    SessionState,
    Timing,
)
from agent.session.recording import build_record_draft

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LIVENESS_MAX_AGE = timedelta(seconds=20)
LIVE = Timing(
    absence_timeout=timedelta(seconds=3),
    identity_max_age=timedelta(seconds=10),
    unlock_timebox=timedelta(seconds=60),
    liveness_required=True,
    liveness_retries=1,
    # Shorter than the session's other limits, so a pass can go stale while the performer
    # stays in view and their identity stays fresh.
    liveness_max_age=LIVENESS_MAX_AGE,
)
OFF = Timing(
    absence_timeout=LIVE.absence_timeout,
    identity_max_age=LIVE.identity_max_age,
    unlock_timebox=LIVE.unlock_timebox,
    liveness_required=False,
)
PERFORMERS = ("perf-a", "perf-b")
TYPES = frozenset({"face", "hands"})
KEY = "ed25519:" + "a" * 32


@dataclass(frozen=True)
class Delivered:
    """A liveness outcome the test delivered, and whether the machine was waiting for it."""

    outcome: LivenessOutcome
    answered: ev.StartChallenge | None
    """The last challenge the machine had asked for when the outcome arrived."""


def fresh_pass_for(
    ctx: SessionContext, delivered: list[Delivered], asked: ev.StartChallenge | None, at: datetime
) -> bool:
    """A delivered outcome passed, for the unlocking face, of the current attempt, fresh at ``at``."""
    identity = ctx.identity
    if identity is None or asked is None or ctx.started_at is None:
        return False
    return any(
        d.outcome.passed
        and d.outcome.performer_id == identity.performer_id == asked.performer_id
        and d.outcome.attempt == asked.attempt
        and d.answered == asked
        and ctx.started_at <= d.outcome.completed_at <= at
        and at - d.outcome.completed_at <= LIVENESS_MAX_AGE
        for d in delivered
    )


class LivenessSessions(RuleBasedStateMachine):
    """Drives ``transition`` like the controller, with liveness required, and checks the rule."""

    timing = LIVE

    def __init__(self) -> None:
        super().__init__()
        self.state = SessionState()
        self.now = T0
        self.sessions = 0
        self.consents = 0
        self.asked: ev.StartChallenge | None = None
        """The last challenge the machine asked for in this session."""
        self.delivered: list[Delivered] = []

    # -- driving ----------------------------------------------------------------------------

    def step(self, event: ev.Event) -> None:
        before = self.state
        if (before.phase, type(event)) not in _HANDLERS:
            return  # the controller sends only events a phase accepts (illegal ones: test_machine_properties)
        try:
            after, effects = transition(before, event, self.timing)
        except IllegalTransitionError:
            after, effects = transition(before, ev.Fault(event.at, "internal", "illegal event"), self.timing)
        if isinstance(event, ev.LivenessChecked) and before.phase is Phase.CHALLENGING:
            self.delivered.append(Delivered(event.outcome, self.asked))
        if before.phase is Phase.CHALLENGING and after.phase is Phase.CHECKING_CONSENT:
            self.check_challenge_passed(before, event)
        for effect in effects:
            if isinstance(effect, ev.StartChallenge):
                self.check_challenge(after, effect)
                self.asked = effect
            elif isinstance(effect, ev.UnlockGate):
                assert after.phase is Phase.UNLOCKED, "unlocked outside UNLOCKED"
                self.check_liveness_allows_unlock(after.context, event.at)
                identity = after.context.identity
                note_event(f"unlocked ({identity.method.value if identity else '?'})")
            elif isinstance(effect, ev.WriteRecord):
                self.check_record(after.context)
                if LockReason.LIVENESS_MISSING.value in after.context.refusal_codes:
                    note_event("unlock refused: liveness_missing")
        self.state = after

    def check_challenge(self, after: SessionState, effect: ev.StartChallenge) -> None:
        assert self.timing.liveness_required, "a challenge was asked for with liveness off"
        identity = after.context.identity
        assert after.phase is Phase.CHALLENGING
        assert identity is not None and identity.method is IdentificationMethod.FACE
        assert effect.performer_id == identity.performer_id
        previous = self.asked.attempt if self.asked is not None else 0
        assert effect.attempt == previous + 1 == after.context.liveness_attempts
        assert effect.attempt <= 1 + self.timing.liveness_retries, "more attempts than retries allow"

    def check_challenge_passed(self, before: SessionState, event: ev.Event) -> None:
        """The challenge is left for the consent only on a pass of this attempt by this face."""
        identity = before.context.identity
        assert isinstance(event, ev.LivenessChecked), f"challenge left on {type(event).__name__}"
        assert identity is not None and self.asked is not None
        assert event.outcome.passed, "a failed challenge led on to the consent"
        assert event.outcome.performer_id == identity.performer_id, "another face's pass was accepted"
        assert event.outcome.attempt == self.asked.attempt, "an earlier or later attempt's pass was accepted"

    def check_liveness_allows_unlock(self, ctx: SessionContext, at: datetime) -> None:
        identity = ctx.identity
        assert identity is not None
        if identity.method is IdentificationMethod.FALLBACK_BADGE_PIN:
            # Liveness does not apply: but only to a witnessed badge + PIN session.
            assert ctx.fallback_mode, "a badge + PIN identity unlocked outside fallback mode"
            assert identity.witness, "a badge + PIN identity unlocked without a witness"
            return
        if not self.timing.liveness_required:
            return
        assert fresh_pass_for(ctx, self.delivered, self.asked, at), (
            f"unlocked for {identity.performer_id} at {at} without a fresh pass of attempt"
            f" {self.asked}; delivered: {self.delivered}"
        )
        # The outcome the machine relies on (and will record) is that pass.
        live = ctx.liveness
        assert live is not None and live.passed and live.performer_id == identity.performer_id
        assert self.asked is not None and live.attempt == self.asked.attempt == ctx.liveness_attempts
        assert at - live.completed_at <= LIVENESS_MAX_AGE

    def check_record(self, ctx: SessionContext) -> None:
        draft = build_record_draft(ctx, production_id="prod", consent=None, ended_at=self.now)
        identity = ctx.unlock_identity or ctx.identity
        if identity is None:
            assert "identification" not in draft
            return
        liveness = draft["identification"]["liveness"]
        if identity.method is IdentificationMethod.FALLBACK_BADGE_PIN:
            # Only the challenges really tried before switching to badge + PIN, never a claim.
            if not ctx.liveness_history:
                assert liveness is None, "a badge + PIN record claims a liveness result"
            else:
                assert ctx.liveness is not None and liveness["passed"] is ctx.liveness.passed
                earlier = [e["attempt"] for e in liveness["earlier_attempts"]]
                assert [*earlier, liveness["attempt"]] == [o.attempt for o in ctx.liveness_history]
        elif not ctx.liveness_required:
            assert liveness["method"] == "off" and liveness["passed"] is None
        elif ctx.liveness is not None:
            assert liveness["method"] == ctx.liveness.method == "challenge"
            assert liveness["passed"] is ctx.liveness.passed
            assert liveness["attempt"] == ctx.liveness.attempt
            # Every attempt is in the record, in order: none is left out.
            earlier = [e["attempt"] for e in liveness["earlier_attempts"]]
            assert [*earlier, liveness["attempt"]] == [o.attempt for o in ctx.liveness_history]
        else:
            assert liveness["passed"] is None, "a record claims a liveness result nobody delivered"
        if self.timing.liveness_required and LockReason.LIVENESS_FAILED in ctx.lock_reasons:
            assert ctx.liveness is not None and not ctx.liveness.passed
            assert ctx.liveness_attempts == 1 + self.timing.liveness_retries

    # -- rules ------------------------------------------------------------------------------

    @rule()
    def start(self) -> None:
        if self.state.phase is Phase.IDLE:
            self.sessions += 1
            self.asked, self.delivered = None, []
        self.step(ev.SessionStarted(self.now, f"s{self.sessions}", "tech", TYPES))

    @rule(performer=st.sampled_from(PERFORMERS))
    def face_identified(self, performer: str) -> None:
        self.step(ev.IdentityConfirmed(self.now, Identity(performer, IdentificationMethod.FACE, self.now)))

    @rule(performer=st.sampled_from(PERFORMERS), witness=st.sampled_from(["tech", ""]))
    def badge_identified(self, performer: str, witness: str) -> None:
        identity = Identity(performer, IdentificationMethod.FALLBACK_BADGE_PIN, self.now, witness=witness)
        self.step(ev.IdentityConfirmed(self.now, identity))

    @rule(performer=st.sampled_from((*PERFORMERS, None)))
    def frame(self, performer: str | None) -> None:
        self.step(ev.FrameAnalysed(self.now, performer, subject_in_view=True))

    @rule(
        performer=st.sampled_from(("current", *PERFORMERS)),
        passed=st.booleans(),
        attempt=st.sampled_from(("current", "earlier", "later", "zero")),
        completed=st.sampled_from(("now", "a moment ago", "stale", "before start")),
    )
    def liveness_outcome(self, performer: str, passed: bool, attempt: str, completed: str) -> None:
        """A challenge outcome arrives: any face, any attempt, completed at any time."""
        ctx = self.state.context
        who = ctx.identity.performer_id if performer == "current" and ctx.identity else performer
        current = ctx.liveness_attempts
        number = {"current": current, "earlier": current - 1, "later": current + 1, "zero": 0}[attempt]
        started = ctx.started_at or self.now
        completed_at = {
            "now": self.now,
            "a moment ago": self.now - timedelta(seconds=1),
            "stale": self.now - LIVENESS_MAX_AGE - timedelta(seconds=1),
            "before start": started - timedelta(seconds=1),
        }[completed]
        outcome = LivenessOutcome(who, "challenge", passed, completed_at, number)
        self.step(ev.LivenessChecked(self.now, outcome))

    @rule(same_performer=st.booleans(), fallback_required=st.booleans())
    def consent_answer(self, same_performer: bool, fallback_required: bool) -> None:
        """The registry answers: allowed for the identified performer (or refused: needs fallback)."""
        identity = self.state.context.identity
        self.consents += 1
        performer = identity.performer_id if identity is not None and same_performer else "perf-z"
        terms = ConsentTerms(
            f"c{self.consents}", 1, performer, TYPES, self.now + timedelta(hours=1), False, KEY
        )
        if fallback_required:
            refusal = (("biometric_check_not_consented", "no consent to face checks"),)
            check = ConsentCheck(False, refusal, terms, True, asked_at=self.now)
        else:
            check = ConsentCheck(True, (), terms, asked_at=self.now)
        self.step(ev.ConsentChecked(self.now, check))

    @rule(types=st.frozensets(st.sampled_from(sorted(TYPES)), min_size=1))
    def confirm(self, types: frozenset[str]) -> None:
        self.step(ev.PerformerConfirmed(self.now, types))

    @rule()
    def fallback_requested(self) -> None:
        self.step(ev.FallbackRequested(self.now))

    @rule()
    def technician_ends(self) -> None:
        self.step(ev.TechnicianEnded(self.now))

    @precondition(lambda self: self.state.phase in (Phase.CLOSING, Phase.LOCKED_FAULT))
    @rule()
    def record_written(self) -> None:
        if not self.state.context.record_written:
            self.step(ev.RecordWritten(self.now))

    @rule(seconds=st.sampled_from((0.5, 1.0, 2.5, 5.0, 11.0, 25.0)))
    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.step(ev.Tick(self.now))

    @precondition(lambda self: self.state.context.identity is not None)
    @rule(seconds=st.integers(min_value=1, max_value=30))
    def performer_stays(self, seconds: int) -> None:
        """Time passes with the performer in view and re-identified every second (a pass can age)."""
        for _ in range(seconds):
            identity = self.state.context.identity
            if identity is None or self.state.phase not in ACTIVE_PHASES:
                return
            self.now += timedelta(seconds=1)
            if identity.method is IdentificationMethod.FACE:
                self.face_identified(identity.performer_id)
            else:
                self.badge_identified(identity.performer_id, identity.witness or "")
            self.frame(identity.performer_id)

    @precondition(lambda self: self.state.phase in (Phase.IDLE, *ACTIVE_PHASES))
    @rule(data=st.data())
    def towards_an_unlock(self, data: st.DataObject) -> None:
        """A plausible path from here towards an unlock, with the liveness outcome drawn at random,
        so that the unlock decision is reached often."""
        if self.state.phase is Phase.IDLE:
            self.start()
        if self.state.phase is Phase.IDENTIFYING:
            performer = data.draw(st.sampled_from(PERFORMERS))
            if self.state.context.fallback_mode:
                self.badge_identified(performer, data.draw(st.sampled_from(["tech", "tech", ""])))
            else:
                self.face_identified(performer)
        while self.state.phase is Phase.CHALLENGING:
            self.now += timedelta(seconds=data.draw(st.sampled_from((1, 3))))
            if data.draw(st.booleans()):
                self.liveness_outcome("current", True, "current", "now")  # the performer does it
            else:
                self.liveness_outcome(
                    data.draw(st.sampled_from(("current", *PERFORMERS))),
                    data.draw(st.booleans()),
                    data.draw(st.sampled_from(("current", "earlier", "later", "zero"))),
                    data.draw(st.sampled_from(("now", "a moment ago", "stale", "before start"))),
                )
            if data.draw(st.booleans()):
                break
        if self.state.phase is Phase.CHECKING_CONSENT:
            self.consent_answer(True, data.draw(st.sampled_from((False, False, False, True))))
        if self.state.phase is Phase.AWAITING_CONFIRMATION:
            if data.draw(st.booleans()):
                self.performer_stays(data.draw(st.integers(min_value=1, max_value=25)))
            identity = self.state.context.identity
            if identity is not None:
                self.frame(identity.performer_id)
            self.confirm(TYPES)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def unlocked_only_on_a_pass_fresh_at_the_unlock(self) -> None:
        if self.state.phase is not Phase.UNLOCKED:
            return
        ctx = self.state.context
        assert ctx.unlocked_at is not None
        self.check_liveness_allows_unlock(ctx, ctx.unlocked_at)

    @invariant()
    def the_context_says_whether_liveness_was_required(self) -> None:
        if self.state.phase is not Phase.IDLE:
            assert self.state.context.liveness_required is self.timing.liveness_required
        if not self.timing.liveness_required:
            assert self.state.phase is not Phase.CHALLENGING
            assert self.state.context.liveness is None


class LivenessOffSessions(LivenessSessions):
    """The same sessions with ``[liveness] method = "off"``: no challenge, and the record says off."""

    timing = OFF


LivenessSessions.TestCase.settings = settings(max_examples=600, stateful_step_count=40, deadline=None)
LivenessOffSessions.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestLivenessRequired = LivenessSessions.TestCase
TestLivenessOff = LivenessOffSessions.TestCase


# --- the unlock condition on its own ------------------------------------------------------------
# The machine filters liveness outcomes before the unlock condition sees them, so a fault in one
# layer can hide behind the other. Here ``unlock_blockers`` is judged alone, on contexts the machine
# might never build: every other condition holds, the liveness part is drawn at random.

OTHER_CONDITIONS_AT = T0 + timedelta(seconds=30)


@st.composite
def contexts_ready_but_for_liveness(draw: st.DrawFn) -> SessionContext:
    """A context in which every unlock condition but liveness holds at ``OTHER_CONDITIONS_AT``."""
    at = OTHER_CONDITIONS_AT
    method = draw(st.sampled_from(IdentificationMethod))
    performer = draw(st.sampled_from(PERFORMERS))
    witness = "tech" if method is IdentificationMethod.FALLBACK_BADGE_PIN else None
    identity = Identity(performer, method, at - timedelta(seconds=1), witness=witness)
    attempts = draw(st.integers(min_value=0, max_value=3))
    outcome = draw(
        st.none()
        | st.builds(
            LivenessOutcome,
            performer_id=st.sampled_from(PERFORMERS),
            method=st.just("challenge"),
            passed=st.booleans(),
            completed_at=st.sampled_from(
                (
                    at,
                    at - timedelta(seconds=5),
                    at - LIVENESS_MAX_AGE,
                    at - LIVENESS_MAX_AGE - timedelta(seconds=1),
                    T0 - timedelta(seconds=1),  # before the session started
                )
            ),
            attempt=st.integers(min_value=0, max_value=3),
        )
    )
    terms = ConsentTerms("c1", 1, performer, TYPES, at + timedelta(hours=1), False, KEY)
    return SessionContext(
        session_id="s1",
        requested_capture_types=TYPES,
        started_at=T0,
        identity=identity,
        last_seen_at=at,
        fallback_mode=draw(st.booleans()),
        liveness=outcome,
        liveness_attempts=attempts,
        liveness_required=True,
        consent=ConsentCheck(True, (), terms, asked_at=at),
        consent_checked_at=at,
        confirmed_capture_types=TYPES,
        confirmed_at=at,
    )


@given(ctx=contexts_ready_but_for_liveness())
@settings(max_examples=400, deadline=None)
def test_liveness_blocks_an_unlock_exactly_without_a_fresh_pass_of_this_attempt_by_this_face(
    ctx: SessionContext,
) -> None:
    at = OTHER_CONDITIONS_AT
    blockers = unlock_blockers(ctx, at, LIVE)
    assert ctx.identity is not None
    outcome = ctx.liveness
    applies = ctx.identity.method is IdentificationMethod.FACE  # badge + PIN: witnessed instead
    fresh_pass = (
        outcome is not None
        and outcome.passed
        and outcome.performer_id == ctx.identity.performer_id
        and outcome.attempt == ctx.liveness_attempts
        and T0 <= outcome.completed_at <= at
        and at - outcome.completed_at <= LIVENESS_MAX_AGE
    )
    assert (LockReason.LIVENESS_MISSING in blockers) is (applies and not fresh_pass), (outcome, ctx.identity)
    assert set(blockers) <= {LockReason.LIVENESS_MISSING}, "the fixture must satisfy every other condition"
    assert unlock_blockers(ctx, at, OFF) == [], "liveness off: liveness never blocks"


def test_a_pass_of_another_attempt_does_not_satisfy_the_unlock_condition() -> None:
    """Found by the property above: ``unlock_blockers`` took a pass of any attempt (the machine's
    filter on LivenessChecked was the only guard)."""
    at = OTHER_CONDITIONS_AT
    identity = Identity("perf-a", IdentificationMethod.FACE, at - timedelta(seconds=1))
    terms = ConsentTerms("c1", 1, "perf-a", TYPES, at + timedelta(hours=1), False, KEY)
    earlier_pass = LivenessOutcome("perf-a", "challenge", True, at - timedelta(seconds=5), attempt=1)
    ctx = SessionContext(
        session_id="s1",
        requested_capture_types=TYPES,
        started_at=T0,
        identity=identity,
        last_seen_at=at,
        liveness=earlier_pass,
        liveness_attempts=2,
        liveness_required=True,
        consent=ConsentCheck(True, (), terms, asked_at=at),
        consent_checked_at=at,
        confirmed_capture_types=TYPES,
        confirmed_at=at,
    )
    assert unlock_blockers(ctx, at, LIVE) == [LockReason.LIVENESS_MISSING]
    current_pass = LivenessOutcome("perf-a", "challenge", True, at - timedelta(seconds=5), attempt=2)
    assert unlock_blockers(replace(ctx, liveness=current_pass), at, LIVE) == []
