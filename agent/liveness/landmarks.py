"""MediaPipe's 468-point face landmark model, run on a face box, and the cues taken from it.

The model is ``mediapipe/modules/face_landmark/face_landmark.tflite`` (Apache-2.0) from
the installed ``mediapipe==0.10.21`` wheel, which ``packaging/bootstrap.py`` installs
with ``--no-deps``. The mediapipe package is **never imported** (it needs numpy<2 and
protobuf<5): the file is located with :mod:`importlib.metadata`, its SHA-256 checked
against the one measured in ``docs/liveness-landmarks-study.md``, and it is run with
``ai-edge-litert``. Any problem with the package, the file or the runtime raises
:class:`~agent.liveness.errors.LandmarkModelError`, so callers fail closed.

Point conventions (MediaPipe's anatomical indices, for a **non-mirrored** camera image,
in which the performer's right eye appears on the image's left): 1 nose tip, 33 / 263
the outer corners of the performer's right / left eye. A performer turning to *their*
left moves the nose towards image *right*; :func:`performer_turn` reports that as a
positive turn, as :class:`~agent.liveness.challenge.FaceLandmarks` expects.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.faces.engine import FaceBox
from agent.faces.imaging import RGBImage
from agent.liveness.challenge import FaceLandmarks
from agent.liveness.errors import LandmarkModelError
from agent.liveness.geometry import GeometryError, Points, eye_aspect_ratio, inter_eye_distance, turn_cue
from agent.system_libraries import system_library_hint

MODEL_FILE = "mediapipe/modules/face_landmark/face_landmark.tflite"
CONNECTIONS_FILE = "mediapipe/python/solutions/face_mesh_connections.py"
MODEL_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
MODEL_VERSION = f"mediapipe-face_landmark@{MODEL_SHA256[:12]}"
"""The model version every liveness result names (the file's hash, checked when loaded)."""
MIN_PRESENCE = 0.5
"""Below this presence score the crop is not taken to show a face (the study's gate)."""
"""SHA-256 of ``face_landmark.tflite`` in the mediapipe 0.10.21 wheel (the study's model)."""
INSTALL_HINT = (
    "run `python3 packaging/bootstrap.py` (it installs mediapipe==0.10.21 --no-deps and ai-edge-litert)"
)

INPUT_SIZE = 192
CROP_FACTOR = 1.5
"""The crop is the square of this many times the face box's longer side, centred on it."""
POINT_COUNT = 468
NOSE_TIP = 1
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (263, 387, 385, 362, 380, 373)
RIGID_SETS = ("FACEMESH_FACE_OVAL", "FACEMESH_NOSE", "FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE")
"""The study's point subset for the planarity residual: no lips, no brows (speech moves them)."""


@dataclass(frozen=True)
class FaceMesh:
    """The model's answer for one face box: 468 points in frame pixels and the presence score."""

    points: Points
    presence: float
    """Probability (sigmoid of the model's logit) that the crop shows a face."""


def mediapipe_file(relative: str) -> Path:
    """A file of the installed mediapipe wheel, located without importing mediapipe."""
    try:
        located = Path(str(importlib.metadata.distribution("mediapipe").locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        raise LandmarkModelError(
            "the mediapipe package (which carries the face landmark model) is not installed",
            hint=INSTALL_HINT,
        ) from None
    if not located.is_file():
        raise LandmarkModelError(
            "the installed mediapipe has no such file", where=str(located), hint=INSTALL_HINT
        )
    return located


def rigid_indices(connections: Path) -> tuple[int, ...]:
    """The vertices of :data:`RIGID_SETS`, read (parsed, not executed) from mediapipe's connection lists."""
    try:
        tree = ast.parse(connections.read_text(encoding="utf-8"))
        sets: dict[str, Any] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                value = node.value
                if (
                    isinstance(value, ast.Call)
                    and len(value.args) == 1
                    and isinstance(value.args[0], ast.List)
                ):
                    sets[node.targets[0].id] = ast.literal_eval(value.args[0])
        found = {int(i) for name in RIGID_SETS for edge in sets[name] for i in edge}
    except (OSError, SyntaxError, ValueError, KeyError, TypeError) as exc:
        raise LandmarkModelError(
            f"cannot read the face mesh point sets ({exc})", where=str(connections), hint=INSTALL_HINT
        ) from None
    if not found or max(found) >= POINT_COUNT:
        raise LandmarkModelError(
            "the face mesh point sets are not those of the 468-point model", where=str(connections)
        )
    return tuple(sorted(found))


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise LandmarkModelError(
            f"cannot read the face landmark model ({exc.strerror})", where=str(path)
        ) from None


class FaceLandmarker:
    """Runs the 468-point model on face boxes of RGB frames (one instance per thread)."""

    def __init__(
        self, *, model_path: Path | None = None, expected_sha256: str = MODEL_SHA256, threads: int = 1
    ) -> None:
        """Load and check the model; ``model_path`` defaults to the file in the mediapipe wheel.

        Raises :class:`LandmarkModelError` when the file is missing, is not the expected
        one (SHA-256), ai-edge-litert is missing, or the model cannot be run.
        """
        path = model_path if model_path is not None else mediapipe_file(MODEL_FILE)
        digest = _sha256(path)
        if digest != expected_sha256:
            raise LandmarkModelError(
                f"the face landmark model is not the expected file (SHA-256 {digest[:12]}…, expected {expected_sha256[:12]}…)",
                where=str(path),
                hint="reinstall mediapipe==0.10.21; a changed model needs a new liveness study before use",
            )
        self.model_version = f"mediapipe-face_landmark@{digest[:12]}"  # MODEL_VERSION for the shipped file
        """Recorded with every liveness result: which model file judged it."""
        self.rigid_indices = rigid_indices(mediapipe_file(CONNECTIONS_FILE))
        try:
            litert: Any = importlib.import_module("ai_edge_litert.interpreter")
        except ImportError as exc:
            raise LandmarkModelError(
                f"ai-edge-litert cannot be imported ({exc})", hint=system_library_hint(exc, INSTALL_HINT)
            ) from None
        try:
            self._interpreter: Any = litert.Interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
            inputs = self._interpreter.get_input_details()
            outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
            self._input = inputs[0]["index"]
            shape = tuple(int(n) for n in inputs[0]["shape"])
            self._mesh = outputs["conv2d_21"]["index"]
            self._score = outputs["conv2d_31"]["index"]
            sizes = (int(np.prod(outputs["conv2d_21"]["shape"])), int(np.prod(outputs["conv2d_31"]["shape"])))
        except (ValueError, RuntimeError, KeyError, IndexError) as exc:
            raise LandmarkModelError(
                f"the face landmark model cannot be run ({exc})", where=str(path), hint=INSTALL_HINT
            ) from None
        if shape != (1, INPUT_SIZE, INPUT_SIZE, 3) or sizes != (POINT_COUNT * 3, 1):
            raise LandmarkModelError(
                f"the model's tensors are not the 468-point model's (input {shape})", where=str(path)
            )

    def locate(self, frame: RGBImage, box: FaceBox) -> FaceMesh:
        """The 468 landmarks (frame pixels) and presence score of the face in ``box`` of ``frame``.

        The crop is the square of :data:`CROP_FACTOR` × the box's longer side, centred on
        the box, resized to 192×192 (black beyond the frame's edge), RGB scaled to [0, 1].
        """
        side = CROP_FACTOR * max(box.width, box.height)
        if not side > 0:
            raise GeometryError(f"the face box {box} is empty")
        x0 = (box.left + box.right) / 2 - side / 2
        y0 = (box.top + box.bottom) / 2 - side / 2
        scale = INPUT_SIZE / side
        affine = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]], dtype=np.float64)
        crop = cv2.warpAffine(frame, affine, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR)
        tensor = (crop.astype(np.float32) / np.float32(255.0))[np.newaxis]
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        mesh = np.asarray(self._interpreter.get_tensor(self._mesh), dtype=np.float64).reshape(POINT_COUNT, 3)
        logit = float(np.asarray(self._interpreter.get_tensor(self._score)).ravel()[0])
        points = mesh[:, :2] / scale + np.array([x0, y0])
        return FaceMesh(points=points, presence=_sigmoid(logit))

    def challenge_frame(self, mesh: FaceMesh, at: datetime, performer_id: str | None) -> FaceLandmarks:
        """What :class:`~agent.liveness.challenge.Challenge` needs from one frame's mesh."""
        return FaceLandmarks(
            at=at,
            performer_id=performer_id,
            points=mesh.points[list(self.rigid_indices)],
            scale=eye_scale(mesh.points),
            turn=performer_turn(mesh.points),
            eye_ratio=mean_eye_ratio(mesh.points),
        )


def _sigmoid(logit: float) -> float:
    if logit < -60.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-logit))


def eye_scale(points: Points) -> float:
    """Distance between the outer eye corners (33 and 263), in pixels."""
    return inter_eye_distance(points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER])


def performer_turn(points: Points) -> float:
    """Turn cue towards the performer's left (positive) or right, for a non-mirrored image.

    The performer's right eye (33) is on the image's left, so the nose moving towards
    image right (the performer turning to their left) gives a positive
    :func:`~agent.liveness.geometry.turn_cue`.
    """
    return turn_cue(points[NOSE_TIP], points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER])


def mean_eye_ratio(points: Points) -> float:
    """Mean eye aspect ratio of the right (33, 160, 158, 133, 153, 144) and left eye."""
    right = eye_aspect_ratio(points[list(RIGHT_EYE_EAR)])
    left = eye_aspect_ratio(points[list(LEFT_EYE_EAR)])
    return (right + left) / 2.0
