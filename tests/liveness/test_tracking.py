"""Following the identified face through a challenge, on real footage (``video/short_hamilton_clip.mp4``).

The roster is Lin-Manuel Miranda (``singles/lin_manuel_miranda.png``) and Alex Lacamoire
(``identities/alex_lacamoire``), the two people of the clip; frames go through the real
identifier (dlib) and the real landmark model, as in the identification process.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.faces.analysis import Decision, FaceAnalyser
from agent.faces.identifier import FrameAnalysis, Identifier
from agent.faces.imaging import RGBImage, load_image
from agent.faces.roster import roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import Challenge, Step, Thresholds, Verdict
from agent.liveness.landmarks import FaceLandmarker
from agent.liveness.tracking import ChallengeTracker, TrackingLimits
from tests.liveness.test_landmarks import CLIP, landmarker, model_file

__all__ = ["landmarker", "model_file"]  # module fixtures shared with test_landmarks

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FPS = 30.0
TURN_RIGHT_FORWARD = range(85, 150)
"""Frontal (≈ −0.08 at frame 99) → turned to his right (≈ −0.30 at 116) and back."""
TURN_RIGHT_BACKWARD = range(150, 86, -1)
"""The same turn played backwards, from a frame that matches (150). Started at 149 instead,
frames 144–141 (distance 0.505–0.51 to the single enrolment photo, just past the limit) match
nobody and break the turn's continuity: a genuine false reject of a one-photo enrolment."""
CUT = 211
"""The first frame after the clip cuts away from Miranda to another shot."""


@pytest.fixture(scope="module")
def clip(faces_dir: Path) -> list[RGBImage]:
    """Every frame of the clip, RGB."""
    capture = cv2.VideoCapture(str(faces_dir / CLIP))
    frames: list[RGBImage] = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    finally:
        capture.release()
    assert len(frames) > CUT
    return frames


@pytest.fixture(scope="module")
def identifier(faces_dir: Path) -> Identifier:
    """The real identifier on a roster of the clip's two people."""
    settings = IdentificationSettings()
    analyser = FaceAnalyser(settings)

    def encodings(*paths: Path) -> list[np.ndarray]:
        found = [analyser.observe(load_image(path)).encoding for path in paths]
        return [e for e in found if e is not None]

    roster = roster_from_vectors(
        [
            ("miranda", "Lin-Manuel Miranda", encodings(faces_dir / "singles" / "lin_manuel_miranda.png")),
            (
                "lacamoire",
                "Alex Lacamoire",
                encodings(*sorted((faces_dir / "identities" / "alex_lacamoire").glob("*"))[:3]),
            ),
        ]
    )
    return Identifier(settings, roster, engine=analyser.engine)


def run_challenge(
    tracker: ChallengeTracker, frames: list[RGBImage], step: Step
) -> tuple[Challenge, list[FrameAnalysis]]:
    """Feed the frames through the tracker into a one-step challenge, as the session does."""
    challenge = Challenge([step], "miranda", T0, Thresholds())
    analyses = []
    for k, frame in enumerate(frames):
        analysis = tracker.analyse(frame, k / FPS)
        analyses.append(analysis)
        if analysis.landmarks is not None:
            at = T0 + timedelta(seconds=k / FPS)
            challenge.feed(replace(analysis.landmarks, at=at, performer_id=analysis.performer_id))
        if challenge.verdict is not Verdict.RUNNING:
            break
    return challenge, analyses


@pytest.mark.faces
def test_a_real_head_turn_is_followed_and_passes_with_the_identity_kept(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    tracker = ChallengeTracker(identifier.analyse, landmarker)
    challenge, analyses = run_challenge(tracker, [clip[i] for i in TURN_RIGHT_FORWARD], Step.TURN_RIGHT)
    assert challenge.verdict is Verdict.PASSED, challenge.results
    (result,) = challenge.results
    assert result.evidence["turn"] <= -Thresholds().min_turn
    assert result.evidence["planarity_residual"] >= Thresholds().min_planarity_residual
    decisions = [a.decision for a in analyses]
    followed = [a for a in analyses if a.decision is Decision.TRACKED]
    # Most frames are followed (a few ms each), not identified afresh (≈ 130 ms each).
    assert len(followed) > len(analyses) / 2, decisions
    assert tracker.identifications < len(analyses) / 2
    assert {a.performer_id for a in followed} == {"miranda"}
    assert all(a.distance is None and not a.is_match for a in followed)  # never passed off as a match


@pytest.mark.faces
def test_the_turn_played_backwards_passes_too(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    tracker = ChallengeTracker(identifier.analyse, landmarker)
    frames = [clip[i] for i in TURN_RIGHT_BACKWARD]
    challenge, _ = run_challenge(tracker, frames, Step.TURN_RIGHT)
    assert challenge.verdict is Verdict.PASSED, challenge.results
    # ... and the same frames never pass a turn to the left.
    left, _ = run_challenge(ChallengeTracker(identifier.analyse, landmarker), frames, Step.TURN_LEFT)
    assert left.verdict is Verdict.RUNNING


@pytest.mark.faces
def test_a_cut_to_another_shot_ends_the_track(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    tracker = ChallengeTracker(identifier.analyse, landmarker)
    analyses = [tracker.analyse(clip[i], k / FPS) for k, i in enumerate(range(CUT - 12, CUT + 8))]
    before, after = analyses[:12], analyses[12:]
    assert any(a.decision is Decision.TRACKED for a in before)
    assert all(a.performer_id != "miranda" for a in after), [a.decision for a in after]


def swapped_face(frame: RGBImage, at: FrameAnalysis, other: RGBImage, other_box: FrameAnalysis) -> RGBImage:
    """``frame`` with the face at ``at.box`` replaced by the face of ``other`` (same size and place)."""
    assert at.box is not None and other_box.box is not None
    box, src = at.box, other_box.box
    pad_y, pad_x = box.height // 3, box.width // 3
    crop = other[
        max(0, src.top - src.height // 3) : src.bottom + src.height // 3,
        max(0, src.left - src.width // 3) : src.right + src.width // 3,
    ]
    height, width = box.height + 2 * pad_y, box.width + 2 * pad_x
    patch = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    out = frame.copy()
    top, left = max(0, box.top - pad_y), max(0, box.left - pad_x)
    region = out[top : top + height, left : left + width]
    region[...] = patch[: region.shape[0], : region.shape[1]]
    return np.ascontiguousarray(out)


@pytest.mark.faces
def test_a_frontal_face_swapped_in_is_not_carried_past_the_next_identification(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker, faces_dir: Path
) -> None:
    """Someone else's face pasted exactly where the performer's was: followed at most until
    the next identification, which matches nobody, so the track ends and the frame says so."""
    limits = TrackingLimits()
    tracker = ChallengeTracker(identifier.analyse, landmarker, limits)
    anchor = tracker.analyse(clip[95], 0.0)
    assert anchor.decision is Decision.MATCH and anchor.performer_id == "miranda"
    impostor = load_image(faces_dir / "identities" / "barack_obama" / "1.jpg")
    impostor_face = identifier.analyse(impostor)
    assert impostor_face.box is not None
    swapped = swapped_face(clip[95], anchor, impostor, impostor_face)
    results = [tracker.analyse(swapped, (k + 1) / FPS) for k in range(limits.anchor_every + 2)]
    decisions = [r.decision for r in results]
    assert Decision.UNKNOWN in decisions[: limits.anchor_every + 1], decisions
    first_unknown = decisions.index(Decision.UNKNOWN)
    assert all(r.performer_id is None for r in results[first_unknown:]), decisions
    # The challenge gets no progress from it: its frontal reference started again.
    assert results[first_unknown].landmarks is not None


@pytest.mark.faces
def test_a_track_ends_after_its_longest_time_without_a_match(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    limits = TrackingLimits(anchor_every=1000, max_unanchored_s=0.5)
    tracker = ChallengeTracker(identifier.analyse, landmarker, limits)
    assert tracker.analyse(clip[95], 0.0).decision is Decision.MATCH
    assert tracker.analyse(clip[96], 0.2).decision is Decision.TRACKED
    assert tracker.identifications == 1
    tracker.analyse(clip[97], 0.6)  # past the limit: identified afresh
    assert tracker.identifications == 2
