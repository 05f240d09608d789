"""Judging a recorded video or image folder as if it were the camera during a challenge.

This is how a rig's camera is calibrated before go-live (``scangate liveness``, see
``docs/liveness.md``) and how the benchmarks measure attacks: the frames go through exactly
what the rig runs during a challenge — :class:`~agent.liveness.tracking.ChallengeTracker`
(the real identifier and the real landmark model) into a
:class:`~agent.liveness.challenge.Challenge` with the configured thresholds.

A recording has no roster behind it, so the subject is enrolled from the recording itself:
the first frame whose face passes the quality gate and up to two more in the half second
after it give a one-person roster ("subject"). A second person or a face swapped in later then matches nobody, as an impostor would on a
rig. Time is the recording's own: frame index / frames per second. The first step's time
limit counts from the first frame, each next step's from when the previous one passed
(a recording cannot wait for a prompt).
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.camera.sources import IMAGE_SUFFIXES, natural_key
from agent.errors import InputError
from agent.faces.analysis import FaceAnalyser
from agent.faces.engine import Encoding
from agent.faces.identifier import Identifier
from agent.faces.imaging import RGBImage, load_image
from agent.faces.roster import roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.faces.video import is_video_path, iter_video_frames
from agent.liveness.challenge import Challenge, Step, StepResult, Thresholds, Verdict
from agent.liveness.landmarks import FaceLandmarker
from agent.liveness.tracking import ChallengeTracker

SUBJECT = "subject"
ENROLMENT_S = 0.5
ENROLMENT_FRAMES = 3
FLAT_REASON = "the face turned like a flat picture, not a head"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class LivenessResult(enum.StrEnum):
    """What a recording showed."""

    LIVE = "live"
    """Every step was done, by the same face, in depth."""
    ATTACK = "attack"
    """A turn was made the way a flat picture turns, or another performer took over."""
    INCOMPLETE = "incomplete"
    """The steps were not done in time (or before the recording ended), without attack evidence."""
    NO_FACE = "no_face"
    """No frame showed a face good enough to follow."""
    ERROR = "error"
    """The input could not be read."""


@dataclass(frozen=True)
class OfflineVerdict:
    """The judgement of one recording, with the numbers behind it."""

    input: str
    result: LivenessResult
    reason: str
    steps: tuple[StepResult, ...] = ()
    frames_read: int = 0
    frames_identified: int = 0
    frames_followed: int = 0
    followed_ms: tuple[float, ...] = field(default=(), repr=False)
    identified_ms: tuple[float, ...] = field(default=(), repr=False)
    hint: str | None = None
    """What to do about an ``error`` result (null otherwise)."""

    def as_dict(self) -> dict[str, object]:
        """The JSON line of ``scangate liveness --json``."""
        return {
            "input": self.input,
            "result": self.result.value,
            "steps": [
                {"step": s.step.value, "passed": s.passed, "reason": s.reason, "evidence": s.evidence}
                for s in self.steps
            ],
            "reason": self.reason,
            "hint": self.hint,
            "frames_read": self.frames_read,
            "frames_identified": self.frames_identified,
            "frames_followed": self.frames_followed,
        }


def parse_steps(text: str) -> tuple[Step, ...]:
    """``turn-left,blink`` → the steps; raises ValueError naming what is wrong."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = {step.value: step for step in Step}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(
            f"unknown step(s) {', '.join(map(repr, unknown)) or '(none given)'}; use a comma-separated"
            f" list of {', '.join(known)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"a step is listed twice in {text!r}; each step is asked at most once")
    return tuple(known[name] for name in names)


def read_frames(path: Path, fps: float) -> Iterator[tuple[float, RGBImage]]:
    """(time in seconds, RGB frame) of a video file (its own rate) or an image folder (``fps``).

    Raises:
        InputError: missing, unreadable, or a folder without images.
    """
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not files:
            raise InputError(f"the folder has no images ({', '.join(IMAGE_SUFFIXES)})", where=str(path))
        for index, file in enumerate(files):
            yield index / fps, load_image(file)
        return
    if not is_video_path(path):
        if path.is_file():
            yield 0.0, load_image(path)  # one still: it can never turn
            return
        raise InputError("file not found" if not path.exists() else "not a file", where=str(path))
    for frame in iter_video_frames(path, sample_fps=0):
        yield frame.time_s, frame.rgb


class OfflineChallenge:
    """Judges recordings with one loaded face engine and landmark model (one thread)."""

    def __init__(
        self,
        settings: IdentificationSettings,
        thresholds: Thresholds,
        *,
        landmarker: FaceLandmarker | None = None,
        analyser: FaceAnalyser | None = None,
    ) -> None:
        """Args: identification settings and challenge thresholds (from the config)."""
        self.settings = settings
        self.thresholds = thresholds
        self.analyser = analyser or FaceAnalyser(settings)
        self.landmarker = landmarker or FaceLandmarker()

    def judge_path(self, path: Path, steps: Sequence[Step], *, fps: float = 30.0) -> OfflineVerdict:
        """Judge a video file, an image folder or a single image."""
        try:
            return self.judge(str(path), read_frames(path, fps), steps)
        except InputError as exc:
            return OfflineVerdict(str(path), LivenessResult.ERROR, exc.brief(str(path)), hint=exc.hint)

    def judge(
        self, name: str, frames: Iterator[tuple[float, RGBImage]], steps: Sequence[Step]
    ) -> OfflineVerdict:
        """Judge ``frames`` ((seconds, RGB), in time order) against ``steps``, in order."""
        frames = iter(frames)
        skipped, enrolment, encodings = self._enrol(frames)
        read = skipped
        followed_ms: list[float] = []
        identified_ms: list[float] = []

        def verdict(
            result: LivenessResult, reason: str, steps: tuple[StepResult, ...] = ()
        ) -> OfflineVerdict:
            return OfflineVerdict(
                name,
                result,
                reason,
                steps,
                read,
                len(identified_ms),
                len(followed_ms),
                tuple(followed_ms),
                tuple(identified_ms),
            )

        if not encodings:
            if read == 0:
                return verdict(LivenessResult.ERROR, "no frame could be read")
            return verdict(LivenessResult.NO_FACE, "no frame showed a face that passes the quality gate")
        roster = roster_from_vectors([(SUBJECT, "the recorded subject", encodings)])
        identifier = Identifier(self.settings, roster, engine=self.analyser.engine)
        tracker = ChallengeTracker(identifier.analyse, self.landmarker)
        last_at = _EPOCH + timedelta(seconds=enrolment[0][0])
        challenge = Challenge(steps, SUBJECT, last_at, self.thresholds)
        for seconds, frame in itertools.chain(enrolment, frames):
            read += 1
            at = last_at = _EPOCH + timedelta(seconds=seconds)
            before = tracker.identifications
            started = time.perf_counter()
            analysis = tracker.analyse(frame, seconds)
            spent = (time.perf_counter() - started) * 1000
            (identified_ms if tracker.identifications > before else followed_ms).append(spent)
            if analysis.landmarks is not None:
                challenge.feed(replace(analysis.landmarks, at=at, performer_id=analysis.performer_id))
            challenge.expire(at)
            if challenge.verdict is not Verdict.RUNNING:
                break
        if challenge.verdict is Verdict.RUNNING:
            # The recording ended: judge the open step as if its time had run out.
            challenge.expire(last_at + self.thresholds.step_time_limit + timedelta(seconds=1))
        results = tuple(challenge.results)
        if challenge.verdict is Verdict.PASSED:
            return verdict(LivenessResult.LIVE, "every step was done", results)
        failed = results[-1] if results else None
        if failed is None:
            return verdict(LivenessResult.INCOMPLETE, "the challenge did not start", results)
        attack = failed.reason == FLAT_REASON or "different performer" in failed.reason
        result = LivenessResult.ATTACK if attack else LivenessResult.INCOMPLETE
        return verdict(result, f"step '{failed.step.value}': {failed.reason}", results)

    def _enrol(
        self, frames: Iterator[tuple[float, RGBImage]]
    ) -> tuple[int, list[tuple[float, RGBImage]], list[Encoding]]:
        """The subject's templates: the first frame with a usable face and up to
        ``ENROLMENT_FRAMES - 1`` more in the ``ENROLMENT_S`` after it (one frame alone can be a
        poor template, as one photo can on a rig). Returns the frames skipped before that
        face, the frames read from it on (to be judged), and the encodings."""
        skipped = 0
        kept: list[tuple[float, RGBImage]] = []
        encodings: list[Encoding] = []
        sampled_at = -1e9
        for seconds, frame in frames:
            if encodings:
                kept.append((seconds, frame))
            due = not encodings or (
                len(encodings) < ENROLMENT_FRAMES and seconds - sampled_at >= ENROLMENT_S / ENROLMENT_FRAMES
            )
            if due:
                observation = self.analyser.observe(frame)
                if observation.encoding is not None:
                    if not encodings:
                        kept.append((seconds, frame))
                    encodings.append(observation.encoding)
                    sampled_at = seconds
            if not encodings:
                skipped += 1
            elif seconds - kept[0][0] >= ENROLMENT_S:
                break
        return skipped, kept, encodings
