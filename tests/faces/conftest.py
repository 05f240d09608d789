"""Fixtures of the face identification tests.

Face-needing tests that must run without ../shared/faces use the astronaut from
scikit-image (``skimage.data.astronaut()``, a public-domain NASA portrait shipped
inside the installed package); coffee and chelsea (a cat) are the no-face images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from agent.faces.analysis import FaceAnalyser
from agent.faces.engine import FaceEngine
from agent.faces.imaging import RGBImage
from agent.faces.settings import IdentificationSettings


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """One face engine for the whole session (loading the models takes a moment)."""
    return FaceEngine()


@pytest.fixture(scope="session")
def settings() -> IdentificationSettings:
    """The default identification settings (the ones under test)."""
    return IdentificationSettings()


@pytest.fixture(scope="session")
def analyser(settings: IdentificationSettings, engine: FaceEngine) -> FaceAnalyser:
    """A face analyser with the default settings."""
    return FaceAnalyser(settings, engine=engine)


@pytest.fixture(scope="session")
def astronaut() -> RGBImage:
    """The astronaut portrait (512x512 RGB, one face about 90 px high)."""
    return sample_image("astronaut")


def sample_image(name: str) -> RGBImage:
    """An RGB image shipped with scikit-image (``astronaut``, ``coffee``, ``chelsea``)."""
    loader: Callable[[], Any] = getattr(skimage.data, name)
    return np.ascontiguousarray(loader(), dtype=np.uint8)


def warp(image: RGBImage, *, dx: float, dy: float, scale: float) -> RGBImage:
    """A shifted and rescaled copy of ``image`` (same size, reflected borders)."""
    height, width = image.shape[:2]
    matrix = np.array([[scale, 0, dx], [0, scale, dy]], dtype=np.float32)
    warped = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(warped, dtype=np.uint8)


@pytest.fixture
def write_image(tmp_path: Path) -> Callable[[str, RGBImage], Path]:
    """Write an RGB array to ``tmp_path/name`` (format from the suffix) and return the path."""

    def _write(name: str, image: RGBImage) -> Path:
        path = tmp_path / name
        Image.fromarray(image).save(path)
        return path

    return _write


@pytest.fixture
def astronaut_files(astronaut: RGBImage, write_image: Callable[[str, RGBImage], Path]) -> dict[str, Path]:
    """Astronaut enrolment photo, a shifted/rescaled probe, and two no-face images."""
    return {
        "enrol": write_image("astronaut.png", astronaut),
        "probe": write_image("astronaut_moved.jpg", warp(astronaut, dx=-30, dy=15, scale=1.2)),
        "coffee": write_image("coffee.png", sample_image("coffee")),
        "chelsea": write_image("chelsea.png", sample_image("chelsea")),
    }


def write_video(path: Path, frames: list[RGBImage], fps: float = 10.0) -> Path:
    """Write RGB frames to a video file with OpenCV (MJPG in .avi: always available)."""
    height, width = frames[0].shape[:2]
    assert all(f.shape == frames[0].shape for f in frames), "video frames must all have one size"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
