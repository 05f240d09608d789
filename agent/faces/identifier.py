"""Who is in front of the camera, frame by frame: analysis plus roster matching."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from agent.faces.analysis import FaceAnalyser, FaceObservation, StageTimings
from agent.faces.decision import Decision
from agent.faces.engine import FaceBox, FaceEngine
from agent.faces.imaging import RGBImage
from agent.faces.roster import Roster, judge_match
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import FaceLandmarks


@dataclass(frozen=True)
class FrameAnalysis:
    """The identification result of one frame.

    ``performer_id``, ``display_name``, ``template_id`` and ``template_version`` are set
    only for a match; ``distance`` and ``margin`` whenever a face was matched against the
    roster (also for ``unknown``); ``box`` whenever a face was found (full-resolution
    pixels). ``reason`` says in plain language why the decision was taken.
    """

    decision: Decision
    reason: str
    performer_id: str | None = None
    display_name: str | None = None
    distance: float | None = None
    margin: float | None = None
    box: FaceBox | None = None
    template_id: str | None = None
    template_version: int | None = None
    faces_found: int = 0
    sharpness: float | None = None
    timings: StageTimings = field(default_factory=StageTimings)
    landmarks: FaceLandmarks | None = None
    """The subject's facial landmarks, when the identification process measured them (liveness)."""

    @classmethod
    def followed(
        cls, anchor: FrameAnalysis, box: FaceBox, seconds_since_match: float, **measured: Any
    ) -> FrameAnalysis:
        """A ``tracked`` frame: the face of ``anchor`` (the frame that really matched) followed to
        ``box``, carrying its performer but no distance: it was not matched itself, so it is no
        vote and never makes the identity fresher. ``measured``: what this frame did measure
        (faces found, sharpness, timings, landmarks)."""
        return cls(
            decision=Decision.TRACKED,
            reason=(
                f"face followed from the frame that matched {seconds_since_match:.2f} s earlier"
                " (not matched itself)"
            ),
            performer_id=anchor.performer_id,
            display_name=anchor.display_name,
            box=box,
            template_id=anchor.template_id,
            template_version=anchor.template_version,
            **measured,
        )

    @property
    def is_match(self) -> bool:
        """True when this frame matched a performer on the roster."""
        return self.decision is Decision.MATCH

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (used by ``scangate identify --json`` and session records)."""
        return {
            "decision": self.decision.value,
            "performer_id": self.performer_id,
            "display_name": self.display_name,
            "distance": _rounded(self.distance),
            "margin": _rounded(self.margin),
            "reason": self.reason,
            "box": self.box.as_dict() if self.box else None,
            "template_id": self.template_id,
            "template_version": self.template_version,
            "faces_found": self.faces_found,
            "sharpness": _rounded(self.sharpness, 1),
            "timings_ms": {
                "detect": round(self.timings.detect_ms, 1),
                "quality": round(self.timings.quality_ms, 1),
                "encode": round(self.timings.encode_ms, 1),
                "match": round(self.timings.match_ms, 2),
            },
        }


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class Identifier:
    """Identifies the subject of frames against one roster.

    Holds only immutable state after construction (settings, roster, its own face
    engine), so it can run in a worker thread; give each thread its own Identifier
    (an engine shared between threads serialises calls behind a lock).
    """

    def __init__(
        self,
        settings: IdentificationSettings,
        roster: Roster,
        *,
        engine: FaceEngine | None = None,
    ) -> None:
        self.settings = settings
        self.roster = roster
        self.analyser = FaceAnalyser(settings, engine=engine)

    def analyse(self, frame: RGBImage) -> FrameAnalysis:
        """Detect, check, encode and match the subject face of one RGB frame."""
        return self.match(self.analyser.observe(frame))

    def locate(self, frame: RGBImage) -> FrameAnalysis:
        """Find the subject face of one RGB frame without identifying it (no encoding, no match).

        Outside a session the rig only needs the face box: a face that passes the quality
        checks is :attr:`Decision.FACE_IN_VIEW`, and the answer carries no performer, name,
        template or distance (see :func:`located`).
        """
        return located(self.analyser.observe(frame, encode=False))

    def match(self, observation: FaceObservation) -> FrameAnalysis:
        """Match an already encoded observation against the roster."""
        return match_observation(observation, self.roster, self.settings)


def located(observation: FaceObservation) -> FrameAnalysis:
    """A frame decision that says where the subject face is, never who it is."""
    return FrameAnalysis(
        decision=observation.refusal or Decision.FACE_IN_VIEW,
        reason=observation.reason if observation.refusal else "face in view",
        box=observation.box,
        faces_found=observation.faces_found,
        sharpness=observation.sharpness,
        timings=observation.timings,
    )


def withheld(analysis: FrameAnalysis) -> FrameAnalysis:
    """``analysis`` with everything that identifies the subject taken out (what :func:`located` gives).

    For a frame identified just before a session ended: its answer arrives outside the session.
    """
    if analysis.decision in (Decision.NO_FACE, Decision.MULTIPLE_FACES, Decision.LOW_QUALITY):
        refusal: Decision | None = analysis.decision
        reason = analysis.reason
    else:
        refusal, reason = None, "face in view"
    return located(
        FaceObservation(
            refusal=refusal,
            reason=reason,
            box=analysis.box,
            faces_found=analysis.faces_found,
            sharpness=analysis.sharpness,
            timings=analysis.timings,
        )
    )


def match_observation(
    observation: FaceObservation, roster: Roster, settings: IdentificationSettings
) -> FrameAnalysis:
    """Turn an observation into a frame decision by matching it against ``roster``."""
    base = FrameAnalysis(
        decision=observation.refusal or Decision.UNKNOWN,
        reason=observation.reason,
        box=observation.box,
        faces_found=observation.faces_found,
        sharpness=observation.sharpness,
        timings=observation.timings,
    )
    if observation.refusal is not None or observation.encoding is None:
        return base
    started = time.perf_counter()
    nearest = roster.nearest(observation.encoding)
    verdict = judge_match(nearest, max_distance=settings.max_distance, min_margin=settings.min_margin)
    timings = replace(observation.timings, match_ms=(time.perf_counter() - started) * 1000)
    if nearest is None:
        return replace(base, reason=verdict.reason, timings=timings)
    if not verdict.accepted:
        return replace(
            base,
            reason=verdict.reason,
            distance=nearest.distance,
            margin=nearest.margin,
            timings=timings,
        )
    return replace(
        base,
        decision=Decision.MATCH,
        reason=verdict.reason,
        performer_id=nearest.performer.performer_id,
        display_name=nearest.performer.display_name,
        distance=nearest.distance,
        margin=nearest.margin,
        template_id=nearest.template.template_id,
        template_version=nearest.template.version,
        timings=timings,
    )
