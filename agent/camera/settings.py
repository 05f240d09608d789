"""Settings of the rig camera (the ``[camera]`` table)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from agent.settings_base import ConfigPath, StrictModel


class DeviceSourceSettings(StrictModel):
    """A live camera opened through OpenCV (V4L2 on Linux, DirectShow/MSMF on Windows)."""

    kind: Literal["device"] = Field("device", description="Source kind: a live camera device.")
    index: int = Field(0, ge=0, description="OpenCV device index (0 is the first camera).")
    api: Literal["auto", "v4l2", "dshow", "msmf", "avfoundation"] = Field(
        "auto", description="OpenCV capture backend; 'auto' lets OpenCV choose."
    )
    width: int | None = Field(
        1280, ge=160, description="Requested frame width in pixels (None: camera default)."
    )
    height: int | None = Field(
        720, ge=120, description="Requested frame height in pixels (None: camera default)."
    )
    fps: float | None = Field(None, gt=0, description="Requested frame rate (None: camera default).")


class VideoFileSourceSettings(StrictModel):
    """A recorded video file standing in for the camera (rehearsal, demo, tests)."""

    kind: Literal["video"] = Field(description="Source kind: a video file.")
    path: ConfigPath = Field(description="Video file to play (relative paths: relative to the config file).")
    loop: bool = Field(True, description="Start again from the first frame at the end of the file.")
    fps: float | None = Field(
        None, gt=0, le=1000, description="Playback rate in frames per second (None: the file's own rate)."
    )


class ImageFolderSourceSettings(StrictModel):
    """A folder of still images played as frames, in natural file-name order (img2 before img10)."""

    kind: Literal["images"] = Field(description="Source kind: a folder of images.")
    path: ConfigPath = Field(
        description="Folder of .jpg/.jpeg/.png/.bmp/.webp images (other files are ignored)."
    )
    loop: bool = Field(True, description="Start again from the first image after the last.")
    fps: float = Field(10.0, gt=0, le=1000, description="How many images per second are delivered.")


CameraSourceSettings = Annotated[
    DeviceSourceSettings | VideoFileSourceSettings | ImageFolderSourceSettings,
    Field(discriminator="kind"),
]


class CameraSettings(StrictModel):
    """Which camera ScanGate watches and how it reacts when the camera goes away."""

    source: CameraSourceSettings = Field(
        default_factory=DeviceSourceSettings,
        description="Where frames come from: kind = 'device', 'video' or 'images'.",
    )
    reconnect_initial_delay_s: float = Field(
        0.5, gt=0, description="First wait before re-opening a camera that stopped delivering frames."
    )
    reconnect_max_delay_s: float = Field(
        10.0, gt=0, description="Longest wait between re-open attempts (the wait doubles up to this)."
    )
    frame_timeout_s: float = Field(
        2.0,
        gt=0,
        description="A source that delivers no frame for this long is reported as lost and re-opened.",
    )

    @model_validator(mode="after")
    def _max_delay_not_below_initial(self) -> CameraSettings:
        if self.reconnect_max_delay_s < self.reconnect_initial_delay_s:
            raise ValueError(
                f"reconnect_max_delay_s ({self.reconnect_max_delay_s}) must not be smaller than"
                f" reconnect_initial_delay_s ({self.reconnect_initial_delay_s})"
            )
        return self
