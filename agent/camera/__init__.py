"""Camera sources: a device, a video file or a folder of images, behind one interface.

Public names (importable from here; OpenCV is loaded only when a name from
:mod:`agent.camera.sources` is first used, so importing the config stays fast):

* :class:`Frame`, :class:`FrameSource` — :mod:`agent.camera.frame`
* :class:`DeviceSource`, :class:`VideoFileSource`, :class:`ImageFolderSource`,
  :func:`open_source` — :mod:`agent.camera.sources`
* :class:`CameraWorker`, :class:`CameraStatus`, :class:`CameraState` — :mod:`agent.camera.worker`

Every image is RGB (see :mod:`agent.camera.frame`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.camera.frame import Frame, FrameSource
    from agent.camera.sources import DeviceSource, ImageFolderSource, VideoFileSource, open_source
    from agent.camera.status import CameraState, CameraStatus
    from agent.camera.worker import CameraWorker

_HOMES = {
    "Frame": "agent.camera.frame",
    "FrameSource": "agent.camera.frame",
    "DeviceSource": "agent.camera.sources",
    "ImageFolderSource": "agent.camera.sources",
    "VideoFileSource": "agent.camera.sources",
    "open_source": "agent.camera.sources",
    "CameraState": "agent.camera.worker",
    "CameraStatus": "agent.camera.worker",
    "CameraWorker": "agent.camera.worker",
}

__all__ = [
    "CameraState",
    "CameraStatus",
    "CameraWorker",
    "DeviceSource",
    "Frame",
    "FrameSource",
    "ImageFolderSource",
    "VideoFileSource",
    "open_source",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
