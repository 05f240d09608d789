"""Property tests of the session state machine (hypothesis stateful testing).

Random sequences of every kind of event — including faults, lease lapses,
revocations, clock jumps and inputs arriving late or out of order — are fed to
the pure transition function the way the controller does (an illegal event is
turned into a fault). After every step we check, with conditions written out
independently of the implementation:

* the gate is unlocked exactly in phase UNLOCKED, and only ever becomes
  unlocked when every unlock condition holds at that moment;
* while unlocked, no re-lock condition is pending (presence: a frame showing the
  performer taken within the absence timeout + the analysis-lag allowance);
* "performer absent" is only ever concluded from an analysed frame that did not show
  the performer, taken more than the absence timeout after they were last seen;
* every session ends in exactly one record, and no record is written outside a session.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.session import events as ev
from agent.session.machine import _HANDLERS, ANALYSIS_LAG_ALLOWANCE, IllegalTransitionError, transition
from agent.session.model import (
    Capture,
    ConsentCheck,
    ConsentTerms,
    IdentificationMethod,
    Identity,
    LivenessOutcome,
    LockReason,
    Phase,
    SessionState,
    Timing,
)

TIMING = Timing(
    absence_timeout=timedelta(seconds=3),
    identity_max_age=timedelta(seconds=10),
    unlock_timebox=timedelta(seconds=60),
    liveness_required=True,
)
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PERFORMERS = ("perf-a", "perf-b")
TYPES = ("face", "facs_expressions", "full_body", "hands")
KEYS = ("ed25519:" + "a" * 32, "ed25519:" + "b" * 32)

type_sets = st.frozensets(st.sampled_from(TYPES), max_size=4)


class SessionMachine(RuleBasedStateMachine):
    """Drives ``transition`` like the controller and checks the safety properties."""

    def __init__(self) -> None:
        super().__init__()
        self.state = SessionState()
        self.now = T0
        self.gate_open = False
        self.session_counter = 0
        self.records_in_session = 0
        self.revoked: set[str] = set()
        self.untrusted_keys: set[str] = set()
        self.faulted_since_unlock = False
        self.consent_counter = 0
        self.machine_time = T0
        self.revoked_at_fetch: set[str] = set()

    # -- driving ----------------------------------------------------------------------------

    def step(self, event: ev.Event, *, deliberately_illegal: bool = False) -> None:
        before = self.state
        if (before.phase, type(event)) not in _HANDLERS and not deliberately_illegal:
            return  # the controller mostly sends legal events; illegal ones come from `illegal_event`
        try:
            after, effects = transition(before, event, TIMING)
        except IllegalTransitionError:
            # The controller turns a broken caller into a fault; the fault must be legal or a no-op.
            after, effects = transition(before, ev.Fault(self.now, "internal", "illegal event"), TIMING)
        for effect in effects:
            if isinstance(effect, ev.LockGate) and effect.reason is LockReason.PERFORMER_ABSENT:
                self.check_absence_was_seen(before, event)
            if isinstance(effect, ev.FetchConsent):
                self.revoked_at_fetch = set(self.revoked)
            if isinstance(effect, ev.UnlockGate):
                assert before.phase is Phase.AWAITING_CONFIRMATION
                assert after.phase is Phase.UNLOCKED
                self.check_unlock_conditions(after, event)
                self.gate_open = True
                self.faulted_since_unlock = False
            elif isinstance(effect, ev.LockGate):
                self.gate_open = False
            elif isinstance(effect, ev.WriteRecord):
                assert before.phase in (
                    Phase.IDENTIFYING,
                    Phase.CHALLENGING,
                    Phase.CHECKING_CONSENT,
                    Phase.AWAITING_CONFIRMATION,
                    Phase.UNLOCKED,
                ), f"record written from {before.phase}"
                self.records_in_session += 1
        if before.phase is Phase.UNLOCKED and after.phase is not Phase.UNLOCKED:
            assert any(isinstance(e, ev.LockGate) for e in effects), "left UNLOCKED without locking"
        if before.phase is not Phase.IDLE and after.phase is Phase.IDLE:
            assert self.records_in_session == 1, "a session must end in exactly one record"
        if isinstance(event, ev.SessionStarted) and before.phase is not Phase.IDLE:
            assert after.context.session_id == before.context.session_id, "a start must not replace a session"
        self.state = after
        self.machine_time = event.at

    def check_absence_was_seen(self, before: SessionState, event: ev.Event) -> None:
        """'Absent' only ever means an analysed frame, taken more than the absence timeout after the
        performer was last seen, did not show them: never that results were late."""
        assert isinstance(event, ev.FrameAnalysed), f"absence concluded from {type(event).__name__}"
        ctx = before.context
        assert ctx.identity is not None and ctx.last_seen_at is not None
        if ctx.identity.method is IdentificationMethod.FACE:
            assert event.performer_id != ctx.identity.performer_id
        else:
            assert not event.subject_in_view
        assert event.at - ctx.last_seen_at > TIMING.absence_timeout

    def check_unlock_conditions(self, after: SessionState, event: ev.Event) -> None:
        ctx = after.context
        assert isinstance(event, ev.PerformerConfirmed)
        identity, check = ctx.identity, ctx.consent
        assert identity is not None and check is not None and check.allowed and check.terms is not None
        terms = check.terms
        assert terms.performer_id == identity.performer_id
        assert ctx.last_seen_at is not None
        assert self.now - ctx.last_seen_at <= TIMING.absence_timeout + ANALYSIS_LAG_ALLOWANCE
        if identity.method is IdentificationMethod.FACE:
            assert self.now - identity.verified_at <= TIMING.identity_max_age
            live = ctx.liveness
            assert live is not None and live.passed, "a face unlocks only after a passed liveness challenge"
            assert live.performer_id == identity.performer_id, "liveness of another face"
            assert ctx.started_at is not None and live.completed_at >= ctx.started_at
            assert self.now - live.completed_at <= TIMING.liveness_max_age
        else:
            assert identity.witness, "a fallback identity needs a technician witness"
            assert self.now - identity.verified_at <= TIMING.fallback_identity_max_age
        assert self.now < terms.valid_until
        assert terms.consent_id not in self.revoked
        assert terms.registry_key_id not in self.untrusted_keys
        assert event.capture_types, "unlock needs at least one capture type"
        assert event.capture_types <= ctx.requested_capture_types, "never widen the request"
        assert event.capture_types <= terms.permitted_capture_types, "never beyond the consent"
        assert not terms.minor or event.guardian_co_confirmed

    # -- rules ------------------------------------------------------------------------------

    @rule(types=type_sets)
    def start(self, types: frozenset[str]) -> None:
        if self.state.phase is Phase.IDLE and types:
            self.session_counter += 1
            self.records_in_session = 0
        self.step(ev.SessionStarted(self.now, f"s{self.session_counter}", "tech", types))

    @rule(
        performer=st.sampled_from(PERFORMERS), fallback=st.booleans(), witness=st.sampled_from(["tech", ""])
    )
    def identify(self, performer: str, fallback: bool, witness: str = "tech") -> None:
        method = IdentificationMethod.FALLBACK_BADGE_PIN if fallback else IdentificationMethod.FACE
        identity = Identity(performer, method, self.now, witness=witness if fallback else None)
        self.step(ev.IdentityConfirmed(self.now, identity))

    @rule()
    def someone_in_view(self) -> None:
        identity = self.state.context.identity
        self.step(ev.FrameAnalysed(self.now, identity.performer_id if identity else None, True))

    @rule(
        performer=st.sampled_from((*PERFORMERS, None)),
        in_view=st.booleans(),
        taken_ago=st.floats(min_value=0, max_value=8),
    )
    def frame_analysed(self, performer: str | None, in_view: bool, taken_ago: float) -> None:
        """A result of a frame the camera took ``taken_ago`` seconds ago (late, maybe out of order)."""
        self.step(ev.FrameAnalysed(self.now - timedelta(seconds=taken_ago), performer, in_view))

    @precondition(
        lambda self: self.state.phase in (Phase.CHECKING_CONSENT, Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED)
    )
    @rule(lag=st.floats(min_value=0, max_value=4), period=st.floats(min_value=0.05, max_value=1.5))
    def performer_walks_away(self, lag: float, period: float) -> None:
        """Frames showing nobody, ``period`` apart, each analysed ``lag`` after the camera took it,
        with the clock ticking in between: absent when they show it in time, else a stall."""
        taken = self.now
        while self.state.phase in (Phase.CHECKING_CONSENT, Phase.AWAITING_CONFIRMATION, Phase.UNLOCKED):
            taken += timedelta(seconds=period)
            self.now = taken + timedelta(seconds=lag)
            self.step(ev.Tick(self.now))
            self.step(ev.FrameAnalysed(taken, None, False))

    @rule(performer=st.sampled_from(PERFORMERS), passed=st.booleans(), attempt=st.integers(0, 3))
    def liveness_result(self, performer: str, passed: bool, attempt: int) -> None:
        """A challenge ends: for any face, any attempt, passed or not (the machine must sort it out)."""
        self.now += timedelta(seconds=1)
        outcome = LivenessOutcome(performer, "challenge", passed, self.now, attempt)
        self.step(ev.LivenessChecked(self.now, outcome))

    @rule()
    def unknown_face(self) -> None:
        self.step(ev.UnknownSubject(self.now))

    @rule()
    def request_fallback(self) -> None:
        self.step(ev.FallbackRequested(self.now))

    @rule(
        allowed=st.booleans(),
        same_performer=st.booleans(),
        permitted=type_sets,
        minor=st.booleans(),
        valid_for=st.integers(min_value=-5, max_value=120),
        key=st.sampled_from(KEYS),
        fallback_required=st.booleans(),
    )
    def consent_answer(
        self,
        allowed: bool,
        same_performer: bool,
        permitted: frozenset[str],
        minor: bool,
        valid_for: int,
        key: str,
        fallback_required: bool,
    ) -> None:
        identity = self.state.context.identity
        performer = identity.performer_id if identity and same_performer else "perf-z"
        self.consent_counter += 1
        consent_id = f"c{self.consent_counter}"
        terms = ConsentTerms(
            consent_id=consent_id,
            version=1,
            performer_id=performer,
            permitted_capture_types=permitted,
            valid_until=self.now + timedelta(seconds=valid_for),
            minor=minor,
            registry_key_id=key,
        )
        # The policy never allows an expired consent or one signed by an untrusted key.
        # (A revocation seen before the lookup started is the policy's job; the race where it
        # arrives while the lookup is in flight is the engine's, so the policy here ignores it.)
        really_allowed = (
            allowed
            and valid_for > 0
            and key not in self.untrusted_keys
            and consent_id not in self.revoked_at_fetch
        )
        reasons = () if really_allowed else (("refused", "refused by policy"),)
        check = ConsentCheck(really_allowed, reasons, terms, fallback_required and not really_allowed)
        self.step(ev.ConsentChecked(self.now, check))

    @precondition(
        lambda self: (
            self.state.phase
            in (Phase.IDLE, Phase.IDENTIFYING, Phase.CHALLENGING, Phase.AWAITING_CONFIRMATION)
        )
    )
    @rule(data=st.data(), fallback=st.booleans(), minor=st.booleans())
    def cooperative_performer(self, data: st.DataObject, fallback: bool, minor: bool) -> None:
        """A plausible happy path from here, so random faults also hit UNLOCKED sessions."""
        if self.state.phase is Phase.IDLE:
            self.start(data.draw(st.frozensets(st.sampled_from(TYPES), min_size=1)))
        if self.state.phase is Phase.IDENTIFYING:
            if fallback:
                self.request_fallback()
            witness = data.draw(st.sampled_from(["tech", "tech", ""]))
            self.identify(data.draw(st.sampled_from(PERFORMERS)), fallback, witness)
        if self.state.phase is Phase.CHALLENGING:
            ctx = self.state.context
            assert ctx.identity is not None
            passed = data.draw(st.booleans())  # a failed challenge must never lead to an unlock
            outcome = LivenessOutcome(
                ctx.identity.performer_id, "challenge", passed, self.now, ctx.liveness_attempts
            )
            self.step(ev.LivenessChecked(self.now, outcome))
        if self.state.phase is Phase.CHECKING_CONSENT:
            if data.draw(st.booleans()):
                self.revoke("next")  # revoked while the lookup is in flight
            requested = self.state.context.requested_capture_types
            # Usually the consent covers the request; sometimes only part of it.
            permitted = requested if data.draw(st.booleans()) else frozenset()
            permitted |= data.draw(type_sets)
            self.consent_answer(True, True, permitted, minor, 120, KEYS[0], False)
        if self.state.phase is Phase.AWAITING_CONFIRMATION:
            requested = self.state.context.requested_capture_types
            narrowed = data.draw(st.frozensets(st.sampled_from(sorted(requested)), min_size=1))
            self.someone_in_view()
            self.confirm(narrowed, guardian=data.draw(st.booleans()))

    @rule(types=type_sets, guardian=st.booleans())
    def confirm(self, types: frozenset[str], guardian: bool) -> None:
        self.step(ev.PerformerConfirmed(self.now, types, guardian))

    @rule()
    def decline(self) -> None:
        self.step(ev.PerformerDeclined(self.now))

    @rule()
    def stop(self) -> None:
        self.step(ev.PerformerStopped(self.now))

    @rule()
    def end(self) -> None:
        self.step(ev.TechnicianEnded(self.now))

    @rule(which=st.sampled_from(["current", "next", "other"]))
    def revoke(self, which: str) -> None:
        """Revoke the consent in force, the one a lookup in flight will return, or another."""
        check = self.state.context.consent
        if which == "current" and check is not None and check.terms is not None:
            consent_id = check.terms.consent_id
        elif which == "next":
            consent_id = f"c{self.consent_counter + 1}"
        else:
            consent_id = "other"
        self.revoked.add(consent_id)
        self.step(ev.ConsentRevoked(self.now, consent_id))

    @rule(key=st.sampled_from(KEYS))
    def untrust_key(self, key: str) -> None:
        self.untrusted_keys.add(key)
        self.step(ev.RegistryKeyUntrusted(self.now, key))

    @rule()
    def lease_lapse(self) -> None:
        self.faulted_since_unlock = True
        self.step(ev.GateLeaseLapsed(self.now))

    @rule(component=st.sampled_from(["camera", "registry", "gate", "key"]))
    def fault(self, component: str) -> None:
        self.faulted_since_unlock = True
        self.step(ev.Fault(self.now, component, "failed"))

    @rule()
    def capture(self) -> None:
        self.step(ev.CaptureRecorded(self.now, Capture("img.png", None, self.now, self.gate_open)))

    @rule(data=st.data())
    def illegal_event(self, data: st.DataObject) -> None:
        """Any event the current phase does not accept: it must end as a locked fault."""
        candidates: list[ev.Event] = [
            ev.SessionStarted(self.now, "x", "tech", frozenset({"face"})),
            ev.FallbackRequested(self.now),
            ev.ConsentChecked(self.now, ConsentCheck(False, (("x", "x"),))),
            ev.PerformerConfirmed(self.now, frozenset({"face"})),
            ev.PerformerDeclined(self.now),
            ev.RecordWritten(self.now),
        ]
        illegal = [e for e in candidates if (self.state.phase, type(e)) not in _HANDLERS]
        if illegal:
            self.step(data.draw(st.sampled_from(illegal)), deliberately_illegal=True)
            assert not self.gate_open

    @rule(seconds=st.floats(min_value=0.05, max_value=5))
    def short_pause(self, seconds: float) -> None:
        self.time_passes(seconds)

    @rule(seconds=st.floats(min_value=0.01, max_value=80))
    def time_passes_between_ticks(self, seconds: float) -> None:
        """The clock moves on; the next event (of any kind) arrives before the next tick."""
        self.now += timedelta(seconds=seconds)

    @rule(seconds=st.one_of(st.floats(min_value=0.01, max_value=4), st.floats(min_value=4, max_value=200)))
    def time_passes(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.step(ev.Tick(self.now))

    @precondition(lambda self: self.state.phase in (Phase.CLOSING, Phase.LOCKED_FAULT))
    @rule()
    def record_written(self) -> None:
        if self.state.context.record_written:
            return
        self.step(ev.RecordWritten(self.now))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def gate_open_only_when_unlocked(self) -> None:
        assert self.gate_open == (self.state.phase is Phase.UNLOCKED)

    @invariant()
    def unlocked_means_conditions_still_hold(self) -> None:
        if self.state.phase is not Phase.UNLOCKED:
            return
        ctx = self.state.context
        assert ctx.consent is not None and ctx.consent.terms is not None and ctx.identity is not None
        terms = ctx.consent.terms
        now = self.machine_time  # the machine only knows the time its last event carried
        assert now < terms.valid_until
        assert ctx.unlock_deadline is not None and now < ctx.unlock_deadline
        assert terms.consent_id not in self.revoked
        assert terms.registry_key_id not in self.untrusted_keys
        assert not self.faulted_since_unlock
        assert ctx.last_seen_at is not None
        assert now - ctx.last_seen_at <= TIMING.absence_timeout + ANALYSIS_LAG_ALLOWANCE

    @invariant()
    def at_most_one_record_per_session(self) -> None:
        assert self.records_in_session <= 1


SessionMachine.TestCase.settings = settings(max_examples=1000, stateful_step_count=50, deadline=None)
TestSessionMachine = SessionMachine.TestCase
