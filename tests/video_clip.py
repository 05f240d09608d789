"""Reading a video file of the shared face set into RGB frames, for tests that replay footage."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.faces.imaging import RGBImage


def rgb_frames(path: Path) -> list[RGBImage]:
    """Every frame of the video at ``path``, RGB and contiguous, in order (none if unreadable)."""
    capture = cv2.VideoCapture(str(path))
    frames: list[RGBImage] = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    finally:
        capture.release()
    return frames
