"""Built-in still capture: the agent itself writes rig camera frames into the session folder.

The peer here is the agent's own file writer, so "locked at the peer" means
"this gate will not write": every write re-checks the gate under the I/O lock,
which ``lock()`` also takes, so no file is started after a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from agent.durable import replace_file_atomically
from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureRefusedError, GateFaultError
from agent.gate.models import CaptureEvent
from agent.gate.token import CaptureToken
from agent.private_files import private_dir

FrameProvider = Callable[[], NDArray[np.uint8] | None]
"""Returns the latest RGB frame (H×W×3 uint8), or None when the camera has none."""


class BuiltinStillGate(CaptureGate):
    """Writes the latest camera frame as PNG/JPEG into ``<capture_root>/<session_id>/`` while unlocked."""

    backend_name: ClassVar[str] = "builtin"

    def __init__(
        self,
        frame_provider: FrameProvider,
        *,
        image_format: str = "png",
        jpeg_quality: int = 95,
        **kwargs: Any,
    ) -> None:
        """Args: ``frame_provider`` (from the camera worker), image format, and :class:`CaptureGate` options."""
        super().__init__(**kwargs)
        if image_format not in ("png", "jpeg"):
            raise ValueError(f"unsupported image format {image_format!r}")
        self._frame_provider = frame_provider
        self._format = image_format
        self._jpeg_quality = jpeg_quality
        self._sequence = 0
        self._session_dir: Path | None = None

    def _peer_open(self) -> None:
        private_dir(self._capture_root)

    def _peer_lock(self, reason: str) -> None:
        self._session_dir = None

    def _peer_unlock(self, token: CaptureToken) -> None:
        folder = self.session_dir(token.session_id)
        private_dir(folder)
        self._session_dir = folder

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        frame = self._frame_provider()
        if frame is None:
            raise CaptureRefusedError(
                "capture refused: the camera has no frame right now", hint="check the rig camera"
            )
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise GateFaultError(f"frame has unexpected shape/type {frame.shape} {frame.dtype}")
        extension = ".png" if self._format == "png" else ".jpg"
        params = [] if self._format == "png" else [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality]
        ok, encoded = cv2.imencode(extension, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise GateFaultError("OpenCV could not encode the frame")
        with self._io_lock:
            grant = self._authorise_capture(capture_type)  # re-check: a lock may have come meanwhile
            started = self._clock.monotonic()
            folder = self._session_dir
            if folder is None:
                raise GateFaultError("no session folder although unlocked")
            self._sequence += 1
            name = f"{grant.token.session_id}_{capture_type}_{self._sequence:05d}{extension}"
            path = folder / name
            replace_file_atomically(path, encoded.tobytes())
            seen = self._clock.monotonic()
        return [
            self._reconcile(
                kind="file",
                path=path,
                started_at=started,
                seen_at=seen,
                capture_type=capture_type,
                camera_id="builtin",
            )
        ]
