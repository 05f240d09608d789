"""The controller's liveness challenge: steps drawn, frames judged, the outcome as an event.

The state machine asks for a challenge (``StartChallenge``); :class:`LivenessChecks`
draws the steps, feeds it every analysed frame of the session (the landmarks the
identification process measured on the tracked face) and the clock, and turns the
verdict into a ``LivenessChecked`` event. Used only on the engine thread.

Two methods:

- ``challenge``: :class:`agent.liveness.challenge.Challenge` on real landmarks. A frame
  without landmarks gives no progress, so a rig that cannot measure them fails the
  step when its time runs out (fail closed).
- ``synthetic``: for the demo's stand-in camera, which cannot turn its head. Each step
  "passes" once the identified face has been in view for ``SYNTHETIC_STEP_S``; the
  outcome says ``synthetic`` and is never evidence. It cannot be chosen in a rig's
  configuration (the demo sets it in code).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from agent.liveness.challenge import Challenge, Step, Thresholds, Verdict, draw_steps
from agent.session import events as ev
from agent.session.model import LivenessOutcome

if TYPE_CHECKING:  # snapshots (and the screens) need ChallengeView, not the face engine
    from agent.faces.identifier import FrameAnalysis

LivenessMethod = Literal["challenge", "synthetic"]
SYNTHETIC_STEP_S = 1.5
"""How long a synthetic step holds the identified face before it "passes": long enough for
someone watching the demo's screens to read each prompt."""


@dataclass(frozen=True)
class ChallengeView:
    """What the screens show of a running challenge."""

    method: LivenessMethod
    step: Step
    step_number: int
    steps_total: int
    deadline: datetime
    attempt: int


class LivenessChecks:
    """Runs at most one challenge at a time for the session engine."""

    def __init__(
        self,
        method: LivenessMethod,
        steps: int,
        thresholds: Thresholds,
        model: str,
        *,
        synthetic_step_s: float = SYNTHETIC_STEP_S,
    ) -> None:
        """Args: the method, how many steps to draw, the decision limits, the landmark model's name,
        and how long a synthetic step holds the face (headless rehearsals, watched by nobody,
        hold it for less)."""
        self.method = method
        self._synthetic_step = timedelta(seconds=synthetic_step_s)
        self._steps = steps
        self._thresholds = thresholds
        self._model = model
        self._challenge: Challenge | None = None
        self._attempt = 0
        self._synthetic_since: datetime | None = None

    @property
    def running(self) -> bool:
        """A challenge is under way (read from any thread: one reference, no lock needed)."""
        return self._challenge is not None

    @property
    def view(self) -> ChallengeView | None:
        """The running challenge's current step (None when none runs)."""
        challenge = self._challenge
        if challenge is None or challenge.current_step is None:
            return None
        return ChallengeView(
            self.method,
            challenge.current_step,
            len(challenge.results) + 1,
            len(challenge.steps),
            challenge.step_deadline,
            self._attempt,
        )

    def start(self, effect: ev.StartChallenge, at: datetime) -> None:
        """Begin a new challenge (any earlier one is dropped)."""
        self._attempt = effect.attempt
        self._challenge = Challenge(draw_steps(self._steps), effect.performer_id, at, self._thresholds)
        self._synthetic_since = None

    def stop(self) -> None:
        """The session left the challenge: forget it."""
        self._challenge = None

    def on_frame(self, analysis: FrameAnalysis, seen_at: datetime) -> ev.LivenessChecked | None:
        """Judge one analysed frame; the outcome event once the challenge is decided."""
        challenge = self._challenge
        if challenge is None or challenge.verdict is not Verdict.RUNNING:
            return None
        if self.method == "synthetic":
            return self._synthetic_frame(challenge, analysis, seen_at)
        landmarks = analysis.landmarks
        if landmarks is None:
            challenge.expire(seen_at)
        else:
            # The identification process cannot know the camera time or the session's match.
            challenge.feed(replace(landmarks, at=seen_at, performer_id=analysis.performer_id))
        return self._outcome_if_decided(seen_at)

    def on_tick(self, now: datetime) -> ev.LivenessChecked | None:
        """The clock moved: a step whose time ran out fails."""
        challenge = self._challenge
        if challenge is None or challenge.verdict is not Verdict.RUNNING:
            return None
        challenge.expire(now)
        return self._outcome_if_decided(now)

    def _synthetic_frame(
        self, challenge: Challenge, analysis: FrameAnalysis, seen_at: datetime
    ) -> ev.LivenessChecked | None:
        if analysis.performer_id != challenge.performer_id:
            self._synthetic_since = None
            return self.on_tick(seen_at)
        since = self._synthetic_since or seen_at
        self._synthetic_since = since
        # Well inside the step's time limit, so a stand-in in view always gets through.
        hold = min(self._synthetic_step, self._thresholds.step_time_limit / 2)
        if seen_at - since >= hold:
            challenge.pass_step_synthetically(seen_at)
            self._synthetic_since = None
        return self._outcome_if_decided(seen_at)

    def _outcome_if_decided(self, at: datetime) -> ev.LivenessChecked | None:
        challenge = self._challenge
        if challenge is None or challenge.verdict is Verdict.RUNNING:
            return None
        self._challenge = None
        steps = tuple(
            (r.step.value, r.passed, r.reason, tuple(sorted(r.evidence.items()))) for r in challenge.results
        )
        outcome = LivenessOutcome(
            performer_id=challenge.performer_id,
            method=self.method,
            passed=challenge.verdict is Verdict.PASSED,
            completed_at=at,
            attempt=self._attempt,
            steps=steps,
            model="synthetic (demo stand-in camera)" if self.method == "synthetic" else self._model,
        )
        return ev.LivenessChecked(at, outcome)
