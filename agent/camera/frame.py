"""What a camera delivers: :class:`Frame`, and the :class:`FrameSource` interface.

Colour order is settled here once for the whole program: every image a
:class:`FrameSource` returns and every :class:`Frame` carries is **RGB**
(uint8, height x width x 3), the order face_recognition/dlib and Qt expect.
OpenCV decodes to BGR; the OpenCV-backed sources in :mod:`agent.camera.sources`
convert exactly once, right after decoding. Code that hands a frame back to
OpenCV (``cv2.imwrite``, drawing) must convert it to BGR itself.

This module imports numpy only (not OpenCV), so consumers and fake sources
can use it without loading cv2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

RgbImage = npt.NDArray[np.uint8]
"""An RGB image: uint8 array of shape (height, width, 3)."""


@dataclass(frozen=True)
class Frame:
    """One image from the camera, as handed to consumers by :class:`~agent.camera.worker.CameraWorker`.

    Attributes:
        image: RGB uint8 array (height x width x 3). It is shared by every consumer
            (recognition, preview) and therefore **read-only**; copy it before drawing on it.
        sequence: 1, 2, 3, ... per worker, increasing across reconnects. A gap means
            frames were dropped because no consumer took them in time.
        captured_at: ``time.monotonic()`` when the source returned the image.
        source_label: human-readable name of the source, e.g. ``camera 0 (v4l2)``.
    """

    image: RgbImage
    sequence: int
    captured_at: float
    source_label: str

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])


@runtime_checkable
class FrameSource(Protocol):
    """A camera-like source of RGB images, read from one thread at a time.

    The contract every implementation keeps:

    * :meth:`open` acquires the device/file; it raises
      :class:`~agent.errors.CameraError` (what, where, hint) when that is impossible.
    * :meth:`read` returns the next RGB image (uint8, HxWx3), blocking until it is
      due (file sources are paced to play in real time). It returns ``None`` only
      at the end of a non-looping file or after :meth:`close`. A source that
      cannot deliver (device unplugged, file gone) raises ``CameraError``.
    * :meth:`close` releases everything. It is idempotent, never raises, and may be
      called from another thread while :meth:`read` is waiting: it then makes the
      pending read return ``None`` promptly and must not block on it.
    """

    @property
    def label(self) -> str:
        """Human-readable name of the source for status lines and logs."""
        ...

    @property
    def frame_interval_s(self) -> float | None:
        """Seconds between frames the source paces itself to (None: not paced, e.g. a live device).

        The worker adds this to its frame timeout, so a slow slide show is not
        mistaken for a stalled camera.
        """
        ...

    def open(self) -> None:
        """Acquire the device or file; raise ``CameraError`` when that is impossible."""
        ...

    def read(self) -> RgbImage | None:
        """The next RGB image, or None at the end of a non-looping file or after close."""
        ...

    def close(self) -> None:
        """Release the device or file (idempotent, thread-safe, never raises)."""
        ...
