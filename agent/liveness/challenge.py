"""An active liveness challenge, judged frame by frame: pure logic, no camera, no model.

The session draws the steps at random (:func:`draw_steps`), shows one prompt at a time
and feeds every analysed frame's :class:`FaceLandmarks` to a :class:`Challenge`. A step
passes only when

- it is done by the *same* identified performer: a frame matching another performer fails
  the whole challenge at once (someone may have swapped in a picture); a face that matched
  nobody gives no progress and breaks the step's continuity (its frontal reference and
  blink baseline start again), because its identity is unknown. Frames of a face followed
  from a matching frame (:mod:`agent.liveness.tracking`) carry that match's performer;
- **turn**: the head turns the asked way by at least ``min_turn`` (see
  :func:`~agent.liveness.geometry.turn_cue`) from a frontal frame of the same step, *and*
  the landmarks of the two frames do not map onto each other by a homography (residual at
  least ``min_planarity_residual``): a flat print tilted in front of the camera moves the
  nose like a turn but stays a plane;
- **blink**: the eye aspect ratio dips by ``blink_dip`` relative to the step's own open-eye
  baseline and recovers within ``blink_frames`` frames (a fixed threshold would take a
  broad smile for closed eyes);

and it must pass within ``step_time_limit`` of its prompt. Steps are done in order.
"""

from __future__ import annotations

import enum
import secrets
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # OpenCV: imported when a turn is judged, not by every screen that shows a step
    from agent.liveness.geometry import Points


class Step(enum.Enum):
    """One thing the performer is asked to do (the wording is the screen's business)."""

    TURN_LEFT = "turn-left"
    TURN_RIGHT = "turn-right"
    BLINK = "blink"


class Verdict(enum.Enum):
    """Where a challenge stands."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class FaceLandmarks:
    """What one analysed frame showed, as the challenge needs it.

    ``performer_id`` is who the frame matched (None: no match, e.g. an unknown face);
    ``points`` the landmarks used for the planarity check (the same model points in
    every frame), ``scale`` the inter-eye distance in pixels, ``turn`` the turn cue
    towards the *performer's* left (positive) or right (negative), ``eye_ratio`` the
    mean eye aspect ratio of both eyes. ``points`` is None when no face was found.
    """

    at: datetime
    performer_id: str | None
    points: Points | None = None
    scale: float = 0.0
    turn: float = 0.0
    eye_ratio: float = 0.0
    track: int = 0
    """Which continuous track of the face this frame belongs to (0: none, e.g. a single
    analysis). A step's frontal reference and blink baseline hold only within one track: a
    picture swapped for another (two photos of the same person, frontal then turned) starts
    a new track, and a turn is never measured across the swap."""


@dataclass(frozen=True)
class Thresholds:
    """The decision limits (the cues' units: see :mod:`agent.liveness.geometry`).

    The turn limits are measured with MediaPipe's 468-point model through
    :mod:`agent.liveness.landmarks` (``docs/liveness-landmarks-study.md``, "The turn step
    in the challenge's units"): ``min_turn`` = the study's 0.2 eye spans of nose movement
    plus ``frontal_turn``, so that the turn from the frontal reference frame is at least
    0.2 however that frame was turned; ``min_planarity_residual`` (over the outer eye
    corner distance) lies between the flat prints' largest residual and the smallest
    residual of a genuine turn that reaches ``min_turn``. The blink limits are still
    provisional: no real blink has been measured. A rig calibrates its own.
    """

    frontal_turn: float = 0.08
    min_turn: float = 0.28
    min_planarity_residual: float = 0.06
    blink_dip: float = 0.35
    blink_recovery: float = 0.15
    blink_min_frames: int = 1
    blink_max_frames: int = 10
    step_time_limit: timedelta = timedelta(seconds=6)


@dataclass(frozen=True)
class StepResult:
    """How one step ended, with the numbers it was judged on."""

    step: Step
    passed: bool
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)


TURNS = (Step.TURN_LEFT, Step.TURN_RIGHT)


def draw_steps(count: int = 2) -> tuple[Step, ...]:
    """``count`` different steps in a random order from the OS's random source, at least one a turn.

    Only a turn carries the 3-D evidence (a picture is flat); a blink alone could be played
    by two photos, eyes open and shut, so a one-step challenge is always a turn.
    """
    choices = list(Step)
    if not 1 <= count <= len(choices):
        raise ValueError(f"a challenge has 1 to {len(choices)} steps, not {count}")
    rng = secrets.SystemRandom()
    while True:
        drawn = tuple(rng.sample(choices, count))
        if any(step in TURNS for step in drawn):
            return drawn


class Challenge:
    """One run of the challenge for one identified performer (see the module docstring)."""

    def __init__(
        self, steps: Sequence[Step], performer_id: str, started_at: datetime, thresholds: Thresholds
    ) -> None:
        """Args: the steps in order, whose face must do them, when the first prompt was shown."""
        if not steps:
            raise ValueError("a challenge needs at least one step")
        self.steps = tuple(steps)
        self.performer_id = performer_id
        self.thresholds = thresholds
        self.results: list[StepResult] = []
        self.verdict = Verdict.RUNNING
        self._step_started = started_at
        self._frontal: FaceLandmarks | None = None
        self._best_planar: dict[str, float] = {}
        self._eye_baseline: list[float] = []
        self._closed_frames = 0
        self._unmatched = 0
        self._track = 0

    @property
    def current_step(self) -> Step | None:
        """The step being asked for now (None once the challenge is over)."""
        return self.steps[len(self.results)] if self.verdict is Verdict.RUNNING else None

    @property
    def step_deadline(self) -> datetime:
        """When the current step's time runs out."""
        return self._step_started + self.thresholds.step_time_limit

    def feed(self, frame: FaceLandmarks) -> Verdict:
        """Judge one analysed frame (frames in camera-time order); returns the verdict so far."""
        step = self.current_step
        if step is None:
            return self.verdict
        if frame.at > self.step_deadline:
            return self._finish_step(frame.at, False, self._timeout_reason(step), dict(self._best_planar))
        if frame.points is None:
            return self.verdict  # no face in this frame: the time limit decides
        if frame.track != self._track:
            self._track = frame.track
            self._frontal, self._eye_baseline, self._closed_frames = None, [], 0
        if frame.performer_id is None:
            self._unmatched += 1
            self._frontal, self._eye_baseline, self._closed_frames = None, [], 0
            return self.verdict
        if frame.performer_id != self.performer_id:
            return self._finish_step(
                frame.at, False, "a different performer appeared during the challenge", {}, fail_all=True
            )
        if step is Step.BLINK:
            return self._feed_blink(frame)
        return self._feed_turn(step, frame)

    def expire(self, now: datetime) -> Verdict:
        """The clock moved on without frames: fail the step if its time ran out."""
        step = self.current_step
        if step is not None and now > self.step_deadline:
            return self._finish_step(now, False, self._timeout_reason(step), dict(self._best_planar))
        return self.verdict

    # ------------------------------------------------------------------ steps

    def _feed_turn(self, step: Step, frame: FaceLandmarks) -> Verdict:
        t = self.thresholds
        if abs(frame.turn) <= t.frontal_turn:
            self._frontal = frame  # the newest frontal frame is the reference for the turn
            return self.verdict
        wanted = 1.0 if step is Step.TURN_LEFT else -1.0
        if self._frontal is None or frame.turn * wanted < t.min_turn:
            return self.verdict
        assert self._frontal.points is not None and frame.points is not None
        from agent.liveness.geometry import planarity_residual  # noqa: PLC0415 - see the imports

        residual = planarity_residual(self._frontal.points, frame.points, self._frontal.scale)
        evidence = {"turn": round(frame.turn, 4), "planarity_residual": round(residual, 4)}
        if residual >= t.min_planarity_residual:
            return self._finish_step(frame.at, True, "the head turned in depth", evidence)
        if residual > self._best_planar.get("planarity_residual", -1.0):
            self._best_planar = evidence
        return self.verdict

    def _feed_blink(self, frame: FaceLandmarks) -> Verdict:
        t = self.thresholds
        if len(self._eye_baseline) < 3:
            self._eye_baseline.append(frame.eye_ratio)
            return self.verdict
        baseline = statistics.median(self._eye_baseline[-15:])
        if frame.eye_ratio <= baseline * (1.0 - t.blink_dip):
            self._closed_frames += 1
            if self._closed_frames > t.blink_max_frames:
                self._closed_frames = 0  # eyes held shut (or a picture with closed eyes): no blink
                self._eye_baseline.clear()
            return self.verdict
        if self._closed_frames >= t.blink_min_frames and frame.eye_ratio >= baseline * (
            1.0 - t.blink_recovery
        ):
            evidence = {
                "eye_ratio_baseline": round(baseline, 4),
                "closed_frames": float(self._closed_frames),
            }
            return self._finish_step(frame.at, True, "the eyes closed and opened again", evidence)
        if self._closed_frames == 0:
            self._eye_baseline.append(frame.eye_ratio)
        return self.verdict

    def _timeout_reason(self, step: Step) -> str:
        if step is not Step.BLINK and self._best_planar:
            return "the face turned like a flat picture, not a head"
        if self._unmatched:
            return (
                f"the step '{step.value}' was not done within {self.thresholds.step_time_limit.total_seconds():g} s"
                f" by the identified performer ({self._unmatched} frames showed a face that matched nobody)"
            )
        return f"the step '{step.value}' was not done within {self.thresholds.step_time_limit.total_seconds():g} s"

    def _finish_step(
        self, at: datetime, passed: bool, reason: str, evidence: dict[str, float], *, fail_all: bool = False
    ) -> Verdict:
        step = self.current_step
        assert step is not None
        if self._unmatched:
            evidence = {**evidence, "unmatched_frames": float(self._unmatched)}
        self.results.append(StepResult(step, passed, reason, evidence))
        self._frontal, self._best_planar, self._eye_baseline, self._closed_frames = None, {}, [], 0
        self._unmatched = 0
        self._step_started = at  # the next prompt is shown now
        if not passed or fail_all:  # one failed step fails the challenge (the screen offers a retry)
            self.verdict = Verdict.FAILED
        elif len(self.results) == len(self.steps):
            self.verdict = Verdict.PASSED
        return self.verdict

    def pass_step_synthetically(self, at: datetime) -> Verdict:
        """The demo's stand-in camera: mark the current step done without evidence (labelled so)."""
        if self.current_step is None:
            return self.verdict
        return self._finish_step(at, True, "synthetic: the demo's stand-in camera cannot do this step", {})

    def start_next_step(self, at: datetime) -> None:
        """The screen shows the next prompt at ``at``: its time limit counts from there."""
        self._step_started = at
