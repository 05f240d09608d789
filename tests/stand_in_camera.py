"""A 720p stand-in camera for rig tests and benchmarks: an empty set, the demo performer, or somebody else.

The performer is the demo's stand-in (the public-domain astronaut portrait), swaying as in
the demo clip. "Somebody else" is the same frame with another person's face pasted exactly
over the performer's (same place, same size): a swap that a tracker following the face box
would follow. That face comes from the shared face set, read at run time and never stored.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from agent.camera.pacing import Pacer
from agent.faces.analysis import FaceAnalyser
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings
from registry.demo.environment import STAND_IN_FPS
from registry.stand_in import FRAME_SIZE, stand_in_frame

BACKGROUND = (38, 42, 48)
"""The demo's empty set (RGB)."""
SWAY_FRAMES = 100
"""One sway of the stand-in takes this many frames, as in the demo clip."""


def sway(index: int) -> tuple[int, int]:
    """The stand-in's offset in frame ``index`` of the demo clip's sway."""
    phase = 2 * np.pi * index / SWAY_FRAMES
    return int(24 * np.sin(phase)), int(8 * np.sin(2 * phase))


MARGIN = 32
"""Pixels of background around each scene, so a swaying frame is a slice, not a warp."""


def padded(image: RGBImage, background: tuple[int, int, int]) -> RGBImage:
    """``image`` with :data:`MARGIN` pixels of ``background`` around it."""
    out = np.empty((image.shape[0] + 2 * MARGIN, image.shape[1] + 2 * MARGIN, 3), dtype=np.uint8)
    out[...] = background
    out[MARGIN:-MARGIN, MARGIN:-MARGIN] = image
    return out


def shifted(scene: RGBImage, offset: tuple[int, int]) -> RGBImage:
    """The frame-sized view of a :func:`padded` scene moved by ``offset`` pixels (a copy)."""
    dx, dy = offset
    height, width = scene.shape[0] - 2 * MARGIN, scene.shape[1] - 2 * MARGIN
    return np.ascontiguousarray(scene[MARGIN - dy : MARGIN - dy + height, MARGIN - dx : MARGIN - dx + width])


def face_swapped(frame: RGBImage, photo: RGBImage, analyser: FaceAnalyser) -> RGBImage:
    """``frame`` with the face of ``photo`` pasted over the subject face of ``frame`` (same box, a third of margin)."""
    target = analyser.observe(frame, encode=False).box
    source = analyser.observe(photo, encode=False).box
    if target is None or source is None:
        raise ValueError("no face to swap")
    pad_y, pad_x = source.height // 3, source.width // 3
    crop = photo[
        max(0, source.top - pad_y) : source.bottom + pad_y, max(0, source.left - pad_x) : source.right + pad_x
    ]
    scale = target.height / source.height
    patch = cv2.resize(
        crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    out = frame.copy()
    top, left = target.top - round(pad_y * scale), target.left - round(pad_x * scale)
    region = out[max(0, top) : top + patch.shape[0], max(0, left) : left + patch.shape[1]]
    region[...] = patch[: region.shape[0], : region.shape[1]]
    return np.ascontiguousarray(out)


class StandInSource:
    """A paced 25 fps camera source (:class:`agent.camera.frame.FrameSource`) whose scene can be switched.

    ``scene`` is "empty", "performer" or "other" (needs ``other_face``, a photo of somebody else).
    :attr:`switched_at` is the monotonic time just before the first frame of the current scene
    was returned: frames the camera worker stamps at or after it show that scene.
    """

    def __init__(self, scene: str = "performer", *, other_face: Path | None = None) -> None:
        performer = stand_in_frame()
        scenes = {"empty": np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), BACKGROUND, dtype=np.uint8)}
        scenes["performer"] = performer
        if other_face is not None:
            analyser = FaceAnalyser(IdentificationSettings())
            scenes["other"] = face_swapped(performer, load_image(other_face), analyser)
        self._scenes = {name: padded(image, BACKGROUND) for name, image in scenes.items()}
        self._scene = scene
        self._pending: str | None = None
        self.switched_at: float | None = None
        self._index = 0
        self._pacer = Pacer(1 / STAND_IN_FPS)
        self._closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """Name for status lines."""
        return "stand-in camera"

    @property
    def frame_interval_s(self) -> float | None:
        """The source paces itself to 25 fps."""
        return 1 / STAND_IN_FPS

    def switch(self, scene: str) -> None:
        """Show ``scene`` from the next frame on."""
        if scene not in self._scenes:
            raise ValueError(f"no such scene: {scene}")
        with self._lock:
            self._pending = scene

    def open(self) -> None:
        """Start (again) from a frame due now."""
        self._closed.clear()
        self._pacer.reset()

    def read(self) -> RGBImage | None:
        """The next frame, when it is due (None once closed)."""
        if not self._pacer.wait(self._closed):
            return None
        with self._lock:
            if self._pending is not None:
                self._scene, self._pending = self._pending, None
                self.switched_at = time.monotonic()
            scene = self._scene
        self._index += 1
        return shifted(self._scenes[scene], sway(self._index))

    def close(self) -> None:
        """Stop; a pending read returns None."""
        self._closed.set()
