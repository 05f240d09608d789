"""OpenCV-backed frame sources: a camera device, a video file, a folder of images.

All three implement :class:`~agent.camera.frame.FrameSource` and return **RGB**
images: OpenCV decodes to BGR, and :func:`to_rgb` converts once, here.
:func:`open_source` builds and opens the source a config describes; every
failure to open (missing path, empty folder, undecodable file, no such camera)
is a :class:`~agent.errors.CameraError` naming what, where and what to do.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.camera.frame import FrameSource, RgbImage
from agent.camera.pacing import Pacer
from agent.camera.settings import (
    CameraSourceSettings,
    DeviceSourceSettings,
    ImageFolderSourceSettings,
    VideoFileSourceSettings,
)
from agent.errors import CameraError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
"""File suffixes (case-insensitive) an image folder source plays; other files are ignored."""

FALLBACK_VIDEO_FPS = 25.0
"""Playback rate for a video file that does not state a usable frame rate of its own."""

_CAPTURE_APIS = {
    "auto": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "dshow": cv2.CAP_DSHOW,
    "msmf": cv2.CAP_MSMF,
    "avfoundation": cv2.CAP_AVFOUNDATION,
}

_PATH_HINT = "check camera.source.path in the config (relative paths are relative to the config file)"


def to_rgb(image: Any) -> RgbImage:
    """Convert an image as OpenCV decodes it (BGR, BGRA or grey) to contiguous RGB uint8.

    Raises:
        CameraError: for an image that is not 8-bit or has an unexpected shape.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        raise CameraError(f"the source returned an unusable image ({_describe_array(image)})")
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    conversion = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}.get(channels)
    if conversion is None:
        raise CameraError(f"the source returned an unusable image ({_describe_array(image)})")
    return np.asarray(cv2.cvtColor(image, conversion), dtype=np.uint8)


def _describe_array(image: Any) -> str:
    if isinstance(image, np.ndarray):
        return f"shape {image.shape}, dtype {image.dtype}"
    return type(image).__name__


class _ClosableSource:
    """Shared close/read locking of the sources.

    ``_lock`` is held while OpenCV touches the capture. :meth:`close` sets
    ``_closed`` (which also interrupts a pacing wait) and releases the capture at
    once if no read is in progress; otherwise the reading thread releases it on
    its next ``read()`` or ``close()``. So ``close()`` never blocks on a read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._capture: Any = None

    def close(self) -> None:
        """Release the device or file (idempotent, thread-safe, never raises)."""
        self._closed.set()
        if self._lock.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._lock.release()

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            try:
                capture.release()
            except cv2.error:
                logger.exception("releasing %s failed", self)


class DeviceSource(_ClosableSource):
    """A live camera opened with ``cv2.VideoCapture(index, api)``.

    The requested width, height and frame rate are hints; the driver picks the
    nearest mode it supports (logged at open). A failed read means the device
    is gone and raises :class:`CameraError`. Reads are paced by the camera itself.
    """

    def __init__(self, settings: DeviceSourceSettings) -> None:
        super().__init__()
        self.settings = settings

    @property
    def label(self) -> str:
        """E.g. ``camera 0`` or ``camera 1 (v4l2)``."""
        api = self.settings.api
        return f"camera {self.settings.index}" + ("" if api == "auto" else f" ({api})")

    @property
    def frame_interval_s(self) -> float | None:
        """None: a live camera delivers at its own rate."""
        return None

    def open(self) -> None:
        """Open the device and request the configured mode; CameraError if it cannot be opened."""
        s = self.settings
        self._closed.clear()
        capture = cv2.VideoCapture(s.index, _CAPTURE_APIS[s.api])
        if not capture.isOpened():
            capture.release()
            raise CameraError(
                f"cannot open camera device {s.index} (backend {s.api})",
                where=f"camera.source.index = {s.index}",
                hint="check that the camera is connected and not in use by another program, and that the"
                " index is right (0 is the first camera; on Linux `v4l2-ctl --list-devices` lists them)",
            )
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, s.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, s.height),
            (cv2.CAP_PROP_FPS, s.fps),
        ):
            if value is not None:
                capture.set(prop, float(value))
        logger.info(
            "%s opened: %dx%d at %.1f fps (requested %sx%s at %s fps)",
            self.label,
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            capture.get(cv2.CAP_PROP_FPS),
            s.width,
            s.height,
            s.fps,
        )
        with self._lock:
            self._capture = capture

    def read(self) -> RgbImage | None:
        """The next camera image (RGB); CameraError when the device stops delivering."""
        with self._lock:
            if self._closed.is_set() or self._capture is None:
                self._release()
                return None
            ok, image = self._capture.read()
        if not ok or image is None:
            raise CameraError(
                "the camera stopped delivering frames",
                where=self.label,
                hint="check the camera's cable and power; ScanGate keeps trying to re-open it",
            )
        return to_rgb(image)


class VideoFileSource(_ClosableSource):
    """A video file played in real time (at its own or the configured rate), optionally looping.

    ``open`` decodes the first frame, so a file OpenCV cannot read fails right
    there. Looping re-opens the file (seeking is unreliable with some codecs),
    so a file removed while playing is noticed at the end of the clip.
    """

    def __init__(self, settings: VideoFileSourceSettings) -> None:
        super().__init__()
        self.settings = settings
        self._pacer: Pacer | None = None
        self._pending: Any = None
        self._ended = False

    @property
    def label(self) -> str:
        """E.g. ``video rehearsal.mp4``."""
        return f"video {self.settings.path.name}"

    @property
    def frame_interval_s(self) -> float | None:
        """1 / playback rate, known once the file is open."""
        return None if self._pacer is None else self._pacer.interval_s

    def open(self) -> None:
        """Open the file and decode its first frame; CameraError if missing or undecodable."""
        path = self.settings.path
        if not path.exists():
            raise CameraError("video file not found", where=str(path), hint=_PATH_HINT)
        if not path.is_file():
            raise CameraError(
                "not a video file (a folder?)",
                where=str(path),
                hint='for a folder of images set camera.source.kind = "images"',
            )
        self._closed.clear()
        capture = self._open_capture()
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise self._undecodable("the video file contains no readable frame")
        file_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        fps = self.settings.fps
        if fps is None:
            if 0 < file_fps <= 1000:
                fps = file_fps
            else:
                fps = FALLBACK_VIDEO_FPS
                logger.warning(
                    "%s states no usable frame rate (%s); playing at %.0f fps", path, file_fps, fps
                )
        with self._lock:
            self._capture = capture
            self._pending = first
            self._ended = False
            self._pacer = Pacer(1.0 / fps)

    def _open_capture(self) -> Any:
        capture = cv2.VideoCapture(str(self.settings.path))
        if not capture.isOpened():
            capture.release()
            if not self.settings.path.is_file():
                raise CameraError("video file not found", where=str(self.settings.path), hint=_PATH_HINT)
            raise self._undecodable("OpenCV cannot decode this file as a video")
        return capture

    def _undecodable(self, what: str) -> CameraError:
        return CameraError(
            what,
            where=str(self.settings.path),
            hint="is it a video? OpenCV reads common formats (mp4, avi, mkv, mov) through FFmpeg;"
            " re-encode it, e.g. `ffmpeg -i in.mov -c:v libx264 out.mp4`",
        )

    def read(self) -> RgbImage | None:
        """The next frame (RGB) when it is due; None at the end of a non-looping file."""
        with self._lock:
            if self._closed.is_set() or self._capture is None:
                self._release()
                return None
            if self._ended:
                return None
            if self._pending is not None:
                image, self._pending = self._pending, None
            else:
                ok, image = self._capture.read()
                if not ok or image is None:
                    if not self.settings.loop:
                        self._ended = True
                        return None
                    self._release()
                    self._capture = self._open_capture()
                    ok, image = self._capture.read()
                    if not ok or image is None:
                        raise self._undecodable("the video file cannot be read from its start any more")
            rgb = to_rgb(image)
        assert self._pacer is not None  # set by open() together with the capture
        return rgb if self._pacer.wait(self._closed) else None


def natural_key(path: Path) -> list[int | str]:
    """Sort key putting ``img2.png`` before ``img10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(_ClosableSource):
    """Still images of a folder played as frames in natural file-name order, at a fixed rate.

    Files with a suffix in :data:`IMAGE_SUFFIXES` are played (other files are
    ignored); the list is taken at ``open``. Images are decoded with OpenCV,
    which applies the EXIF orientation of JPEGs. An unreadable image is skipped
    and logged once (see :attr:`unreadable`); only when no image at all can be
    read is that an error.
    """

    def __init__(self, settings: ImageFolderSourceSettings) -> None:
        super().__init__()
        self.settings = settings
        self._pacer = Pacer(1.0 / settings.fps)
        self._files: list[Path] = []
        self._next_index = 0
        self._pending: RgbImage | None = None
        self.unreadable: dict[Path, str] = {}
        """Images skipped because they could not be read, with the reason."""

    @property
    def label(self) -> str:
        """E.g. ``images frames/``."""
        return f"images {self.settings.path.name}/"

    @property
    def frame_interval_s(self) -> float | None:
        """1 / the configured rate."""
        return self._pacer.interval_s

    @property
    def files(self) -> list[Path]:
        """The images played, in order."""
        return list(self._files)

    def open(self) -> None:
        """List the folder and decode its first readable image; CameraError if there is none."""
        folder = self.settings.path
        if not folder.exists():
            raise CameraError("image folder not found", where=str(folder), hint=_PATH_HINT)
        if not folder.is_dir():
            raise CameraError(
                "not a folder", where=str(folder), hint='for a video file set camera.source.kind = "video"'
            )
        try:
            entries = list(folder.iterdir())
        except OSError as exc:
            raise CameraError(
                f"cannot list the image folder: {exc.strerror or exc}", where=str(folder)
            ) from None
        files = sorted(
            (p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=natural_key
        )
        if not files:
            raise CameraError(
                "no images in the folder",
                where=str(folder),
                hint=f"put images ({', '.join(IMAGE_SUFFIXES)}) there, or point camera.source.path elsewhere",
            )
        self._closed.clear()
        self._pacer.reset()
        self.unreadable = {}
        self._files = files
        for index, path in enumerate(files):
            image = self._load(path)
            if image is not None:
                self._pending, self._next_index = image, index + 1
                return
        raise CameraError(
            f"none of the {len(files)} images in the folder can be read",
            where=str(folder),
            hint="are they valid images? The log names each unreadable file and why",
        )

    def _load(self, path: Path) -> RgbImage | None:
        """Decode one image to RGB, or None (reported once) when it cannot be read."""
        try:
            # np.fromfile + imdecode rather than imread: works with non-ASCII paths on Windows
            # and tells a missing file from an undecodable one.
            data = np.fromfile(path, dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except OSError as exc:
            self._report_unreadable(path, exc.strerror or str(exc))
            return None
        except cv2.error as exc:
            self._report_unreadable(path, f"OpenCV error: {exc}")
            return None
        if image is None:
            self._report_unreadable(path, "empty file" if not data.size else "not a decodable image")
            return None
        return to_rgb(image)

    def _report_unreadable(self, path: Path, reason: str) -> None:
        if path not in self.unreadable:
            self.unreadable[path] = reason
            logger.warning("skipping unreadable image %s: %s", path, reason)

    def read(self) -> RgbImage | None:
        """The next readable image (RGB) when it is due; None after the last one unless looping."""
        if self._closed.is_set():
            return None
        image, self._pending = self._pending, None
        attempts = 0
        while image is None:
            if attempts == len(self._files):
                raise CameraError(
                    "none of the images in the folder can be read any more",
                    where=str(self.settings.path),
                    hint="was the folder moved, or its files deleted? ScanGate keeps trying to re-open it",
                )
            if self._next_index >= len(self._files):
                if not self.settings.loop:
                    return None
                self._next_index = 0
            path = self._files[self._next_index]
            self._next_index += 1
            attempts += 1
            image = self._load(path)
        return image if self._pacer.wait(self._closed) else None


def make_source(settings: CameraSourceSettings) -> FrameSource:
    """The (not yet opened) source described by ``settings``."""
    if isinstance(settings, DeviceSourceSettings):
        return DeviceSource(settings)
    if isinstance(settings, VideoFileSourceSettings):
        return VideoFileSource(settings)
    return ImageFolderSource(settings)


def open_source(settings: CameraSourceSettings) -> FrameSource:
    """Build and open the source described by ``settings``.

    Raises:
        CameraError: missing file or folder, empty folder, file OpenCV cannot
            decode, or a camera device that cannot be opened.
    """
    source = make_source(settings)
    source.open()
    return source
