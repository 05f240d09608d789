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

from agent.faces.analysis import FaceAnalyser
from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis, Identifier
from agent.faces.imaging import RGBImage, load_image
from agent.faces.roster import roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import Challenge, Step, Thresholds, Verdict
from agent.liveness.landmarks import FaceLandmarker
from agent.liveness.tracking import ChallengeTracker, TrackingLimits
from tests.liveness.test_landmarks import CLIP, landmarker, model_file
from tests.video_clip import rgb_frames

__all__ = ["landmarker", "model_file"]  # module fixtures shared with test_landmarks

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FPS = 30.0
TURN_RIGHT_BACKWARD = range(150, 86, -1)
"""Frames 150 → 87 played backwards: frontal (≈ −0.07 at 143) turning to his right
(≈ −0.36 at 132) within one shot. Played forwards the clip has no such turn inside one shot:
the turn of frames 99–115 stops at −0.26 and the shot cuts at 116."""
CUTS = (116, 211)
"""First frames of a new shot: 116 (the same man, another take), 211 (another shot)."""


@pytest.fixture(scope="module")
def clip(faces_dir: Path) -> list[RGBImage]:
    """Every frame of the clip, RGB."""
    frames = rgb_frames(faces_dir / CLIP)
    assert len(frames) > max(CUTS) + 8
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
    frames = [clip[i] for i in TURN_RIGHT_BACKWARD]
    challenge, analyses = run_challenge(tracker, frames, Step.TURN_RIGHT)
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
    # The same frames never pass a turn to the left.
    left, _ = run_challenge(ChallengeTracker(identifier.analyse, landmarker), frames, Step.TURN_LEFT)
    assert left.verdict is Verdict.RUNNING


@pytest.mark.faces
def test_played_forwards_the_clip_passes_no_turn_across_its_cut(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    """Before the tracker compared the face's appearance, frame 116 (a new take, turned
    −0.30) was followed from frame 99 (frontal, an earlier take) and passed as a turn."""
    tracker = ChallengeTracker(identifier.analyse, landmarker)
    challenge, _ = run_challenge(tracker, [clip[i] for i in range(85, 150)], Step.TURN_RIGHT)
    assert challenge.verdict is Verdict.RUNNING, challenge.results


@pytest.mark.faces
@pytest.mark.parametrize("cut", CUTS)
def test_a_cut_to_another_shot_ends_the_track(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker, cut: int
) -> None:
    tracker = ChallengeTracker(identifier.analyse, landmarker)
    analyses = [tracker.analyse(clip[i], k / FPS) for k, i in enumerate(range(cut - 12, cut + 8))]
    before, at_cut = analyses[:12], analyses[12]
    assert before[-1].decision is Decision.TRACKED
    assert at_cut.decision is not Decision.TRACKED
    if cut == 211:  # another shot without Miranda
        assert all(a.performer_id != "miranda" for a in analyses[12:]), [a.decision for a in analyses[12:]]


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
    frames_per_interval = round(limits.anchor_interval_s * FPS)
    results = [tracker.analyse(swapped, (k + 1) / FPS) for k in range(frames_per_interval + 2)]
    decisions = [r.decision for r in results]
    assert Decision.UNKNOWN in decisions[: frames_per_interval + 1], decisions
    first_unknown = decisions.index(Decision.UNKNOWN)
    assert all(r.performer_id is None for r in results[first_unknown:]), decisions
    # The challenge gets no progress from it: its frontal reference started again.
    assert results[first_unknown].landmarks is not None


@pytest.mark.faces
def test_a_track_ends_after_its_longest_time_without_a_match(
    clip: list[RGBImage], identifier: Identifier, landmarker: FaceLandmarker
) -> None:
    limits = TrackingLimits(anchor_interval_s=1000.0, max_unanchored_s=0.5)
    tracker = ChallengeTracker(identifier.analyse, landmarker, limits)
    assert tracker.analyse(clip[95], 0.0).decision is Decision.MATCH
    assert tracker.analyse(clip[96], 0.2).decision is Decision.TRACKED
    assert tracker.identifications == 1
    tracker.analyse(clip[97], 0.6)  # past the limit: identified afresh
    assert tracker.identifications == 2
