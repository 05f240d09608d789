"""Measurements on facial landmarks that liveness decisions rest on.

All functions take landmark coordinates in image pixels (``(n, 2)`` float arrays) and
return dimensionless numbers, normalised by the distance between the eyes so that
they do not depend on how far the performer stands from the camera.

- :func:`planarity_residual`: how far the best homography between two landmark sets
  misses. A flat picture moved or tilted in front of the camera maps exactly by a
  homography (up to landmark jitter); a real head turning does not, because the nose
  and the cheeks lie at different depths.
- :func:`eye_aspect_ratio`: the usual eye opening measure (Soukupová & Čech, 2016) of
  six eye points; judged only relative to the session's own baseline (a broad smile
  narrows the eyes as much as closing them in some landmark models).
- :func:`turn_cue`: where the nose tip lies between the outer eye corners: 0 facing
  the camera, negative / positive turned towards image left / right.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

Points = NDArray[np.float64]
"""Landmark coordinates, shape ``(n, 2)``, in image pixels."""

MIN_POINTS_FOR_HOMOGRAPHY = 5
"""A homography has 8 degrees of freedom; with 4 points any set fits exactly."""


class GeometryError(ValueError):
    """Landmarks that cannot be measured (too few, degenerate, or not finite)."""


def _as_points(points: Points, name: str) -> Points:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
        raise GeometryError(f"{name} must be a finite (n, 2) array of pixel coordinates")
    return array


def inter_eye_distance(left_eye_corner: Points, right_eye_corner: Points) -> float:
    """Distance between two eye points (e.g. the outer corners), in pixels."""
    distance = float(np.linalg.norm(np.asarray(left_eye_corner) - np.asarray(right_eye_corner)))
    if not distance > 0:
        raise GeometryError("the eye points coincide: the face is too small or the landmarks failed")
    return distance


def planarity_residual(before: Points, after: Points, scale: float) -> float:
    """Root-mean-square miss of the best homography from ``before`` to ``after``, over ``scale``.

    ``scale`` is the inter-eye distance (pixels) of the face; the homography is fitted
    by least squares over all points (no outlier rejection: an outlier is exactly the
    depth the check looks for).
    """
    a = _as_points(before, "before")
    b = _as_points(after, "after")
    if a.shape != b.shape or a.shape[0] < MIN_POINTS_FOR_HOMOGRAPHY:
        raise GeometryError(
            f"need two matching sets of at least {MIN_POINTS_FOR_HOMOGRAPHY} landmarks, got {a.shape} and {b.shape}"
        )
    if not scale > 0:
        raise GeometryError("the scale (inter-eye distance) must be positive")
    homography, _ = cv2.findHomography(a, b, 0)
    if homography is None:
        raise GeometryError("no homography fits these landmarks (degenerate point set)")
    mapped = cv2.perspectiveTransform(a.reshape(-1, 1, 2), homography).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((mapped - b) ** 2, axis=1))))
    return rms / scale


def eye_aspect_ratio(eye: Points) -> float:
    """Eye opening of six points ``p1..p6`` (corner, two upper, corner, two lower).

    ``(|p2 − p6| + |p3 − p5|) / (2 |p1 − p4|)``: about 0.25–0.35 open, near 0 closed.
    """
    p = _as_points(eye, "eye")
    if p.shape[0] != 6:
        raise GeometryError(f"an eye needs 6 points, got {p.shape[0]}")
    width = float(np.linalg.norm(p[0] - p[3]))
    if not width > 0:
        raise GeometryError("the eye corners coincide")
    height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
    return height / (2.0 * width)


def turn_cue(nose_tip: Points, image_left_eye: Points, image_right_eye: Points) -> float:
    """The nose tip's place along the eye line, from its middle, in inter-eye distances.

    ``image_left_eye`` and ``image_right_eye`` are the outer corners of the eyes that
    appear on the image's left and right.

    0 when the face looks at the camera; grows in magnitude as the head turns, with the
    sign of the image direction the nose moved to (negative: towards image left). The
    image may be mirrored; the caller maps image direction to the performer's left/right.
    """
    nose = np.asarray(nose_tip, dtype=np.float64).reshape(2)
    left = np.asarray(image_left_eye, dtype=np.float64).reshape(2)
    right = np.asarray(image_right_eye, dtype=np.float64).reshape(2)
    scale = inter_eye_distance(left, right)
    middle = (left + right) / 2.0
    axis = (right - left) / scale  # along the eye line, so a tilted head still measures its turn
    return float(np.dot(nose - middle, axis)) / scale
