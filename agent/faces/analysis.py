"""Per-frame face analysis before matching: detect, quality gate, encode.

Detection runs on a copy of the frame downscaled to at most ``detect_width`` wide
and ``detect_pixels`` in all (HOG cost grows with the pixel count); the face box is scaled back up and the landmarks
and 128-d encoding are computed on the full-resolution frame.

The quality gate refuses, with a plain-language reason:
- no face found;
- more than one candidate subject: a second face whose box height is at least
  ``competing_face_ratio`` of the subject's and a detector score of at least
  ``min_rival_score`` (small background faces and weak detections, mostly false
  positives, are ignored; the subject is the largest face, see
  :func:`competing_faces` for when a weak detection gives way);
- a subject face smaller than ``min_face_px``;
- a subject face blurrier than ``min_sharpness``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from agent.faces.decision import Decision
from agent.faces.engine import Detection, Encoding, FaceBox, FaceEngine
from agent.faces.imaging import RGBImage
from agent.faces.settings import IdentificationSettings

SHARPNESS_CROP_HEIGHT = 64
"""Face crops are resized to this height before measuring sharpness, so the value
does not depend on how large the face is in the frame."""


@dataclass(frozen=True)
class StageTimings:
    """Wall-clock milliseconds spent in each stage of one frame's analysis."""

    detect_ms: float = 0.0
    quality_ms: float = 0.0
    encode_ms: float = 0.0
    match_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        """Sum of all stages."""
        return self.detect_ms + self.quality_ms + self.encode_ms + self.match_ms


@dataclass(frozen=True)
class FaceObservation:
    """The subject face of a frame after the quality gate, encoded if it passed.

    ``refusal`` is None when the face passed the gate (then ``encoding`` is set),
    otherwise the decision (no_face, multiple_faces, low_quality) and ``reason`` why.
    """

    refusal: Decision | None
    reason: str
    box: FaceBox | None = None
    faces_found: int = 0
    sharpness: float | None = None
    encoding: Encoding | None = field(default=None, repr=False)
    timings: StageTimings = field(default_factory=StageTimings)


def face_sharpness(frame: RGBImage, box: FaceBox) -> float:
    """Variance of the Laplacian of the face crop, normalised to a fixed crop height."""
    crop = frame[box.top : box.bottom, box.left : box.right]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    scale = SHARPNESS_CROP_HEIGHT / grey.shape[0]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(
        grey,
        (max(1, round(grey.shape[1] * scale)), SHARPNESS_CROP_HEIGHT),
        interpolation=interpolation,
    )
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


def competing_faces(
    detections: list[Detection], *, ratio: float, min_score: float
) -> tuple[Detection, list[Detection]]:
    """The subject face and the other confidently detected faces comparable to it in size.

    The subject is the largest face, except that a weak detection (score below
    ``min_score``, mostly false positives) gives way to the largest confident one
    when that one is at least ``ratio`` of its height: HOG boxes come in a few
    sizes, so a patch or a poster can get a box a few pixels taller than the real
    face beside it. A weak detection much larger than every confident one (a
    half-turned performer before a small background face) stays the subject.
    Rivals are the other confident faces at least ``ratio`` of the subject's height.
    """
    ordered = sorted(detections, key=lambda d: (d.box.height, d.score), reverse=True)
    confident = [d for d in ordered if d.score >= min_score]
    subject = ordered[0]
    if subject.score < min_score and confident and confident[0].box.height >= ratio * subject.box.height:
        subject = confident[0]
    rivals = [d for d in confident if d is not subject and d.box.height >= ratio * subject.box.height]
    return subject, rivals


def detection_scale(width: int, height: int, settings: IdentificationSettings) -> float:
    """The factor (at most 1) a width x height frame is scaled by before face detection.

    Both limits apply and the smaller scale wins: the width (``detect_width``) and the
    pixel count (``detect_pixels``, HOG's cost grows with it), so a portrait photo or a
    4:3 frame is detected on no more pixels than a 16:9 one. The width limit alone let a
    1000x1500 portrait through at 640x960, 2.7 times the pixels of a downscaled 720p frame.
    """
    scale = 1.0
    if width > settings.detect_width:
        scale = settings.detect_width / width
    pixels = width * height * scale * scale
    if pixels > settings.detect_pixels:
        scale *= math.sqrt(settings.detect_pixels / pixels)
    return scale


class FaceAnalyser:
    """Detects, checks and encodes the subject face of frames; holds no roster."""

    def __init__(self, settings: IdentificationSettings, *, engine: FaceEngine | None = None) -> None:
        self.settings = settings
        self.engine = (
            engine
            if engine is not None
            else FaceEngine(detection_model=settings.detection_model, encoder=settings.encoder)
        )

    def detection_copy(self, frame: RGBImage) -> tuple[RGBImage, float]:
        """The copy of ``frame`` that faces are detected on, and the scale it was taken at (≤ 1)."""
        height, width = frame.shape[:2]
        scale = detection_scale(width, height, self.settings)
        if scale == 1.0:
            return frame, scale
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), scale

    def detect(self, frame: RGBImage) -> list[Detection]:
        """Faces in ``frame``, detected on a downscaled copy, boxes in full-resolution pixels."""
        small, scale = self.detection_copy(frame)
        return self._full_size(self.engine.detect(small, upsample=self.settings.upsample), frame, scale)

    def detect_near(self, frame: RGBImage, box: FaceBox, *, window: float) -> list[Detection]:
        """Faces in a square around ``box`` of ``window`` times its longer side, boxes in full-resolution pixels.

        The same detector on the same pixels as :meth:`detect` (the frame's downscaled copy, the
        same upsampling), only on a part of them: a face in the window gets the box the whole
        frame would give it, give or take a pixel or two of the detector's grid, at a fraction of
        the cost (HOG's cost grows with the pixel count). Faces outside the window are not seen.
        """
        small, scale = self.detection_copy(frame)
        half = window * max(box.width, box.height) * scale / 2
        cx, cy = (box.left + box.right) * scale / 2, (box.top + box.bottom) * scale / 2
        rows, cols = small.shape[:2]
        left, top = max(0, int(cx - half)), max(0, int(cy - half))
        right, bottom = min(cols, math.ceil(cx + half)), min(rows, math.ceil(cy + half))
        if right - left < 2 or bottom - top < 2:
            return []
        crop = np.ascontiguousarray(small[top:bottom, left:right])
        found = [
            Detection(
                box=FaceBox(
                    top=d.box.top + top,
                    right=d.box.right + left,
                    bottom=d.box.bottom + top,
                    left=d.box.left + left,
                ),
                score=d.score,
            )
            for d in self.engine.detect(crop, upsample=self.settings.upsample)
        ]
        return self._full_size(found, frame, scale)

    @staticmethod
    def _full_size(found: list[Detection], frame: RGBImage, scale: float) -> list[Detection]:
        if scale == 1.0:
            return found
        height, width = frame.shape[:2]
        return [
            Detection(box=d.box.scaled(1.0 / scale, width=width, height=height), score=d.score) for d in found
        ]

    def observe(self, frame: RGBImage, *, encode: bool = True) -> FaceObservation:
        """Detect, apply the quality gate and, if it passes and ``encode`` is set, encode the subject face.

        With ``encode=False`` a face that passes the gate comes back with no encoding: where
        it is, not who it is (outside a session, see :meth:`Identifier.locate`).
        """
        started = time.perf_counter()
        detections = self.detect(frame)
        return self.judge(frame, detections, detect_ms=(time.perf_counter() - started) * 1000, encode=encode)

    def judge(
        self, frame: RGBImage, detections: list[Detection], *, detect_ms: float = 0.0, encode: bool = True
    ) -> FaceObservation:
        """Apply the quality gate to ``detections`` of ``frame`` and, if it passes and ``encode`` is set,
        encode the subject face (:meth:`observe` after detection; boxes in full-resolution pixels)."""
        detected = time.perf_counter()
        if not detections:
            return FaceObservation(
                refusal=Decision.NO_FACE,
                reason="no face found in the frame",
                timings=StageTimings(detect_ms=detect_ms),
            )
        subject, rivals = competing_faces(
            detections, ratio=self.settings.competing_face_ratio, min_score=self.settings.min_rival_score
        )
        box = subject.box
        count = len(detections)
        refusal: Decision | None = None
        reason = ""
        sharpness: float | None = None
        if rivals:
            refusal = Decision.MULTIPLE_FACES
            reason = (
                f"{1 + len(rivals)} faces of similar size in the frame; only one person may be"
                " in front of the camera"
            )
        elif box.height < self.settings.min_face_px:
            refusal = Decision.LOW_QUALITY
            reason = (
                f"face too small ({box.height} px high, need {self.settings.min_face_px});"
                " come closer to the camera"
            )
        else:
            sharpness = face_sharpness(frame, box)
            if sharpness < self.settings.min_sharpness:
                refusal = Decision.LOW_QUALITY
                reason = (
                    f"face too blurred (sharpness {sharpness:.0f}, need {self.settings.min_sharpness:.0f});"
                    " hold still and check the focus"
                )
        checked = time.perf_counter()
        quality_ms = (checked - detected) * 1000
        if refusal is not None:
            return FaceObservation(
                refusal=refusal,
                reason=reason,
                box=box,
                faces_found=count,
                sharpness=sharpness,
                timings=StageTimings(detect_ms=detect_ms, quality_ms=quality_ms),
            )
        if not encode:
            return FaceObservation(
                refusal=None,
                reason="face in view",
                box=box,
                faces_found=count,
                sharpness=sharpness,
                timings=StageTimings(detect_ms=detect_ms, quality_ms=quality_ms),
            )
        encoding = self.engine.encode(frame, box, num_jitters=self.settings.num_jitters)
        encode_ms = (time.perf_counter() - checked) * 1000
        return FaceObservation(
            refusal=None,
            reason="face passed the quality checks",
            box=box,
            faces_found=count,
            sharpness=sharpness,
            encoding=encoding,
            timings=StageTimings(detect_ms=detect_ms, quality_ms=quality_ms, encode_ms=encode_ms),
        )
