"""MediaPipe's 468-point model on real footage, and the turn step fed by it.

Face boxes come from the project's own detector (dlib HOG through
:class:`~agent.faces.analysis.FaceAnalyser`), as in the liveness study. Frames are read
from ``video/short_hamilton_clip.mp4`` of the shared face set (skipped when absent), as
is a real photo for the planar attack. No latency is asserted here (see
``tests/benchmarks/bench_liveness_landmarks.py``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from agent.faces.analysis import FaceAnalyser
from agent.faces.engine import FaceBox
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import Challenge, FaceLandmarks, Step, Thresholds, Verdict
from agent.liveness.errors import LandmarkModelError
from agent.liveness.geometry import planarity_residual
from agent.liveness.landmarks import (
    LEFT_EYE_OUTER,
    MODEL_FILE,
    NOSE_TIP,
    RIGHT_EYE_OUTER,
    FaceLandmarker,
    FaceMesh,
    eye_scale,
    mean_eye_ratio,
    performer_turn,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FPS = 30
CLIP = Path("video") / "short_hamilton_clip.mp4"
UPPER_LIP, LOWER_LIP = 13, 14
TURN_BACK = range(128, 148)
"""Clip frames in which Lin-Manuel Miranda turns from his right (turn ≈ −0.36 at frame 132)
back to the camera (≈ 0 at 147): the study's strongest genuine turn pairs."""


def _model_file_or_none() -> Path | None:
    try:
        located = Path(str(importlib.metadata.distribution("mediapipe").locate_file(MODEL_FILE)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return located if located.is_file() else None


@pytest.fixture(scope="module")
def model_file() -> Path:
    """The installed model file; skips when mediapipe is not installed."""
    found = _model_file_or_none()
    if found is None:
        pytest.skip(
            f"MediaPipe's face landmark model ({MODEL_FILE}) is not installed;"
            " packaging/bootstrap.py installs mediapipe==0.10.21 --no-deps"
        )
    return found


@pytest.fixture(scope="module")
def landmarker(model_file: Path) -> FaceLandmarker:
    """The real model, checked against its known SHA-256 (not caught: a wrong file must fail)."""
    return FaceLandmarker()


@pytest.fixture(scope="module")
def analyser() -> FaceAnalyser:
    """The project's HOG detector with default settings."""
    return FaceAnalyser(IdentificationSettings())


def clip_frames(faces_dir: Path, wanted: set[int]) -> Iterator[tuple[int, RGBImage]]:
    """The wanted frames of the clip, in order, as RGB."""
    capture = cv2.VideoCapture(str(faces_dir / CLIP))
    try:
        index = 0
        while index <= max(wanted):
            ok, bgr = capture.read()
            if not ok:
                break
            if index in wanted:
                yield index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()


def subject_box(analyser: FaceAnalyser, frame: RGBImage) -> FaceBox:
    """The largest HOG face of the frame (the test fails if there is none)."""
    found = analyser.detect(frame)
    assert found, "HOG found no face in a frame the study tracked"
    return max(found, key=lambda face: face.box.area).box


@pytest.mark.faces
@pytest.mark.parametrize("index", [10, 90, 130, 170, 240])
def test_clip_frame_gives_a_present_face_with_sensible_geometry(
    faces_dir: Path, landmarker: FaceLandmarker, analyser: FaceAnalyser, index: int
) -> None:
    ((_, frame),) = clip_frames(faces_dir, {index})
    box = subject_box(analyser, frame)
    mesh = landmarker.locate(frame, box)
    p = mesh.points
    assert mesh.presence >= 0.5
    assert p.shape == (468, 2) and np.isfinite(p).all()
    eyes_y = (p[RIGHT_EYE_OUTER][1] + p[LEFT_EYE_OUTER][1]) / 2
    mouth_y = (p[UPPER_LIP][1] + p[LOWER_LIP][1]) / 2
    assert eyes_y < p[NOSE_TIP][1] < mouth_y
    # Non-mirrored image: the performer's right eye (33) appears on the image's left.
    assert p[RIGHT_EYE_OUTER][0] < p[NOSE_TIP][0] < p[LEFT_EYE_OUTER][0]
    assert box.left <= p[NOSE_TIP][0] < box.right and box.top <= p[NOSE_TIP][1] < box.bottom
    assert 0.25 * box.width < eye_scale(p) < box.width
    assert abs(performer_turn(p)) < 0.5
    assert 0.1 < mean_eye_ratio(p) < 0.5


@pytest.mark.faces
def test_crops_without_a_face_score_low(faces_dir: Path, landmarker: FaceLandmarker) -> None:
    scores: dict[str, float] = {}
    for path in sorted((faces_dir / "noface").iterdir()):
        image = load_image(path)
        height, width = image.shape[:2]
        half = min(height, width) // 4
        box = FaceBox(
            top=height // 2 - half, right=width // 2 + half, bottom=height // 2 + half, left=width // 2 - half
        )
        scores[path.name] = landmarker.locate(image, box).presence
    assert len(scores) >= 10
    assert max(scores.values()) < 0.1, scores


def test_model_with_another_hash_is_refused(model_file: Path) -> None:
    with pytest.raises(LandmarkModelError, match="not the expected file") as caught:
        FaceLandmarker(expected_sha256="0" * 64)
    assert caught.value.hint and "study" in caught.value.hint


def test_tampered_copy_of_the_model_is_refused(model_file: Path, tmp_path: Path) -> None:
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "face_landmark.tflite"
    tampered.write_bytes(bytes(data))
    with pytest.raises(LandmarkModelError, match="not the expected file"):
        FaceLandmarker(model_path=tampered)


def test_broken_model_file_is_refused_even_with_its_own_hash(model_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(LandmarkModelError, match="cannot be run"):
        FaceLandmarker(model_path=broken, expected_sha256=hashlib.sha256(broken.read_bytes()).hexdigest())


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LandmarkModelError, match="cannot read") as caught:
        FaceLandmarker(model_path=tmp_path / "absent.tflite")
    assert caught.value.where == str(tmp_path / "absent.tflite")


def test_missing_mediapipe_package_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(LandmarkModelError, match="mediapipe package") as caught:
        FaceLandmarker()
    assert caught.value.hint and "bootstrap" in caught.value.hint


def test_missing_litert_runtime_is_refused(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(LandmarkModelError, match="ai-edge-litert"):
        FaceLandmarker()


def test_model_version_names_the_file_hash(landmarker: FaceLandmarker) -> None:
    assert landmarker.model_version == "mediapipe-face_landmark@1055cb9d4a9c"
    assert len(landmarker.rigid_indices) == 92  # face oval, nose and both eyes of the 468
    assert {NOSE_TIP, RIGHT_EYE_OUTER, LEFT_EYE_OUTER} <= set(landmarker.rigid_indices)
    assert "mediapipe" not in sys.modules  # only its files are read: its __init__ needs numpy<2


def feed(challenge: Challenge, frames: list[FaceLandmarks]) -> Verdict:
    for frame in frames:
        challenge.feed(frame)
    return challenge.verdict


@pytest.mark.faces
def test_real_head_turn_of_the_clip_passes_the_turn_step(
    faces_dir: Path, landmarker: FaceLandmarker, analyser: FaceAnalyser
) -> None:
    """Played backwards, frames 147 → 128 are the same head turning from the camera to his right."""
    meshes: list[FaceMesh] = [
        landmarker.locate(frame, subject_box(analyser, frame))
        for _, frame in clip_frames(faces_dir, set(TURN_BACK))
    ]
    meshes.reverse()
    frames = [
        landmarker.challenge_frame(mesh, T0 + timedelta(seconds=k / FPS), "miranda")
        for k, mesh in enumerate(meshes)
    ]
    assert abs(frames[0].turn) <= Thresholds().frontal_turn
    challenge = Challenge([Step.TURN_RIGHT], "miranda", T0, Thresholds())
    assert feed(challenge, frames) is Verdict.PASSED
    (result,) = challenge.results
    assert result.evidence["turn"] <= -Thresholds().min_turn
    assert result.evidence["planarity_residual"] >= Thresholds().min_planarity_residual
    # The same head asked to turn the other way does not pass.
    assert feed(Challenge([Step.TURN_LEFT], "miranda", T0, Thresholds()), frames) is Verdict.RUNNING


def tilted_print(photo: RGBImage, centre: tuple[float, float], yaw_deg: float, pitch_deg: float) -> RGBImage:
    """The photo as a flat print rotated about its face centre, seen by a 640×480 pinhole camera."""
    focal, size = 600.0, (640, 480)
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rot = about_x @ about_y
    intrinsics = np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1]])
    to_centre = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]], dtype=np.float64)
    homography: npt.NDArray[np.float64] = (
        intrinsics @ np.column_stack([rot[:, 0], rot[:, 1], [0, 0, focal]]) @ to_centre
    )
    warped = cv2.warpPerspective(photo, homography, size, flags=cv2.INTER_LINEAR, borderValue=(90, 110, 130))
    return np.ascontiguousarray(warped)


@pytest.mark.faces
def test_planar_warp_of_a_real_photo_fails_the_turn_step(
    faces_dir: Path, landmarker: FaceLandmarker, analyser: FaceAnalyser
) -> None:
    photo = load_image(faces_dir / "identities" / "barack_obama" / "1.jpg")
    factor = 300 / photo.shape[0]
    photo = np.ascontiguousarray(cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    box = subject_box(analyser, photo)
    centre = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
    poses = [(0.0, 0.0)] * 3 + [(yaw, yaw / 4) for yaw in (-10.0, -20.0, -30.0, -40.0)]
    poses += [(yaw, -yaw / 4) for yaw in (10.0, 20.0, 30.0, 40.0)]
    frames = []
    for k, (yaw, pitch) in enumerate(poses):
        image = tilted_print(photo, centre, yaw, pitch)
        mesh = landmarker.locate(image, subject_box(analyser, image))
        assert mesh.presence >= 0.5  # the print looks like a face to the model: presence is no defence
        frames.append(landmarker.challenge_frame(mesh, T0 + timedelta(seconds=k / 10), "obama"))
    frontal, tilted = frames[0], frames[3:]
    assert frontal.points is not None
    residuals = [
        planarity_residual(frontal.points, f.points, frontal.scale) for f in tilted if f.points is not None
    ]
    assert max(residuals) < Thresholds().min_planarity_residual, residuals
    for step in (Step.TURN_LEFT, Step.TURN_RIGHT):
        challenge = Challenge([step], "obama", T0, Thresholds())
        assert feed(challenge, frames) is Verdict.RUNNING
        assert challenge.expire(T0 + Thresholds().step_time_limit + timedelta(seconds=1)) is Verdict.FAILED
    # With the turn gate opened so far that the print reaches it, the residual still rejects it.
    most = max(tilted, key=lambda f: abs(f.turn))
    opened = Thresholds(frontal_turn=abs(frontal.turn) + 1e-4, min_turn=abs(frontal.turn) + 2e-4)
    assert abs(most.turn) > opened.min_turn, "the print's nose never moved: a different photo is needed"
    challenge = Challenge([Step.TURN_LEFT if most.turn > 0 else Step.TURN_RIGHT], "obama", T0, opened)
    assert feed(challenge, frames) is Verdict.RUNNING
    challenge.expire(T0 + opened.step_time_limit + timedelta(seconds=1))
    assert challenge.verdict is Verdict.FAILED
    assert challenge.results[0].reason == "the face turned like a flat picture, not a head"
