"""Helpers for camera tests: real video files and image folders written with OpenCV."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.camera.frame import RgbImage
from agent.camera.settings import CameraSettings, CameraSourceSettings
from agent.camera.status import CameraState, CameraStatus

# Frames are told apart by a grey level; MJPEG keeps each within a few units.
LEVEL_STEP = 20
WAIT_S = 15.0  # generous upper bound for anything a test waits for (the machine is shared)


def grey_level(index: int) -> int:
    """The grey level of test frame ``index`` (0..11)."""
    return 10 + LEVEL_STEP * index


def frame_index(image: RgbImage) -> int:
    """Which test frame ``image`` is, from its mean grey level."""
    return round((float(image.mean()) - 10) / LEVEL_STEP)


def grey_frames(count: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """``count`` BGR frames of width x height, frame i uniformly grey at :func:`grey_level`."""
    width, height = size
    return [np.full((height, width, 3), grey_level(i), np.uint8) for i in range(count)]


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = 20.0, fourcc: str = "MJPG") -> Path:
    """Write BGR ``frames`` as a real video file with OpenCV."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_images(folder: Path, frames: Sequence[np.ndarray], pattern: str = "frame{:d}.png") -> list[Path]:
    """Write BGR ``frames`` as image files named by ``pattern`` (index from 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / pattern.format(index)
        assert cv2.imwrite(str(path), frame)
        paths.append(path)
    return paths


def fast_settings(source: CameraSourceSettings, **overrides: float) -> CameraSettings:
    """Camera settings with tiny reconnect delays, so recovery tests run quickly."""
    values: dict[str, float] = {
        "reconnect_initial_delay_s": 0.01,
        "reconnect_max_delay_s": 0.08,
        "frame_timeout_s": 2.0,
    }
    values.update(overrides)
    return CameraSettings.model_validate({"source": source, **values})


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class StatusLog:
    """Collects every CameraStatus the worker publishes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[CameraStatus] = []
        self.threads: set[str] = set()

    def __call__(self, status: CameraStatus) -> None:
        with self._lock:
            self._items.append(status)
            self.threads.add(threading.current_thread().name)

    @property
    def items(self) -> list[CameraStatus]:
        with self._lock:
            return list(self._items)

    def states(self) -> list[CameraState]:
        return [s.state for s in self.items]

    def wait_for(self, predicate: Callable[[CameraStatus], bool], what: str) -> CameraStatus:
        """The first published status matching ``predicate`` (waits for it)."""
        found: list[CameraStatus] = []

        def matched() -> bool:
            found[:] = [s for s in self.items if predicate(s)]
            return bool(found)

        wait_until(matched, what=what)
        return found[0]
