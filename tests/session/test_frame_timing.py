"""Absence and recognition stalls, judged on when the camera took the analysed frames.

A simulated rig replays what the controller does, in simulated time: a 25 fps
camera; a recognition worker that takes the newest frame, needs ``analysis_s``
for it and hands the result over ``delivery_s`` later (a loaded CPU); the engine
thread applying every result (through :class:`FrameEvents`), a tick every 50 ms
and the performer's taps through the pure transition function. No CPU burner:
the delays are synthetic and exact, so these tests show the mechanism, not the
machine's speed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis
from agent.session import events as ev
from agent.session.frames import FrameEvents
from agent.session.machine import transition
from agent.session.model import ConsentCheck, ConsentTerms, LockReason, Phase, SessionState, Timing

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TIMING = Timing(absence_timeout=timedelta(seconds=3), identity_max_age=timedelta(seconds=10))
TYPES = frozenset({"face"})
FPS = 25
TICK_S = 0.05

PRESENT = FrameAnalysis(
    Decision.MATCH, "matched", performer_id="perf-a", distance=0.2, margin=0.3, faces_found=1
)
GLITCH = FrameAnalysis(Decision.MULTIPLE_FACES, "2 faces of similar size", faces_found=2)
GONE = FrameAnalysis(Decision.NO_FACE, "no face found in the frame")

Scene = Callable[[float], FrameAnalysis]
"""What the analysis of a frame taken at simulated second ``t`` (after the start) says."""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def standing_there(glitch_every: int = 0) -> Scene:
    """The performer stands in view; every ``glitch_every``-th camera frame is a false second face."""

    def scene(t: float) -> FrameAnalysis:
        index = round(t * FPS)
        return GLITCH if glitch_every and index % glitch_every == 0 else PRESENT

    return scene


def leaves_at(seconds: float) -> Scene:
    return lambda t: PRESENT if t < seconds else GONE


@dataclass
class SimulatedRig:
    """The controller's engine loop in simulated time (see the module docstring)."""

    scene: Scene
    analysis_s: Callable[[int], float]
    delivery_s: Callable[[int], float] = lambda _n: 0.0
    results_until: float = float("inf")
    state: SessionState = field(default_factory=SessionState)
    locks: list[tuple[float, LockReason]] = field(default_factory=list)
    sightings: list[float] = field(default_factory=list)
    """Capture times of delivered results that showed the performer."""

    def run(self, until: float) -> SimulatedRig:
        frames = FrameEvents(votes_required=3)
        queue: list[tuple[float, int, str, object]] = []
        order = itertools.count()

        def push(wall: float, kind: str, payload: object = None) -> None:
            heapq.heappush(queue, (wall, next(order), kind, payload))

        push(0.0, "start")
        worker_free, n = -5.0, 0  # the worker is already running before the session starts
        while worker_free < until:
            taken = int(worker_free * FPS) / FPS  # the newest camera frame when the worker gets free
            done = worker_free + self.analysis_s(n)
            if done <= self.results_until:
                push(done + self.delivery_s(n), "frame", taken)
            worker_free, n = done, n + 1
        for k in range(int(until / TICK_S) + 1):
            push(k * TICK_S, "tick")
        while queue:
            wall, _, kind, payload = heapq.heappop(queue)
            if wall > until:
                break
            before = self.state.phase
            if kind == "start":
                self.apply(ev.SessionStarted(at(wall), "s-1", "tech", TYPES), wall)
            elif kind == "tick":
                self.apply(ev.Tick(at(wall)), wall)
            elif kind == "frame":
                assert isinstance(payload, float)
                analysis = self.scene(payload)
                if analysis.is_match:
                    self.sightings.append(payload)
                for event in frames.events_for(analysis, at(payload), self.state.context):
                    self.apply(event, wall)
            elif kind == "consent":
                terms = ConsentTerms("c-1", 1, "perf-a", TYPES, at(3600), False, "ed25519:" + "a" * 32)
                self.apply(ev.ConsentChecked(at(wall), ConsentCheck(True, (), terms)), wall)
            elif kind == "confirm":
                self.apply(ev.PerformerConfirmed(at(wall), TYPES), wall)
            after = self.state.phase
            if after is not before and after is Phase.CHECKING_CONSENT:
                push(wall + 0.2, "consent")
            elif after is not before and after is Phase.AWAITING_CONFIRMATION:
                push(wall + 1.0, "confirm")
        return self

    def apply(self, event: ev.Event, wall: float) -> None:
        self.state, effects = transition(self.state, event, TIMING)
        self.locks += [(wall, e.reason) for e in effects if isinstance(e, ev.LockGate)]

    @property
    def lock_reasons(self) -> list[str]:
        return [reason.value for _, reason in self.locks]


def constant(seconds: float) -> Callable[[int], float]:
    return lambda _n: seconds


@pytest.mark.parametrize("analysis_s", [0.15, 0.6, 1.2])
@pytest.mark.parametrize("delivery_s", [0.0, 0.5])
def test_late_results_never_make_a_present_performer_absent(analysis_s: float, delivery_s: float) -> None:
    """A loaded rig: each result 0.15-1.7 s after its frame, and every 4th camera frame a false
    second face (as the stand-in clip's patch gave): the performer stays identified and unlocked."""
    rig = SimulatedRig(standing_there(glitch_every=4), constant(analysis_s), constant(delivery_s)).run(60)
    assert rig.lock_reasons == []
    assert rig.state.phase is Phase.UNLOCKED


@settings(max_examples=60, deadline=None)
@given(
    analysis=st.lists(st.floats(min_value=0.05, max_value=6.0), min_size=1, max_size=40),
    delivery=st.lists(st.floats(min_value=0.0, max_value=6.0), min_size=1, max_size=40),
    results_until=st.floats(min_value=0.0, max_value=40.0),
)
def test_whatever_the_delays_a_present_performer_is_never_recorded_absent(
    analysis: list[float], delivery: list[float], results_until: float
) -> None:
    """Results late by up to 12 s, out of order (each delivery delay is drawn on its own), or
    stopping altogether: a performer who stands there is never recorded as absent. When the rig
    cannot keep up it locks as a recognition stall, within absence_timeout + the lag allowance of
    the last analysed frame that showed the performer."""
    rig = SimulatedRig(
        standing_there(),
        lambda n: analysis[n % len(analysis)],
        lambda n: delivery[n % len(delivery)],
        results_until=results_until,
    ).run(45)
    assert "performer_absent" not in rig.lock_reasons
    assert set(rig.lock_reasons) <= {"recognition_stalled"}
    # A sighting is at most two analyses and one delivery old: within the allowance, nothing locks.
    if results_until >= 45 and 2 * max(analysis) + max(delivery) + 2 * TICK_S < 5.0:
        assert rig.lock_reasons == []
        assert rig.state.phase is Phase.UNLOCKED


def test_results_that_stop_arriving_lock_as_a_stall_not_as_absence() -> None:
    rig = SimulatedRig(standing_there(), constant(0.3), constant(0.2), results_until=20.0).run(40)
    assert rig.lock_reasons == ["recognition_stalled"]
    locked_at, _ = rig.locks[0]
    last_seen = max(rig.sightings)
    assert locked_at - last_seen == pytest.approx(TIMING.absence_timeout.total_seconds() + 2.0, abs=0.06)
    assert rig.state.phase is Phase.LOCKED_FAULT
    assert "could not analyse" in (rig.state.context.fault_detail or "")


@pytest.mark.parametrize("delivery_s", [0.0, 0.7])
def test_a_performer_who_leaves_is_absent_even_when_results_are_late(delivery_s: float) -> None:
    rig = SimulatedRig(leaves_at(20.0), constant(0.6), constant(delivery_s)).run(40)
    assert rig.lock_reasons == ["performer_absent"]
    locked_at, _ = rig.locks[0]
    # Judged on the frames: the first frame taken more than 3 s after the last sighting, once analysed.
    assert 20.0 + 3.0 < locked_at <= 20.0 + 3.0 + 2 * 0.6 + delivery_s + TICK_S


def test_a_performer_who_leaves_while_the_rig_lags_too_far_behind_locks_as_a_stall() -> None:
    """Results 2.6 s late: the frames that would show the performer gone come after the allowance
    (absence timeout + 2 s from the last sighting), so the rig locks as stalled, at that moment."""
    rig = SimulatedRig(leaves_at(20.0), constant(0.6), constant(2.0)).run(40)
    assert rig.lock_reasons == ["recognition_stalled"]
    locked_at, _ = rig.locks[0]
    assert locked_at - max(rig.sightings) == pytest.approx(5.0, abs=TICK_S + 0.01)


def test_a_single_matching_frame_keeps_an_identified_performer_present() -> None:
    """Presence needs one matching frame, not a new 3-frame vote: a false second face every other
    analysed frame (the vote never reaches 3 again) does not make the performer absent."""
    rig = SimulatedRig(standing_there(glitch_every=2), constant(1 / FPS)).run(5)
    assert rig.state.phase is Phase.IDENTIFYING  # never 3 in a row: nobody is identified
    unlocked = SimulatedRig(standing_there(), constant(0.5)).run(10)
    assert unlocked.state.phase is Phase.UNLOCKED
    glitchy = SimulatedRig(lambda t: PRESENT if t < 10 or round(t * 2) % 2 else GLITCH, constant(0.5)).run(30)
    assert glitchy.lock_reasons == []


def test_an_older_result_arriving_after_a_newer_one_turns_nothing_back() -> None:
    """Out of order: a frame taken before the newest sighting neither proves absence nor moves the
    sighting or the verified identity back in time."""
    rig = SimulatedRig(standing_there(), constant(0.5)).run(10)
    state = rig.state
    assert state.phase is Phase.UNLOCKED and state.context.identity is not None
    seen, verified = state.context.last_seen_at, state.context.identity.verified_at
    assert seen is not None
    old_identity = ev.IdentityConfirmed(
        seen - timedelta(seconds=4), replace(state.context.identity, verified_at=seen - timedelta(seconds=4))
    )
    for event in (ev.FrameAnalysed(seen - timedelta(seconds=4)), old_identity):
        state, effects = transition(state, event, TIMING)
        assert effects == () and state.phase is Phase.UNLOCKED
    assert state.context.last_seen_at == seen
    assert state.context.identity is not None and state.context.identity.verified_at == verified


def test_a_second_person_stepping_in_is_named_as_such_not_as_the_performer_leaving() -> None:
    """From second 20 every frame shows two comparable faces: the performer can no longer be
    confirmed, and the record must say why (several people in view), not that they left."""
    rig = SimulatedRig(lambda t: PRESENT if t < 20.0 else GLITCH, constant(0.3)).run(40)
    assert rig.lock_reasons == ["multiple_subjects"]
    locked_at, _ = rig.locks[0]
    assert 20.0 + 3.0 < locked_at <= 20.0 + 3.0 + 2 * 0.3 + TICK_S


def test_a_performer_gone_for_the_timeout_is_absent_even_if_two_passers_by_end_it() -> None:
    """The frames since the last sighting showed nobody; that the one frame concluding it shows two
    people walking past does not make the reason 'several people in view'."""
    rig = SimulatedRig(lambda t: PRESENT if t < 20.0 else GONE if t < 23.1 else GLITCH, constant(0.3)).run(40)
    assert rig.lock_reasons == ["performer_absent"]


def test_a_face_followed_through_the_challenge_keeps_its_performer_present_and_is_never_unknown() -> None:
    """Turned away during a challenge, the performer's face is followed (TRACKED), not matched:
    it must count as the performer being there, and never as an unknown face."""
    followed = FrameAnalysis(Decision.TRACKED, "followed", performer_id="perf-a", faces_found=1)
    frames = FrameEvents(votes_required=2)
    session = SessionState(Phase.CHALLENGING).context
    session = replace(session, session_id="s", started_at=at(0))
    produced = [e for k in range(30) for e in frames.events_for(followed, at(0.1 * k), session)]
    analysed = [e for e in produced if isinstance(e, ev.FrameAnalysed)]
    assert len(analysed) == 30 and all(e.performer_id == "perf-a" and e.subject_in_view for e in analysed)
    assert not [e for e in produced if isinstance(e, ev.UnknownSubject | ev.IdentityConfirmed)]


def test_followed_frames_keep_the_performer_present_but_only_matches_vote_or_refresh_the_identity() -> None:
    """Tracking between encodings: a followed frame shows the performer (presence) but is no vote
    and never makes the identity fresher; the next real match continues the votes."""
    followed = FrameAnalysis(Decision.TRACKED, "followed", performer_id="perf-a", faces_found=1)
    frames = FrameEvents(votes_required=3)
    session = replace(SessionState(Phase.IDENTIFYING).context, session_id="s", started_at=at(0))
    script = [PRESENT, followed, followed, PRESENT, followed, PRESENT, *[followed] * 20, PRESENT]
    produced = [(k, e) for k, a in enumerate(script) for e in frames.events_for(a, at(0.1 * k), session)]
    confirmed = [(k, e) for k, e in produced if isinstance(e, ev.IdentityConfirmed)]
    assert [k for k, _ in confirmed] == [5, 26]  # the third and the fourth real match, nothing else
    assert [e.identity.verified_at for _, e in confirmed] == [at(0.5), at(2.6)]
    assert [e.identity.frames_voted for _, e in confirmed] == [3, 4]
    seen = [e for _, e in produced if isinstance(e, ev.FrameAnalysed)]
    assert len(seen) == len(script) and all(e.performer_id == "perf-a" for e in seen)
