"""Frame sources on real files: order, RGB colour order, looping, pacing and clear errors."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.camera.frame import FrameSource
from agent.camera.settings import (
    DeviceSourceSettings,
    ImageFolderSourceSettings,
    VideoFileSourceSettings,
)
from agent.camera.sources import (
    DeviceSource,
    ImageFolderSource,
    VideoFileSource,
    make_source,
    open_source,
    to_rgb,
)
from agent.errors import CameraError
from tests.camera.conftest import frame_index, grey_frames, write_images, write_video

BGR_BLUE = (255, 0, 0)  # OpenCV order: pure blue
BGR_ORANGE = (0, 128, 255)  # OpenCV order: R=255, G=128, B=0


def _solid(bgr: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> np.ndarray:
    width, height = size
    return np.full((height, width, 3), bgr, np.uint8)


def _video(path: Path, *, loop: bool = True, fps: float | None = None) -> VideoFileSourceSettings:
    return VideoFileSourceSettings(kind="video", path=path, loop=loop, fps=fps)


def _images(path: Path, *, loop: bool = True, fps: float = 500.0) -> ImageFolderSourceSettings:
    return ImageFolderSourceSettings(kind="images", path=path, loop=loop, fps=fps)


def _read_indices(source: FrameSource, count: int) -> list[int | None]:
    indices: list[int | None] = []
    for _ in range(count):
        image = source.read()
        indices.append(None if image is None else frame_index(image))
    return indices


# -- video files -------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video_frames_come_in_order_as_rgb(tmp_path: Path, suffix: str, fourcc: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", [_solid(BGR_ORANGE), *grey_frames(4)], fourcc=fourcc)
    source = open_source(_video(path, loop=False, fps=500))
    try:
        first = source.read()
        assert first is not None
        assert first.dtype == np.uint8
        assert first.shape == (48, 64, 3)
        red, green, blue = (int(c) for c in first[24, 32])
        assert red > 230 and 100 < green < 160 and blue < 30, "expected RGB order (255, 128, 0)"
        assert _read_indices(source, 5) == [0, 1, 2, 3, None]
    finally:
        source.close()


def test_video_loops_from_the_start(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(3))
    source = open_source(_video(path, loop=True, fps=500))
    try:
        assert _read_indices(source, 8) == [0, 1, 2, 0, 1, 2, 0, 1]
    finally:
        source.close()


def test_non_looping_video_keeps_returning_none_at_the_end(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(2))
    source = open_source(_video(path, loop=False, fps=500))
    try:
        assert _read_indices(source, 4) == [0, 1, None, None]
    finally:
        source.close()


def test_video_plays_at_the_file_rate_not_as_fast_as_possible(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(10), fps=20)
    source = open_source(_video(path, loop=True))
    try:
        assert source.frame_interval_s == pytest.approx(1 / 20)
        delivered = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert source.read() is not None
            delivered += 1
    finally:
        source.close()
    # 20 fps for 0.5 s is about 11 frames; unpaced decoding of 64x48 MJPEG gives thousands.
    assert 1 <= delivered <= 40


def test_configured_fps_overrides_the_file_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(2), fps=20)
    source = open_source(_video(path, fps=5))
    try:
        assert source.frame_interval_s == pytest.approx(0.2)
    finally:
        source.close()


def test_looping_video_deleted_while_playing_is_a_camera_error(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(2))
    source = open_source(_video(path, loop=True, fps=500))
    try:
        assert _read_indices(source, 2) == [0, 1]
        path.unlink()
        with pytest.raises(CameraError, match="video file not found"):
            source.read()
    finally:
        source.close()


def test_read_after_close_returns_none(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(2))
    source = open_source(_video(path))
    assert source.read() is not None
    source.close()
    source.close()  # idempotent
    assert source.read() is None


# -- image folders -----------------------------------------------------------------


def test_image_folder_plays_in_natural_name_order_as_rgb(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_images(folder, grey_frames(12), pattern="img{:d}.png")  # img0 .. img11: img2 before img10
    (folder / "notes.txt").write_text("not an image")
    (folder / "subdir.png").mkdir()
    source = open_source(_images(folder, loop=False))
    assert isinstance(source, ImageFolderSource)
    assert [p.name for p in source.files][:3] == ["img0.png", "img1.png", "img2.png"]
    try:
        assert _read_indices(source, 13) == [*range(12), None]
    finally:
        source.close()


def test_image_folder_rgb_order_and_loop(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_images(folder, [_solid(BGR_BLUE), _solid((0, 0, 255))], pattern="{:d}.png")
    source = open_source(_images(folder, loop=True))
    try:
        colours = [
            tuple(int(c) for c in image[0, 0])
            for image in (source.read() for _ in range(3))
            if image is not None
        ]
    finally:
        source.close()
    assert colours == [(0, 0, 255), (255, 0, 0), (0, 0, 255)]


def test_unreadable_images_are_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "frames"
    write_images(folder, grey_frames(3), pattern="f{:d}.png")
    (folder / "f1.png").write_bytes(b"this is not a PNG")
    (folder / "f0b.jpg").write_bytes(b"")
    caplog.set_level(logging.WARNING, logger="agent.camera.sources")
    source = open_source(_images(folder, loop=True))
    try:
        assert _read_indices(source, 4) == [0, 2, 0, 2]
    finally:
        source.close()
    assert isinstance(source, ImageFolderSource)
    assert set(source.unreadable) == {folder / "f1.png", folder / "f0b.jpg"}
    assert source.unreadable[folder / "f0b.jpg"] == "empty file"
    skipped = [r.getMessage() for r in caplog.records if "skipping unreadable image" in r.getMessage()]
    assert len(skipped) == 2, "each unreadable image is reported once, not on every loop"


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    landscape = np.zeros((40, 80, 3), np.uint8)
    image = Image.fromarray(landscape)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(folder / "portrait.jpg", exif=exif.tobytes())
    source = open_source(_images(folder))
    try:
        frame = source.read()
    finally:
        source.close()
    assert frame is not None
    assert frame.shape == (80, 40, 3)


def test_folder_whose_files_disappear_is_a_camera_error(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    paths = write_images(folder, grey_frames(2))
    source = open_source(_images(folder, loop=True))
    try:
        assert source.read() is not None
        for path in paths:
            path.unlink()
        with pytest.raises(CameraError, match="none of the images in the folder can be read any more"):
            source.read()
    finally:
        source.close()


def test_image_folder_pacing_follows_fps(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_images(folder, grey_frames(2))
    source = open_source(_images(folder, fps=20))
    delivered = 0
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert source.read() is not None
            delivered += 1
    finally:
        source.close()
    assert 1 <= delivered <= 40


# -- conversion --------------------------------------------------------------------


def test_to_rgb_handles_grey_bgra_and_rejects_other_images() -> None:
    grey = np.full((4, 5), 7, np.uint8)
    assert to_rgb(grey).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    assert tuple(to_rgb(bgra)[0, 0]) == (0, 0, 200)
    with pytest.raises(CameraError, match="unusable image"):
        to_rgb(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(CameraError, match="unusable image"):
        to_rgb(None)


# -- clear errors --------------------------------------------------------------------


def _open_error(
    settings: VideoFileSourceSettings | ImageFolderSourceSettings | DeviceSourceSettings,
) -> CameraError:
    with pytest.raises(CameraError) as caught:
        open_source(settings)
    error = caught.value
    assert error.where, "the error says where"
    assert error.hint, "the error says what to do"
    return error


def test_missing_video_file(tmp_path: Path) -> None:
    error = _open_error(_video(tmp_path / "nope.mp4"))
    assert error.what == "video file not found"
    assert error.where == str(tmp_path / "nope.mp4")


def test_text_file_named_mp4_cannot_be_decoded(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    error = _open_error(_video(fake))
    assert "cannot decode" in error.what or "no readable frame" in error.what
    assert error.where == str(fake)
    assert "ffmpeg" in (error.hint or "")


def test_folder_given_as_video(tmp_path: Path) -> None:
    assert "folder" in _open_error(_video(tmp_path)).what


def test_missing_image_folder(tmp_path: Path) -> None:
    assert _open_error(_images(tmp_path / "nope")).what == "image folder not found"


def test_file_given_as_image_folder(tmp_path: Path) -> None:
    file = tmp_path / "a.png"
    file.write_bytes(b"x")
    assert _open_error(_images(file)).what == "not a folder"


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    assert _open_error(_images(tmp_path)).what == "no images in the folder"
    (tmp_path / "readme.txt").write_text("no images here")
    assert _open_error(_images(tmp_path)).what == "no images in the folder"


def test_folder_of_only_unreadable_images(tmp_path: Path) -> None:
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_text("not an image")
    error = _open_error(_images(tmp_path))
    assert error.what == "none of the 2 images in the folder can be read"


def test_device_that_does_not_exist_cannot_be_opened() -> None:
    # There is no camera on this machine (and never one at index 57).
    error = _open_error(DeviceSourceSettings(index=57))
    assert error.what.startswith("cannot open camera device 57")
    assert "camera.source.index" in (error.where or "")


def test_sources_are_made_from_settings_without_opening(tmp_path: Path) -> None:
    assert isinstance(make_source(DeviceSourceSettings(index=3, api="v4l2")), DeviceSource)
    assert make_source(DeviceSourceSettings(index=3, api="v4l2")).label == "camera 3 (v4l2)"
    assert isinstance(make_source(_video(tmp_path / "missing.mp4")), VideoFileSource)
    assert make_source(_images(tmp_path / "shots")).label == "images shots/"
    assert isinstance(make_source(_images(tmp_path)), FrameSource)
