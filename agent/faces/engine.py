"""The face engine: dlib's HOG detector, 5-point landmarks and 128-d ResNet encoder.

The face is aligned for the encoder with dlib's **5-point** shape predictor (public domain).
The 68-point predictor that ``face_recognition`` uses by default is trained on iBUG 300-W,
whose licence excludes commercial use (``docs/licences.md``): productions are commercial users.

These are the models face_recognition uses (shipped by the
``face_recognition_models`` package). They are loaded per :class:`FaceEngine`
instance rather than through face_recognition's module-level globals, so an
identifier running in a worker thread shares no mutable state with anybody
else. A lock serialises calls into one engine's dlib models, so even a shared engine is safe;
the numpy encoder's passes are serialised across the whole process instead (its weights
are read-only; :data:`agent.faces.resnet_encoder._blas_lock`).

The 128-d encodings come from dlib's ResNet either way, evaluated by one of two
implementations: :class:`~agent.faces.resnet_encoder.NumpyFaceEncoder` (numpy + OpenBLAS,
4-5x faster) when the installer converted the installed model file's weights
(:mod:`agent.faces.resnet_weights`), else dlib's own ``face_recognition_model_v1``. They are
interchangeable: same weights, same layers, same aligned chip (``dlib.get_face_chip(image,
shape, size=150, padding=0.25)`` is what ``compute_face_descriptor(image, shape)`` encodes);
only the order of float32 additions inside matrix products differs, and the descriptors agree
to about 1e-6 per component (tests/faces/test_resnet_encoder.py), far below any distance that
decides a match. Templates therefore keep one :data:`MODEL_NAME`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from agent.errors import FaceEngineError
from agent.faces.frontal_detector import load_frontal_detector
from agent.faces.imaging import RGBImage
from agent.faces.resnet_architecture import CHIP_SIZE
from agent.faces.resnet_encoder import NumpyFaceEncoder
from agent.faces.resnet_weights import load_installed_encoder
from agent.system_libraries import system_library_hint

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
"""Name of the encoder recorded with every template; vectors of other models never mix.

The same for both implementations of this network (dlib's and numpy's, see the module
docstring): their descriptors are equivalent."""

CHIP_PADDING = 0.25
"""Margin of the aligned chip around the landmarks: dlib's ``compute_face_descriptor`` default."""

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

    def __init__(self, *, detection_model: str = "hog", encoder: Literal["auto", "dlib"] = "auto") -> None:
        """Args: the detector (``hog`` or ``cnn``) and the encoder implementation (``auto``: numpy
        when the installed weights verify, else dlib; ``dlib``: always dlib's)."""
        if encoder not in ("auto", "dlib"):
            raise ValueError(f"encoder must be 'auto' or 'dlib', not {encoder!r}")
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
            self._model = face_recognition_models.face_recognition_model_location()
            self._numpy_encoder: NumpyFaceEncoder | None = (
                load_installed_encoder(Path(self._model)) if encoder == "auto" else None
            )
            # dlib's encoder only when it is the one used, or at the first jittered encoding:
            # reading it costs 0.1 s of start-up that the numpy encoder makes unnecessary.
            self._encoder: Any = None
            if self._numpy_encoder is None:
                self._encoder = dlib.face_recognition_model_v1(self._model)
        except RuntimeError as exc:
            raise FaceEngineError(
                f"cannot load the face models: {exc}",
                hint="reinstall face_recognition_models",
            ) from None
        self._dlib: Any = dlib
        self._lock = threading.Lock()

    def _dlib_encoder(self) -> Any:
        """dlib's encoder, read at first use when the numpy encoder is the usual one."""
        if self._encoder is None:
            try:
                self._encoder = self._dlib.face_recognition_model_v1(self._model)
            except RuntimeError as exc:
                raise FaceEngineError(
                    f"cannot load the face models: {exc}", hint="reinstall face_recognition_models"
                ) from None
        return self._encoder

    @property
    def encoder_implementation(self) -> str:
        """Which implementation computes encodings: ``"numpy"`` (installed weights) or ``"dlib"``."""
        return "numpy" if self._numpy_encoder is not None else "dlib"

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
        """The 128-d encoding of the face in ``box`` (landmarks, aligned chip, ResNet).

        The numpy encoder runs when the installed weights were verified at start and
        ``num_jitters`` is 1 or less (dlib encodes the plain chip then, too); jittered
        encodings (random crops and flips, dlib's own random generator) stay with dlib.
        """
        rect = self._dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._lock:
            shape = self._predictor(image, rect)
            if self._numpy_encoder is None or num_jitters > 1:
                descriptor = self._dlib_encoder().compute_face_descriptor(image, shape, num_jitters)
                return np.asarray(descriptor, dtype=np.float64)
            chip = self._dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return self._numpy_encoder.descriptor(chip)
