"""A face's look as a small grey patch, to tell whether two frames show the same face in one place.

Cheap (well under a millisecond) and crude: it compares pictures, not identities. The trackers
use it only to decide when to look again (identify afresh), never to identify anybody.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from agent.faces.engine import FaceBox
from agent.faces.imaging import RGBImage

APPEARANCE_SIZE = 24
UPPER_FACE = 0.55
"""Only the upper face is compared (brows, eyes, nose bridge): hands and a microphone in front
of the mouth change the lower half from frame to frame without the face changing."""


def appearance(frame: RGBImage, box: FaceBox) -> np.ndarray:
    """The face box as a small grey patch, zero mean and unit norm (for :func:`similarity`)."""
    crop = frame[box.top : box.top + max(1, round(box.height * UPPER_FACE)), box.left : box.right]
    if crop.size == 0:
        return np.zeros((APPEARANCE_SIZE, APPEARANCE_SIZE))
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    patch = cv2.resize(grey, (APPEARANCE_SIZE, APPEARANCE_SIZE), interpolation=cv2.INTER_AREA)
    values = patch.astype(np.float64) - float(patch.mean())
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 else values


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two :func:`appearance` patches (1: the same picture, about 0: unrelated)."""
    return float((a * b).sum())


LOOK_WIDTH = 24
"""Width in pixels that a face's upper part is reduced to for :func:`resemblance`."""
LOOK_MARGIN = 0.3
"""How far around the box (fraction of its size) :func:`resemblance` searches for the look."""


@dataclass(frozen=True)
class Look:
    """The upper face of one frame at a fixed small width, for :func:`resemblance`."""

    patch: np.ndarray
    scale: float
    """Frame pixels to patch pixels."""


def look_of(frame: RGBImage, box: FaceBox) -> Look:
    """The upper face in ``box`` as a grey patch :data:`LOOK_WIDTH` pixels wide."""
    scale = LOOK_WIDTH / max(1, box.width)
    crop = frame[box.top : box.top + max(1, round(box.height * UPPER_FACE)), box.left : box.right]
    if crop.size == 0:
        return Look(np.zeros((2, LOOK_WIDTH), dtype=np.uint8), scale)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    size = (LOOK_WIDTH, max(2, round(crop.shape[0] * scale)))
    return Look(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), scale)


def resemblance(look: Look, frame: RGBImage, box: FaceBox) -> float:
    """How well ``look`` is found in ``frame`` around ``box``: the best normalised correlation (-1..1).

    The look is searched over shifts of up to :data:`LOOK_MARGIN` of the box, at the look's own
    scale, so the few pixels by which a detector's box moves from frame to frame do not count:
    the stand-in clip's face scores 0.92-1.00 against its first frame whatever its box, while
    the same comparison of the box contents alone (:func:`similarity`) scored 0.35-0.84.
    """
    height, width = frame.shape[:2]
    margin_x, margin_y = round(box.width * LOOK_MARGIN), round(box.height * LOOK_MARGIN)
    top, left = max(0, box.top - margin_y), max(0, box.left - margin_x)
    bottom = min(height, box.top + round(box.height * UPPER_FACE) + margin_y)
    right = min(width, box.right + margin_x)
    crop = frame[top:bottom, left:right]
    patch = look.patch
    if float(patch.std()) < 1.0:  # a flat patch (nothing to recognise) resembles nothing
        return -1.0
    size = (round(crop.shape[1] * look.scale), round(crop.shape[0] * look.scale))
    if size[0] < patch.shape[1] or size[1] < patch.shape[0]:
        return -1.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    region = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return float(cv2.matchTemplate(region, patch, cv2.TM_CCOEFF_NORMED).max())
