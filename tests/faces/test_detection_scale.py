"""The detection pixel budget: frames are scaled by width and by pixel count, the smaller wins."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from agent.faces.analysis import FaceAnalyser, detection_scale
from agent.faces.imaging import RGBImage
from agent.faces.settings import DEFAULT_DETECT_PIXELS, IdentificationSettings

SETTINGS = IdentificationSettings()


def letterbox_to(image: RGBImage, width: int, height: int) -> RGBImage:
    """``image`` scaled to ``width`` wide, centred on a grey width x height canvas."""
    scaled = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])))
    canvas = np.full((height, width, 3), 110, dtype=np.uint8)
    top = (height - scaled.shape[0]) // 2
    canvas[top : top + scaled.shape[0]] = scaled
    return canvas


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1280, 720, 0.5),  # the reference: width and budget agree
        (1920, 1080, 1 / 3),
        (640, 360, 1.0),
        (250, 250, 1.0),  # small photos are used as they are
        (640, 480, math.sqrt(DEFAULT_DETECT_PIXELS / (640 * 480))),  # not wider than 640, but too many pixels
        (1000, 1500, math.sqrt(DEFAULT_DETECT_PIXELS / 1_500_000)),  # portrait photo
        (2560, 720, 0.25),  # very wide: the width limit is the smaller scale
    ],
)
def test_detection_scale_keeps_within_width_and_pixel_budget(
    width: int, height: int, expected: float
) -> None:
    scale = detection_scale(width, height, SETTINGS)
    assert scale == pytest.approx(expected)
    assert round(width * scale) <= SETTINGS.detect_width
    assert round(width * scale) * round(height * scale) <= DEFAULT_DETECT_PIXELS + width + height


def test_a_portrait_frame_is_detected_on_no_more_pixels_than_720p() -> None:
    for width, height in ((640, 480), (1000, 1500), (1200, 1600), (1080, 1920)):
        scale = detection_scale(width, height, SETTINGS)
        assert width * height * scale * scale <= 1280 * 720 * 0.25 + 1e-6


def test_face_in_a_portrait_frame_is_found_at_full_resolution_coordinates(
    analyser: FaceAnalyser, astronaut: RGBImage
) -> None:
    frame = letterbox_to(astronaut, 1000, 1500)
    (detection,) = [d for d in analyser.detect(frame) if d.score >= SETTINGS.min_rival_score]
    # The astronaut's face (about 90 px in the 512 px portrait) is about 175 px high at 1000 px wide.
    assert 140 <= detection.box.height <= 220
    assert 0 <= detection.box.left < detection.box.right <= 1000
    assert 0 <= detection.box.top < detection.box.bottom <= 1500
