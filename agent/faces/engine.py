"""The face engine: dlib's HOG detector, 5-point landmarks and 128-d ResNet encoder.

The face is aligned for the encoder with dlib's **5-point** shape predictor (public domain).
The 68-point predictor that ``face_recognition`` uses by default is trained on iBUG 300-W,
whose licence excludes commercial use (``docs/licences.md``): productions are commercial users.

These are the models face_recognition uses (shipped by the
``face_recognition_models`` package). They are loaded per :class:`FaceEngine`
instance rather than through face_recognition's module-level globals, so an
identifier running in a worker thread shares no mutable state with anybody
else. A lock serialises calls into one engine, so even a shared engine is safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.errors import FaceEngineError
from agent.faces.frontal_detector import load_frontal_detector
from agent.faces.imaging import RGBImage
from agent.system_libraries import system_library_hint

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
"""Name of the encoder recorded with every template; vectors of other models never mix."""

ENCODING_SIZE = 128

Encoding = npt.NDArray[np.float64]
"""A 128-d face encoding."""


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixel coordinates (right and bottom exclusive)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Area in square pixels."""
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float, *, width: int, height: int) -> FaceBox:
        """This box multiplied by ``factor`` and clipped to a width x height image."""
        return FaceBox(
            top=max(0, round(self.top * factor)),
            right=min(width, round(self.right * factor)),
            bottom=min(height, round(self.bottom * factor)),
            left=max(0, round(self.left * factor)),
        )

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form."""
        return {"top": self.top, "right": self.right, "bottom": self.bottom, "left": self.left}


@dataclass(frozen=True)
class Detection:
    """One face found by the detector, with the detector's confidence score."""

    box: FaceBox
    score: float


class FaceEngine:
    """dlib face detector, landmark predictor and encoder, owned by one instance.

    Raises:
        FaceEngineError: when dlib or the model files are missing or unreadable.
    """

    def __init__(self, *, detection_model: str = "hog") -> None:
        # Imported here so a missing engine is a clear FaceEngineError, not an ImportError.
        try:
            import dlib  # noqa: PLC0415
            import face_recognition_models  # type: ignore[import-untyped]  # noqa: PLC0415
        except ImportError as exc:
            raise FaceEngineError(
                f"the face engine cannot be loaded ({exc})",
                hint=system_library_hint(
                    exc, "install dlib-bin and face_recognition_models (see the README)"
                ),
            ) from None
        try:
            self._detector: Any = load_frontal_detector(dlib)
            self._cnn_detector: Any = None
            if detection_model == "cnn":
                self._cnn_detector = dlib.cnn_face_detection_model_v1(
                    face_recognition_models.cnn_face_detector_model_location()
                )
            self._predictor: Any = dlib.shape_predictor(
                face_recognition_models.pose_predictor_five_point_model_location()
            )
            self._encoder: Any = dlib.face_recognition_model_v1(
                face_recognition_models.face_recognition_model_location()
            )
        except RuntimeError as exc:
            raise FaceEngineError(
                f"cannot load the face models: {exc}",
                hint="reinstall face_recognition_models",
            ) from None
        self._dlib: Any = dlib
        self._lock = threading.Lock()

    def detect(self, image: RGBImage, *, upsample: int) -> list[Detection]:
        """Find frontal faces in ``image``; boxes are in ``image``'s own pixels."""
        height, width = image.shape[:2]
        with self._lock:
            if self._cnn_detector is not None:
                found = self._cnn_detector(image, upsample)
                rects = [d.rect for d in found]
                scores = [d.confidence for d in found]
            else:
                rects, scores, _ = self._detector.run(image, upsample, 0.0)
        detections = []
        for rect, score in zip(rects, scores, strict=True):
            box = FaceBox(
                top=max(0, int(rect.top())),
                right=min(width, int(rect.right()) + 1),
                bottom=min(height, int(rect.bottom()) + 1),
                left=max(0, int(rect.left())),
            )
            if box.width > 0 and box.height > 0:
                detections.append(Detection(box=box, score=float(score)))
        return detections

    def encode(self, image: RGBImage, box: FaceBox, *, num_jitters: int = 1) -> Encoding:
        """The 128-d encoding of the face in ``box`` (landmarks, aligned chip, ResNet)."""
        rect = self._dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._lock:
            shape = self._predictor(image, rect)
            descriptor = self._encoder.compute_face_descriptor(image, shape, num_jitters)
        return np.asarray(descriptor, dtype=np.float64)
