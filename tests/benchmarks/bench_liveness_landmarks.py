"""Measurement study for liveness landmarks (issue 10): which landmark model, and does
the planar-homography cue separate real head turns from tilted prints?

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_liveness_landmarks.py [--faces DIR] [--attacks-per-type 60]

Candidates (each skipped, with the reason printed, when its package is missing):
- ``mediapipe-468``: MediaPipe's face landmark model (``face_landmark.tflite``, Apache-2.0)
  read from the installed ``mediapipe`` 0.10.21 wheel and run with ``ai-edge-litert``;
  the mediapipe Python package itself is never imported (it needs numpy<2);
- ``dlib-5``: dlib's 5-point model from ``face_recognition_models`` (unrestricted; no eyelids);
- ``dlib-68 (non-commercial opt-in)``: dlib's 68-point model, trained on iBUG 300-W.

Face boxes always come from the project's own detector (dlib HOG via
:class:`agent.faces.analysis.FaceAnalyser`, default settings). Prints:
(a) latency per analysed face crop (p50/p95) and model load time;
(b) the 3-D consistency cue: the RMS residual of the least-squares homography between the
    landmark sets of two frames, divided by the inter-eye distance, for pairs of frames of
    ``video/short_hamilton_clip.mp4`` (genuine: all pairs, and "turn" pairs whose nose
    offset changed) and for synthetic planar attacks (real photos warped through the
    homographies of a hand-held print: tilt about the vertical axis, the horizontal axis,
    both with roll/translation/scale, hand shake, a still, and a print curved into a cylinder
    and tilted about the vertical axis), with min/p5/p50/p95/max,
    the margin between genuine turns and each attack type, and the error rates at the
    threshold that rejects every measured attack;
(c) the eye-aspect-ratio series on the clip (blink dips relative to the track's own
    baseline) and on the eyes-open/eyes-closed photos of ``hard_cases``.
The machine load (1/5/15-minute load average) is printed with the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.faces.analysis import FaceAnalyser, competing_faces
from agent.faces.engine import FaceBox
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIP = Path("video/short_hamilton_clip.mp4")
FRAME_W, FRAME_H = 640, 480
FOCAL_PX = 600.0
"""Focal length of the simulated camera (about a 56° horizontal field of view at 640 px)."""
MP_INPUT = 192
MP_CROP_FACTOR = 1.5
PAIR_GAPS = (5, 10, 15, 20, 30)
"""Frame gaps (at 30 fps: 1/6 s to 1 s) between the two frames of a genuine pair."""
TURN_MIN_NOSE_SHIFT = 0.08
"""A pair counts as a head turn when the nose offset changed by this fraction of the eye span."""
STRONG_TURN_NOSE_SHIFT = 0.2

Points = npt.NDArray[np.float64]
Predict = Callable[[RGBImage, FaceBox], tuple[Points, float | None]]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def quantiles(values: Sequence[float]) -> str:
    if not values:
        return "n=0"
    arr = np.asarray(values, dtype=np.float64)
    q = np.percentile(arr, [0, 5, 50, 95, 100])
    return f"n={arr.size:4d} min {q[0]:.4f}  p5 {q[1]:.4f}  p50 {q[2]:.4f}  p95 {q[3]:.4f}  max {q[4]:.4f}"


def percentile(values: Sequence[float], pct: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), pct)) if values else float("nan")


@dataclass
class Landmarker:
    """One landmark model, with the point indices the cues need."""

    name: str
    licence: str
    predict: Predict
    right_eye: list[int]
    left_eye: list[int]
    nose_tip: int
    outer_corners: tuple[int, int]
    rigid: list[int] | None
    """Points used for the homography; None means all."""
    ear_right: list[int] | None = None
    ear_left: list[int] | None = None
    load_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def timed(self, frame: RGBImage, box: FaceBox) -> tuple[Points, float | None]:
        started = time.perf_counter()
        result = self.predict(frame, box)
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        return result

    def eye_distance(self, points: Points) -> float:
        right = points[self.right_eye].mean(axis=0)
        left = points[self.left_eye].mean(axis=0)
        return float(np.linalg.norm(right - left))

    def nose_offset(self, points: Points) -> float:
        """Signed horizontal nose offset from the eye-corner midpoint, in eye spans: a yaw proxy."""
        a, b = points[self.outer_corners[0]], points[self.outer_corners[1]]
        span = float(np.linalg.norm(a - b))
        return float((points[self.nose_tip][0] - (a[0] + b[0]) / 2) / span) if span > 0 else float("nan")

    def ear(self, points: Points) -> float | None:
        if self.ear_right is None or self.ear_left is None:
            return None
        return (eye_aspect_ratio(points[self.ear_right]) + eye_aspect_ratio(points[self.ear_left])) / 2


def eye_aspect_ratio(eye: Points) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) for six eye points p1..p6."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = np.linalg.norm(eye[0] - eye[3])
    return float(vertical / (2 * horizontal)) if horizontal > 0 else float("nan")


def dlib_landmarker(five_point: bool) -> Landmarker | str:
    """dlib's 5- or 68-point shape predictor, or why it is unavailable."""
    try:
        import dlib
        import face_recognition_models  # type: ignore[import-untyped]
    except ImportError as exc:
        return f"dlib or face_recognition_models missing ({exc})"
    started = time.perf_counter()
    path = (
        face_recognition_models.pose_predictor_five_point_model_location()
        if five_point
        else face_recognition_models.pose_predictor_model_location()
    )
    predictor: Any = dlib.shape_predictor(path)
    load_ms = (time.perf_counter() - started) * 1000

    def predict(frame: RGBImage, box: FaceBox) -> tuple[Points, float | None]:
        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        shape = predictor(frame, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64), None

    if five_point:
        # Points 0-1 and 2-3 are the corners of the two eyes, 4 the base of the nose.
        return Landmarker(
            name="dlib-5",
            licence="face_recognition_models (dlib 5-point, no dataset restriction)",
            predict=predict,
            right_eye=[2, 3],
            left_eye=[0, 1],
            nose_tip=4,
            outer_corners=(2, 0),
            rigid=None,
            load_ms=load_ms,
        )
    return Landmarker(
        name="dlib-68 (non-commercial opt-in)",
        licence="face_recognition_models (dlib 68-point, iBUG 300-W: non-commercial)",
        predict=predict,
        right_eye=list(range(36, 42)),
        left_eye=list(range(42, 48)),
        nose_tip=30,
        outer_corners=(36, 45),
        rigid=list(range(0, 17)) + list(range(27, 48)),
        ear_right=list(range(36, 42)),
        ear_left=list(range(42, 48)),
        load_ms=load_ms,
    )


def mediapipe_file(relative: str) -> Path | None:
    """A file of the installed mediapipe wheel, located without importing mediapipe."""
    try:
        located = Path(str(importlib.metadata.distribution("mediapipe").locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return located if located.is_file() else None


def mesh_indices(*names: str) -> list[int]:
    """Vertex indices of the named FACEMESH_* connection sets shipped in the mediapipe wheel."""
    path = mediapipe_file("mediapipe/python/solutions/face_mesh_connections.py")
    if path is None:
        raise FileNotFoundError("mediapipe/python/solutions/face_mesh_connections.py")
    spec = importlib.util.spec_from_file_location("face_mesh_connections", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    indices: set[int] = set()
    for name in names:
        for a, b in getattr(module, name):
            indices.update((a, b))
    return sorted(indices)


def mediapipe_landmarker(threads: int) -> Landmarker | str:
    """MediaPipe's 468-point model from the mediapipe wheel, run by ai-edge-litert."""
    model = mediapipe_file("mediapipe/modules/face_landmark/face_landmark.tflite")
    if model is None:
        return "mediapipe 0.10.21 not installed (pip install --no-deps mediapipe==0.10.21)"
    try:
        litert: Any = importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as exc:
        return f"ai-edge-litert missing ({exc})"
    started = time.perf_counter()
    interpreter: Any = litert.Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    load_ms = (time.perf_counter() - started) * 1000
    input_index = interpreter.get_input_details()[0]["index"]
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    mesh_out = next(i for n, i in outputs.items() if n == "conv2d_21")
    score_out = next(i for n, i in outputs.items() if n == "conv2d_31")

    def predict(frame: RGBImage, box: FaceBox) -> tuple[Points, float | None]:
        side = MP_CROP_FACTOR * max(box.width, box.height)
        x0 = (box.left + box.right) / 2 - side / 2
        y0 = (box.top + box.bottom) / 2 - side / 2
        scale = MP_INPUT / side
        affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
        crop = cv2.warpAffine(frame, affine, (MP_INPUT, MP_INPUT), flags=cv2.INTER_LINEAR)
        tensor = (crop.astype(np.float32) / 255.0)[np.newaxis]
        interpreter.set_tensor(input_index, tensor)
        interpreter.invoke()
        mesh = interpreter.get_tensor(mesh_out).reshape(468, 3)[:, :2].astype(np.float64)
        logit = float(interpreter.get_tensor(score_out).ravel()[0])
        points = mesh / scale + np.array([x0, y0])
        return points, 1.0 / (1.0 + math.exp(-logit))

    right_eye = mesh_indices("FACEMESH_RIGHT_EYE")
    left_eye = mesh_indices("FACEMESH_LEFT_EYE")
    return Landmarker(
        name=f"mediapipe-468 (litert, {threads} thread{'s' if threads > 1 else ''})",
        licence="mediapipe 0.10.21 wheel, Apache-2.0",
        predict=predict,
        right_eye=right_eye,
        left_eye=left_eye,
        nose_tip=1,
        outer_corners=(33, 263),
        rigid=mesh_indices("FACEMESH_FACE_OVAL", "FACEMESH_NOSE", "FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE"),
        ear_right=[33, 160, 158, 133, 153, 144],
        ear_left=[263, 387, 385, 362, 380, 373],
        load_ms=load_ms,
    )


def homography_residual(a: Points, b: Points, eye_distance: float) -> float:
    """RMS distance of b from the least-squares homography image of a, in eye distances."""
    homography, _ = cv2.findHomography(a.astype(np.float32), b.astype(np.float32), 0)
    if homography is None or eye_distance <= 0:
        return float("nan")
    projected = cv2.perspectiveTransform(a.reshape(-1, 1, 2).astype(np.float64), homography).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((projected - b) ** 2, axis=1))) / eye_distance)


@dataclass(frozen=True)
class PairCue:
    """What one model says about two frames: the residual (rigid subset and all points) and the turn."""

    residual: float
    residual_all: float
    nose_shift: float
    presence: float | None = None
    """The lower face-presence score of the two frames, for models that give one."""


def pair_cue(
    model: Landmarker, a: Points, b: Points, scores: tuple[float | None, float | None] = (None, None)
) -> PairCue:
    subset = model.rigid if model.rigid is not None else list(range(len(a)))
    distance = (model.eye_distance(a) + model.eye_distance(b)) / 2
    return PairCue(
        residual=homography_residual(a[subset], b[subset], distance),
        residual_all=homography_residual(a, b, distance),
        nose_shift=abs(model.nose_offset(a) - model.nose_offset(b)),
        presence=None if scores[0] is None or scores[1] is None else min(scores[0], scores[1]),
    )


def subject_box(analyser: FaceAnalyser, frame: RGBImage) -> FaceBox | None:
    """The subject's HOG box, or None when there is no face or (as the quality gate rules) several.

    Without the multiple-faces rule a two-person photo lets the "largest face" switch people
    between two frames, and two different faces are of course not one homography apart.
    """
    found = analyser.detect(frame)
    if not found:
        return None
    settings = analyser.settings
    subject, rivals = competing_faces(
        found, ratio=settings.competing_face_ratio, min_score=settings.min_rival_score
    )
    return None if rivals else subject.box


# --- the genuine clip -------------------------------------------------------------------


@dataclass
class ClipFrame:
    index: int
    frame: RGBImage
    box: FaceBox


def read_clip(analyser: FaceAnalyser, path: Path) -> tuple[list[list[ClipFrame]], int, float]:
    """Tracks (runs of frames with a continuous subject box) of the clip, frame count, detect ms p50."""
    capture = cv2.VideoCapture(str(path))
    tracks: list[list[ClipFrame]] = []
    detect_ms: list[float] = []
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frame: RGBImage = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        started = time.perf_counter()
        box = subject_box(analyser, frame)
        detect_ms.append((time.perf_counter() - started) * 1000)
        if box is not None:
            last = tracks[-1][-1] if tracks else None
            continuous = (
                last is not None
                and index - last.index <= 3
                and abs((box.left + box.right) - (last.box.left + last.box.right)) / 2 < 0.5 * last.box.height
                and 0.7 < box.height / last.box.height < 1.4
            )
            if continuous:
                tracks[-1].append(ClipFrame(index, frame, box))
            else:
                tracks.append([ClipFrame(index, frame, box)])
        index += 1
    capture.release()
    return [t for t in tracks if len(t) >= 10], index, percentile(detect_ms, 50)


# --- synthetic planar attacks ------------------------------------------------------------


@dataclass(frozen=True)
class PrintPose:
    """Pose of a hand-held print: rotations in degrees, translation in frame pixels, scale."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0
    bend: float = 0.0
    """Radius of a print curved about its vertical axis, in face heights: negative curls the
    edges towards the camera (concave), positive away (convex); 0 is a flat print."""


def rotation(yaw: float, pitch: float, roll: float) -> npt.NDArray[np.float64]:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def print_homography(
    face_centre: tuple[float, float], face_height: float, face_px: float, pose: PrintPose
) -> Any:
    """Photo pixels -> frame pixels for a flat print at distance 1/scale, rotated about the face centre."""
    intrinsics = np.array([[FOCAL_PX, 0, FRAME_W / 2], [0, FOCAL_PX, FRAME_H / 2], [0, 0, 1]])
    unit = face_px / (face_height * FOCAL_PX)
    to_plane = np.array([[unit, 0, -face_centre[0] * unit], [0, unit, -face_centre[1] * unit], [0, 0, 1]])
    rot = rotation(pose.yaw, pose.pitch, pose.roll)
    depth = 1.0 / pose.scale
    translation = np.array([pose.tx * depth / FOCAL_PX, pose.ty * depth / FOCAL_PX, depth])
    return intrinsics @ np.column_stack([rot[:, 0], rot[:, 1], translation]) @ to_plane


def bent_print_maps(
    photo_shape: tuple[int, ...],
    face_centre: tuple[float, float],
    face_height: float,
    face_px: float,
    pose: PrintPose,
) -> tuple[Any, Any]:
    """cv2.remap maps (frame pixel -> photo pixel) for a print curved into a cylinder about its vertical axis.

    Each camera ray is intersected with the cylinder in the print's own coordinates; the arc
    length along the cylinder and the height give the photo pixel. Pixels whose ray misses
    the near half of the cylinder or the photo map to -1 (outside, so remap leaves them).
    """
    unit = face_px / (face_height * FOCAL_PX)
    radius = abs(pose.bend) * face_height * unit
    side = -1.0 if pose.bend < 0 else 1.0
    rot = rotation(pose.yaw, pose.pitch, pose.roll)
    depth = 1.0 / pose.scale
    translation = np.array([pose.tx * depth / FOCAL_PX, pose.ty * depth / FOCAL_PX, depth])
    xs, ys = np.meshgrid(np.arange(FRAME_W, dtype=np.float64), np.arange(FRAME_H, dtype=np.float64))
    rays = np.stack([(xs - FRAME_W / 2) / FOCAL_PX, (ys - FRAME_H / 2) / FOCAL_PX, np.ones_like(xs)], axis=-1)
    direction = rays @ rot  # R^T d for every ray
    origin = -(rot.T @ translation)
    centre_z = side * radius
    a = direction[..., 0] ** 2 + direction[..., 2] ** 2
    b = 2 * (direction[..., 0] * origin[0] + direction[..., 2] * (origin[2] - centre_z))
    c = origin[0] ** 2 + (origin[2] - centre_z) ** 2 - radius**2
    disc = b**2 - 4 * a * c
    root = np.sqrt(np.maximum(disc, 0))
    best = np.full(xs.shape, np.nan)
    for s_ray in ((-b - root) / (2 * a), (-b + root) / (2 * a)):
        z = s_ray * direction[..., 2] + origin[2]
        near_half = side * (centre_z - z) > 0
        take = (disc >= 0) & (s_ray > 0) & near_half & np.isnan(best)
        best = np.where(take, s_ray, best)
    local_x = best * direction[..., 0] + origin[0]
    local_y = best * direction[..., 1] + origin[1]
    local_z = best * direction[..., 2] + origin[2]
    theta = np.arctan2(local_x, side * (centre_z - local_z))
    map_x = radius * theta / unit + face_centre[0]
    map_y = local_y / unit + face_centre[1]
    inside = np.isfinite(map_x) & (map_x >= 0) & (map_x <= photo_shape[1] - 1)
    inside &= np.isfinite(map_y) & (map_y >= 0) & (map_y <= photo_shape[0] - 1)
    map_x = np.where(inside, map_x, -1).astype(np.float32)
    map_y = np.where(inside, map_y, -1).astype(np.float32)
    return map_x, map_y


def warp_print(
    photo: RGBImage, face_centre: tuple[float, float], face_height: float, face_px: float, pose: PrintPose
) -> tuple[Any, Any]:
    """The print as the camera sees it (flat: a homography; bent: a cylinder) and its mask."""
    if pose.bend == 0.0:
        homography = print_homography(face_centre, face_height, face_px, pose)
        warped = cv2.warpPerspective(photo, homography, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.ones(photo.shape[:2], np.uint8), homography, (FRAME_W, FRAME_H)) > 0
        return warped, mask
    map_x, map_y = bent_print_maps(photo.shape, face_centre, face_height, face_px, pose)
    warped = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR)
    return warped, map_x >= 0


def render(warped: Any, mask: Any, background: RGBImage, rng: np.random.Generator) -> RGBImage:
    """The print over a background, slight blur and sensor noise."""
    frame = background.copy()
    frame[mask] = warped[mask]
    blurred = cv2.GaussianBlur(frame, (0, 0), 0.7)
    noisy = blurred.astype(np.float32) + rng.normal(0, 3.0, frame.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jitter(pose: PrintPose, rng: random.Random) -> PrintPose:
    """Hand tremor added to every frame: about 1.5° and 3 px."""
    return PrintPose(
        yaw=pose.yaw + rng.gauss(0, 1.5),
        pitch=pose.pitch + rng.gauss(0, 1.5),
        roll=pose.roll + rng.gauss(0, 1.0),
        tx=pose.tx + rng.gauss(0, 3.0),
        ty=pose.ty + rng.gauss(0, 3.0),
        scale=pose.scale * (1 + rng.gauss(0, 0.01)),
        bend=pose.bend,
    )


def sign(rng: random.Random) -> float:
    return rng.choice((-1.0, 1.0))


def attack_poses(kind: str, rng: random.Random) -> tuple[PrintPose, PrintPose]:
    """Start and end pose of one attack of ``kind``."""
    u = rng.uniform
    if kind == "print-tilt-vertical-axis":
        start = PrintPose(yaw=u(-5, 5), pitch=u(-5, 5), roll=u(-5, 5))
        end = PrintPose(
            yaw=sign(rng) * u(15, 40), pitch=u(-5, 5), roll=u(-5, 5), tx=u(-30, 30), scale=u(0.9, 1.1)
        )
    elif kind == "print-tilt-horizontal-axis":
        start = PrintPose(yaw=u(-5, 5), pitch=u(-5, 5), roll=u(-5, 5))
        end = PrintPose(
            yaw=u(-5, 5), pitch=sign(rng) * u(15, 40), roll=u(-5, 5), ty=u(-30, 30), scale=u(0.9, 1.1)
        )
    elif kind == "print-tilt-both+move":
        start = PrintPose(yaw=u(-15, 15), pitch=u(-15, 15), roll=u(-10, 10), tx=u(-40, 40), ty=u(-30, 30))
        end = PrintPose(
            yaw=sign(rng) * u(15, 40),
            pitch=sign(rng) * u(10, 40),
            roll=u(-15, 15),
            tx=u(-60, 60),
            ty=u(-40, 40),
            scale=u(0.8, 1.25),
        )
    elif kind == "print-shake":
        start = PrintPose(yaw=u(-10, 10), pitch=u(-10, 10), roll=u(-5, 5))
        end = PrintPose(
            yaw=start.yaw + u(-6, 6),
            pitch=start.pitch + u(-6, 6),
            roll=start.roll + u(-5, 5),
            tx=u(-20, 20),
            ty=u(-20, 20),
            scale=u(0.96, 1.04),
        )
    elif kind == "print-bent-tilt":
        bend = sign(rng) * u(0.8, 2.0)
        start = PrintPose(yaw=u(-5, 5), pitch=u(-5, 5), roll=u(-5, 5), bend=bend)
        end = PrintPose(
            yaw=sign(rng) * u(15, 40),
            pitch=u(-10, 10),
            roll=u(-5, 5),
            tx=u(-30, 30),
            scale=u(0.9, 1.1),
            bend=bend,
        )
    elif kind == "still":
        start = PrintPose(yaw=u(-10, 10), pitch=u(-10, 10), roll=u(-5, 5))
        return start, start
    else:
        raise ValueError(kind)
    return jitter(start, rng), jitter(end, rng)


ATTACK_KINDS = (
    "print-tilt-vertical-axis",
    "print-tilt-horizontal-axis",
    "print-tilt-both+move",
    "print-shake",
    "still",
    "print-bent-tilt",
)


@dataclass
class Photo:
    person: str
    image: RGBImage
    box: FaceBox


def usable_photos(analyser: FaceAnalyser, identities: Path, per_person: int) -> dict[str, list[Photo]]:
    """Up to ``per_person`` photos of each person with a face HOG finds, downscaled to <= 800 px."""
    people: dict[str, list[Photo]] = {}
    for person_dir in sorted(p for p in identities.iterdir() if p.is_dir()):
        for path in sorted(person_dir.iterdir())[:per_person]:
            try:
                image = load_image(path)
            except Exception as exc:  # a benchmark reports and goes on
                print(f"  skipped {path.name}: {exc}")
                continue
            longest = max(image.shape[:2])
            if longest > 800:
                f = 800 / longest
                image = np.ascontiguousarray(
                    cv2.resize(
                        image,
                        (round(image.shape[1] * f), round(image.shape[0] * f)),
                        interpolation=cv2.INTER_AREA,
                    )
                )
            box = subject_box(analyser, image)
            if box is not None and box.height >= 40:
                people.setdefault(person_dir.name, []).append(Photo(person_dir.name, image, box))
    return people


def make_background(rng: np.random.Generator) -> RGBImage:
    base = rng.integers(40, 200, size=(FRAME_H // 16, FRAME_W // 16, 3)).astype(np.uint8)
    return np.ascontiguousarray(cv2.resize(base, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC))


# --- reports ---------------------------------------------------------------------------


RESIDUAL_THRESHOLDS = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08)


def report_cue(
    models: list[Landmarker],
    genuine_all: dict[str, list[PairCue]],
    genuine_turns: dict[str, list[PairCue]],
    genuine_strong: dict[str, list[PairCue]],
    attacks: dict[str, dict[str, list[PairCue]]],
) -> None:
    print("\n(b) 3-D consistency cue: homography residual / inter-eye distance")
    for model in models:
        name = model.name
        subset = "rigid points (no mouth, no brows)" if model.rigid is not None else "all points"
        turns = [c.residual for c in genuine_turns[name]]
        print(f"\n  {name}  [{subset}]")
        print(f"    genuine, all pairs          {quantiles([c.residual for c in genuine_all[name]])}")
        print(f"    genuine, turn pairs         {quantiles(turns)}")
        print(f"    genuine, strong turn pairs  {quantiles([c.residual for c in genuine_strong[name]])}")
        for kind in ATTACK_KINDS:
            print(f"    attack {kind:27s}{quantiles([c.residual for c in attacks[name][kind]])}")
        if model.rigid is not None:
            print("    same with all points:")
            print(
                f"    genuine, turn pairs         {quantiles([c.residual_all for c in genuine_turns[name]])}"
            )
            for kind in ATTACK_KINDS:
                print(f"    attack {kind:27s}{quantiles([c.residual_all for c in attacks[name][kind]])}")
        for kind in ATTACK_KINDS:
            values = [c.residual for c in attacks[name][kind]]
            if values and turns:
                print(
                    f"    margin vs {kind:27s} min(turns)-max(attack) {min(turns) - max(values):+.4f}"
                    f"   p5(turns)/p95(attack) {percentile(turns, 5) / max(percentile(values, 95), 1e-9):.2f}x"
                )
        for turn_min, genuine in (
            (TURN_MIN_NOSE_SHIFT, genuine_turns[name]),
            (STRONG_TURN_NOSE_SHIFT, genuine_strong[name]),
        ):
            decision_table(turn_min, genuine, attacks[name])


def decision_table(turn_min: float, genuine: list[PairCue], attacks: dict[str, list[PairCue]]) -> None:
    """BPCER on genuine pairs and APCER per attack type of 'turn done' at several residual thresholds."""
    print(
        f"    decision 'turn done' = own nose shift >= {turn_min} AND residual >= t AND face presence >= 0.5:"
        f" genuine pairs with reference shift >= {turn_min} rejected (BPCER) / attacks accepted (APCER)"
    )
    header = "".join(f"{k[:14]:>16s}" for k in ATTACK_KINDS)
    print(f"      {'t':>6s} {'BPCER':>7s}{header}")
    for threshold in RESIDUAL_THRESHOLDS:
        bpcer = sum(1 for c in genuine if not accepted(c, threshold, turn_min)) / max(1, len(genuine))
        cells = []
        for kind in ATTACK_KINDS:
            tried = attacks[kind]
            passed = sum(1 for c in tried if accepted(c, threshold, turn_min))
            cells.append(f"{passed:4d}/{len(tried):<3d}{passed / max(1, len(tried)):6.1%}")
        print(f"      {threshold:6.3f} {bpcer:7.1%}" + "".join(f"{c:>16s}" for c in cells))
    turned = [c.residual for c in genuine if accepted(c, 0.0, turn_min)]
    for kind in ATTACK_KINDS:
        passing = [c.residual for c in attacks[kind] if accepted(c, 0.0, turn_min)]
        if turned and passing:
            print(
                f"      margin vs {kind:27s} among pairs passing the turn and presence gates:"
                f" min genuine {min(turned):.4f} - max attack {max(passing):.4f} ({len(passing)} attacks)"
                f" = {min(turned) - max(passing):+.4f}"
            )
        else:
            print(f"      margin vs {kind:27s} no attack passes the turn and presence gates")


def accepted(cue: PairCue, threshold: float, turn_min: float) -> bool:
    present = cue.presence is None or cue.presence >= 0.5
    return present and cue.nose_shift >= turn_min and cue.residual >= threshold


def report_blinks(
    models: list[Landmarker], tracks: list[list[ClipFrame]], series: dict[str, list[list[float]]]
) -> None:
    print("\n(c) eye aspect ratio on the clip, relative to each track's median (blink = dip, then recovery)")
    for model in models:
        if model.ear_right is None:
            continue
        print(f"\n  {model.name}")
        for track, values in zip(tracks, series[model.name], strict=True):
            baseline = float(np.median(values))
            ratios = [v / baseline for v in values]
            print(
                f"    frames {track[0].index}-{track[-1].index}: baseline EAR {baseline:.3f},"
                f" ratio min {min(ratios):.2f} p5 {percentile(ratios, 5):.2f} p50 {percentile(ratios, 50):.2f}"
            )
            dips = [f.index for f, r in zip(track, ratios, strict=True) if r < 0.7]
            print(f"    frames with ratio < 0.70: {dips if dips else 'none'}")
            for start in range(0, len(ratios), 20):
                chunk = ratios[start : start + 20]
                print(f"      {track[start].index:4d}: " + " ".join(f"{r:.2f}" for r in chunk))


def report_eye_photos(models: list[Landmarker], analyser: FaceAnalyser, faces: Path) -> None:
    print("\n  EAR on hard_cases eyes-open / eyes-closed photos (different people, so only indicative)")
    for name in ("inspireface_open_eyes.png", "inspireface_close_eyes.jpg"):
        path = faces / "hard_cases" / name
        if not path.is_file():
            print(f"    {name}: absent")
            continue
        image = load_image(path)
        box = subject_box(analyser, image)
        if box is None:
            print(f"    {name}: no face found by HOG")
            continue
        cells = []
        for model in models:
            if model.ear_right is None:
                continue
            points, _ = model.predict(image, box)
            cells.append(f"{model.name.split(' ')[0]} EAR {model.ear(points):.3f}")
        print(f"    {name:28s} " + ", ".join(cells))


def main(argv: list[str] | None = None) -> int:
    default_faces = Path(os.environ.get("SCANGATE_FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=default_faces, help="the shared face folder")
    parser.add_argument("--attacks-per-type", type=int, default=60, help="generated attacks of each kind")
    parser.add_argument(
        "--photos-per-person", type=int, default=3, help="photos of each person to attack with"
    )
    parser.add_argument("--threads", type=int, default=1, help="ai-edge-litert interpreter threads")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    clip = args.faces / CLIP
    if not clip.is_file() or not (args.faces / "identities").is_dir():
        print(f"face set not found at {args.faces} (set --faces or SCANGATE_FACES_DIR)")
        return 2

    print(f"Liveness landmark study, {load_average()}, numpy {np.__version__}, OpenCV {cv2.__version__}")
    analyser = FaceAnalyser(IdentificationSettings())
    models: list[Landmarker] = []
    for candidate in (mediapipe_landmarker(args.threads), dlib_landmarker(True), dlib_landmarker(False)):
        if isinstance(candidate, str):
            print(f"  candidate skipped: {candidate}")
        else:
            models.append(candidate)
            print(f"  candidate {candidate.name}: {candidate.licence}; model load {candidate.load_ms:.0f} ms")
    if not models:
        return 2
    reference = models[0]

    started = time.perf_counter()
    tracks, frame_count, detect_p50 = read_clip(analyser, clip)
    print(
        f"\nclip {clip.name}: {frame_count} frames, HOG detect p50 {detect_p50:.0f} ms/frame,"
        f" {len(tracks)} face tracks of >= 10 frames: "
        + ", ".join(
            f"{t[0].index}-{t[-1].index} ({len(t)} frames, box ~{t[0].box.height} px)" for t in tracks
        )
    )
    points: dict[str, list[list[Points]]] = {m.name: [] for m in models}
    frame_scores: dict[str, list[list[float | None]]] = {m.name: [] for m in models}
    presence: dict[str, list[float]] = {m.name: [] for m in models}
    for model in models:
        for track in tracks:
            per_track = []
            per_track_scores: list[float | None] = []
            for item in track:
                pts, score = model.timed(item.frame, item.box)
                per_track.append(pts)
                per_track_scores.append(score)
                if score is not None:
                    presence[model.name].append(score)
            points[model.name].append(per_track)
            frame_scores[model.name].append(per_track_scores)

    genuine_all: dict[str, list[PairCue]] = {m.name: [] for m in models}
    genuine_turns: dict[str, list[PairCue]] = {m.name: [] for m in models}
    genuine_strong: dict[str, list[PairCue]] = {m.name: [] for m in models}
    turn_shift: list[float] = []
    for t_index, track in enumerate(tracks):
        ref_pts = points[reference.name][t_index]
        by_index = {item.index: k for k, item in enumerate(track)}
        for k, item in enumerate(track):
            for gap in PAIR_GAPS:
                j = by_index.get(item.index + gap)
                if j is None:
                    continue
                shift = abs(reference.nose_offset(ref_pts[j]) - reference.nose_offset(ref_pts[k]))
                is_turn = shift >= TURN_MIN_NOSE_SHIFT
                if is_turn:
                    turn_shift.append(shift)
                for model in models:
                    track_points = points[model.name][t_index]
                    track_scores = frame_scores[model.name][t_index]
                    cue = pair_cue(
                        model, track_points[k], track_points[j], (track_scores[k], track_scores[j])
                    )
                    genuine_all[model.name].append(cue)
                    if is_turn:
                        genuine_turns[model.name].append(cue)
                    if shift >= STRONG_TURN_NOSE_SHIFT:
                        genuine_strong[model.name].append(cue)
    print(
        f"genuine pairs: gaps {PAIR_GAPS} frames; turn pairs = nose offset change >= {TURN_MIN_NOSE_SHIFT}"
        f" eye spans by {reference.name}: {quantiles(turn_shift)}"
    )
    print(f"clip took {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    photos = usable_photos(analyser, args.faces / "identities", args.photos_per_person)
    people = sorted(photos)
    print(f"\nattack photos: {sum(len(v) for v in photos.values())} photos of {len(people)} people")
    rng = random.Random(args.seed)
    np_rng = np.random.default_rng(args.seed)
    attacks: dict[str, dict[str, list[PairCue]]] = {m.name: {k: [] for k in ATTACK_KINDS} for m in models}
    attack_presence: list[float] = []
    attack_shift: dict[str, list[float]] = {k: [] for k in ATTACK_KINDS}
    for kind in ATTACK_KINDS:
        lost = 0
        used_people: set[str] = set()
        for n in range(args.attacks_per_type):
            photo = rng.choice(photos[people[n % len(people)]])
            face_px = rng.uniform(110, 170)
            centre = ((photo.box.left + photo.box.right) / 2, (photo.box.top + photo.box.bottom) / 2)
            background = make_background(np_rng)
            frames = [
                render(*warp_print(photo.image, centre, photo.box.height, face_px, pose), background, np_rng)
                for pose in attack_poses(kind, rng)
            ]
            found = [subject_box(analyser, f) for f in frames]
            boxes = [box for box in found if box is not None]
            if len(boxes) < 2:
                lost += 1
                continue
            used_people.add(photo.person)
            for model in models:
                (a, sa), (b, sb) = (model.timed(f, box) for f, box in zip(frames, boxes, strict=True))
                cue = pair_cue(model, a, b, (sa, sb))
                attacks[model.name][kind].append(cue)
                if model is reference:
                    attack_shift[kind].append(cue.nose_shift)
                    attack_presence.extend(s for s in (sa, sb) if s is not None)
        print(
            f"  {kind:27s} {args.attacks_per_type} generated, {lost} lost (no face, or several, in a frame),"
            f" {len(used_people)} people; nose-offset change {quantiles(attack_shift[kind])}"
        )
    print(f"attacks took {time.perf_counter() - started:.0f} s")

    print(f"\n(a) latency per analysed face crop (landmarks only; HOG box given), {load_average()}")
    for model in models:
        lat = model.latencies_ms
        print(
            f"  {model.name:34s} p50 {percentile(lat, 50):6.2f} ms  p95 {percentile(lat, 95):6.2f} ms"
            f"  (n={len(lat)}, load {model.load_ms:.0f} ms)"
        )
    if args.threads == 1:
        two = mediapipe_landmarker(2)
        if not isinstance(two, str):
            for track in tracks:
                for item in track:
                    two.timed(item.frame, item.box)
            lat = two.latencies_ms
            print(
                f"  {two.name:34s} p50 {percentile(lat, 50):6.2f} ms  p95 {percentile(lat, 95):6.2f} ms"
                f"  (n={len(lat)}, clip frames only)"
            )
    if presence[reference.name]:
        print(
            f"  {reference.name} face-presence score: clip {quantiles(presence[reference.name])}\n"
            f"  {'':{len(reference.name)}} attacks {quantiles(attack_presence)}"
        )

    report_cue(models, genuine_all, genuine_turns, genuine_strong, attacks)
    series = {
        m.name: [[m.ear(p) or float("nan") for p in track_pts] for track_pts in points[m.name]]
        for m in models
    }
    report_blinks(models, tracks, series)
    report_eye_photos(models, analyser, args.faces)
    print(f"\ndone, {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
