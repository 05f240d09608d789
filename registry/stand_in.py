"""The demo's stand-in performer: the public-domain NASA portrait that scikit-image ships.

Kept apart from the registry server (OpenCV, NumPy and the face analyser only). With
windows, ``scangate demo`` has the rig's identification process compute the stand-in's
template from :func:`stand_in_frame` (:mod:`registry.demo.launch`), so the face models load
once; the headless rehearsals use :func:`compute_stand_in_encoding` in their own process.
"""

from __future__ import annotations

import functools
from importlib import resources

import cv2
import numpy as np

from agent.errors import ScanGateError
from agent.faces.analysis import FaceAnalyser
from agent.faces.settings import IdentificationSettings

FRAME_SIZE = (1280, 720)
"""The stand-in camera's frame size (width, height)."""
BACKGROUND_RGB = (38, 42, 48)


@functools.cache
def stand_in_portrait() -> np.ndarray:
    """The portrait (512×512 RGB), pixel for pixel ``skimage.data.astronaut()``; read-only.

    Read with OpenCV from the package's data folder: ``skimage.data`` imports ``skimage.io``
    and SciPy for it, over a second of every demo's start-up.
    """
    path = resources.files("skimage") / "data" / "astronaut.png"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ScanGateError(
            "cannot read the stand-in portrait", where=str(path), hint="reinstall scikit-image"
        )
    portrait = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    portrait.setflags(write=False)
    return portrait


def stand_in_frame(offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A 1280×720 RGB camera frame with the portrait, moved by ``offset`` pixels from the centre."""
    portrait = stand_in_portrait()
    canvas = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), BACKGROUND_RGB, dtype=np.uint8)
    h, w = portrait.shape[:2]
    top = (FRAME_SIZE[1] - h) // 2 + offset[1]
    left = (FRAME_SIZE[0] - w) // 2 + offset[0]
    canvas[top : top + h, left : left + w] = portrait
    return canvas


def compute_stand_in_encoding() -> tuple[float, ...]:
    """The stand-in's 128-d face template from a centred frame (loads the face models: seconds).

    Raises:
        ScanGateError: the portrait gave no template (it always does, unless the models changed).
    """
    observation = FaceAnalyser(IdentificationSettings()).observe(stand_in_frame())
    if observation.encoding is None:
        raise ScanGateError(f"the stand-in portrait gave no face template: {observation.reason}")
    return tuple(float(v) for v in observation.encoding)
