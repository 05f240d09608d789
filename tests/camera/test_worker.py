"""CameraWorker on real sources: newest frame wins, recovery with backoff, prompt stop."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from agent.camera.frame import Frame, FrameSource, RgbImage
from agent.camera.settings import (
    DeviceSourceSettings,
    ImageFolderSourceSettings,
    VideoFileSourceSettings,
)
from agent.camera.sources import ImageFolderSource, open_source
from agent.camera.status import CameraState, CameraStatus
from agent.camera.worker import CameraWorker
from agent.errors import CameraError
from tests.camera.conftest import (
    StatusLog,
    fast_settings,
    frame_index,
    grey_frames,
    wait_until,
    write_images,
    write_video,
)


def _images(folder: Path, *, fps: float = 200.0, loop: bool = True) -> ImageFolderSourceSettings:
    return ImageFolderSourceSettings(kind="images", path=folder, fps=fps, loop=loop)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of four small grey test images."""
    path = tmp_path / "frames"
    write_images(path, grey_frames(4))
    return path


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every test must leave no camera thread running."""
    before = threading.active_count()
    yield
    wait_until(lambda: threading.active_count() <= before, timeout=5, what="camera threads to end")
    assert not [t.name for t in threading.enumerate() if t.name.startswith("scangate-camera")]


class FlakySource:
    """Wraps a real source; raises CameraError on the read after ``fail_after`` frames."""

    def __init__(self, inner: FrameSource, fail_after: int) -> None:
        self.inner = inner
        self.fail_after = fail_after
        self.reads = 0
        self.closed = False

    @property
    def label(self) -> str:
        return "flaky " + self.inner.label

    @property
    def frame_interval_s(self) -> float | None:
        return self.inner.frame_interval_s

    def open(self) -> None:
        self.inner.open()

    def read(self) -> RgbImage | None:
        self.reads += 1
        if self.reads > self.fail_after:
            raise CameraError("simulated device loss", where=self.label, hint="plug it back in")
        return self.inner.read()

    def close(self) -> None:
        self.closed = True
        self.inner.close()


class HangingSource:
    """Wraps a real source; its second read hangs (like a stuck driver) until closed or released."""

    def __init__(self, inner: FrameSource, hang_s: float) -> None:
        self.inner = inner
        self.hang_s = hang_s
        self.reads = 0
        self._closed = threading.Event()

    @property
    def label(self) -> str:
        return "hanging " + self.inner.label

    @property
    def frame_interval_s(self) -> float | None:
        return None

    def open(self) -> None:
        self.inner.open()

    def read(self) -> RgbImage | None:
        self.reads += 1
        if self.reads == 2:
            self._closed.wait(self.hang_s)
        return self.inner.read()

    def close(self) -> None:
        self._closed.set()
        self.inner.close()


def _take(worker: CameraWorker, count: int, pause_s: float = 0.0) -> list[Frame]:
    frames: list[Frame] = []
    last: int | None = None
    while len(frames) < count:
        frame = worker.latest(after_sequence=last, timeout=10)
        assert frame is not None, f"no frame after {len(frames)} frames; status {worker.status()}"
        frames.append(frame)
        last = frame.sequence
        if pause_s:
            time.sleep(pause_s)
    return frames


# -- streaming -----------------------------------------------------------------------


def test_worker_streams_rgb_frames_and_reports_its_states(folder: Path) -> None:
    log = StatusLog()
    settings = fast_settings(_images(folder))
    with CameraWorker.from_settings(settings, on_status=log) as worker:
        frames = _take(worker, 6)
        assert worker.status().state is CameraState.STREAMING
        assert worker.status().healthy
    sequences = [f.sequence for f in frames]
    assert sequences == sorted(set(sequences))
    assert frames[0].source_label == "images frames/"
    for frame in frames:
        assert frame.image.dtype == np.uint8
        assert frame.image.shape == (48, 64, 3)
        assert not frame.image.flags.writeable, "frames are shared by consumers: read-only"
        assert 0 <= frame_index(frame.image) <= 3
    assert [f.captured_at for f in frames] == sorted(f.captured_at for f in frames)
    assert log.states()[:2] == [CameraState.STARTING, CameraState.STREAMING]
    assert log.states()[-1] is CameraState.STOPPED
    assert worker.status().state is CameraState.STOPPED
    assert log.threads <= {"scangate-camera", "scangate-camera-watchdog", threading.current_thread().name}


def test_newest_frame_wins_and_drops_are_counted(folder: Path) -> None:
    worker = CameraWorker.from_settings(fast_settings(_images(folder, fps=500)))
    with worker:
        frames = _take(worker, 8, pause_s=0.03)
    sequences = [f.sequence for f in frames]
    gaps = [b - a for a, b in pairwise(sequences)]
    assert all(gap >= 1 for gap in gaps)
    assert any(gap > 1 for gap in gaps), f"a slow consumer must skip frames: {sequences}"
    status = worker.status()
    assert status.frames_dropped > 0
    # Every delivered frame was either taken or dropped (the untaken one held at stop counts as dropped).
    assert status.frames_delivered - status.frames_dropped == len(frames)


def test_memory_stays_flat_with_a_slow_consumer(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    write_images(folder, grey_frames(2, size=(320, 240)))  # 230 kB per RGB frame
    tracemalloc.start()
    try:
        with CameraWorker.from_settings(fast_settings(_images(folder, fps=1000))) as worker:
            _take(worker, 3, pause_s=0.05)
            baseline = tracemalloc.get_traced_memory()[0]
            _take(worker, 10, pause_s=0.05)
            grown = tracemalloc.get_traced_memory()[0] - baseline
            produced = worker.status().frames_delivered
    finally:
        tracemalloc.stop()
    assert produced > 20, "the producer must outrun the consumer for this test to mean anything"
    assert grown < 8 * 230_400, f"memory grew by {grown} bytes over {produced} frames"


def test_latest_waits_only_for_newer_frames(folder: Path) -> None:
    worker = CameraWorker.from_settings(fast_settings(_images(folder, fps=5)))
    assert worker.latest(timeout=0.01) is None  # not started: nothing yet
    with worker:
        first = worker.latest(timeout=10)
        assert first is not None
        assert worker.latest(timeout=0) is first  # any frame: the one held
        assert worker.latest(after_sequence=first.sequence, timeout=0) is None
        newer = worker.latest(after_sequence=first.sequence, timeout=10)
        assert newer is not None and newer.sequence > first.sequence
    # Stopped: no frame will come, so even an unbounded wait returns at once.
    assert worker.latest(after_sequence=newer.sequence, timeout=None) is None
    assert worker.latest(timeout=None) is None


def test_non_looping_video_ends(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", grey_frames(3), fps=100)
    log = StatusLog()
    settings = fast_settings(VideoFileSourceSettings(kind="video", path=path, loop=False))
    worker = CameraWorker.from_settings(settings, on_status=log)
    with worker:
        log.wait_for(lambda s: s.state is CameraState.ENDED, "the video to end")
        assert worker.latest(after_sequence=3, timeout=None) is None  # ended: returns at once
        status = worker.status()
    assert status.state is CameraState.ENDED
    assert status.frames_delivered == 3
    assert status.reconnect_attempts == 0
    assert worker.status().state is CameraState.ENDED  # stop() after the end keeps the verdict


# -- failures and recovery -------------------------------------------------------------


def test_folder_moved_away_is_retried_with_backoff_and_recovers(folder: Path, tmp_path: Path) -> None:
    log = StatusLog()
    settings = fast_settings(
        _images(folder, fps=100), reconnect_initial_delay_s=0.01, reconnect_max_delay_s=0.04
    )
    with CameraWorker.from_settings(settings, on_status=log) as worker:
        before = _take(worker, 2)
        moved = tmp_path / "moved"
        folder.rename(moved)
        log.wait_for(lambda s: s.state is CameraState.RECONNECTING and s.reconnect_attempts >= 5, "5 retries")
        assert worker.latest(timeout=0) is None, "no stale frame from a lost source"
        moved.rename(folder)
        log.wait_for(
            lambda s: s.state is CameraState.STREAMING and s.reconnect_attempts >= 5, "streaming again"
        )
        after = _take(worker, 2)
    assert after[0].sequence > before[-1].sequence, "sequence keeps increasing across reconnects"

    statuses = log.items
    lost = next(s for s in statuses if s.state is CameraState.LOST)
    assert "none of the images in the folder can be read any more" in lost.detail
    assert lost.last_error and "hint:" in lost.last_error
    retries = [s for s in statuses if s.state is CameraState.RECONNECTING]
    assert [s.retry_delay_s for s in retries[:5]] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert [s.reconnect_attempts for s in retries[:5]] == [1, 2, 3, 4, 5]
    assert all("last error:" in s.detail for s in retries)
    assert any("image folder not found" in s.detail for s in retries), "each retry reports its reason"


def test_source_raising_after_n_frames_is_reopened(folder: Path) -> None:
    opened: list[FlakySource] = []

    def factory() -> FrameSource:
        source = FlakySource(open_source(_images(folder)), fail_after=3)
        opened.append(source)
        return source

    log = StatusLog()
    with CameraWorker(factory, fast_settings(_images(folder)), on_status=log) as worker:
        frames = _take(worker, 10)
        log.wait_for(lambda s: s.reconnect_attempts >= 3, "three reconnects")
    assert len(opened) >= 4
    assert [f.sequence for f in frames] == sorted({f.sequence for f in frames})
    lost = [s for s in log.items if s.state is CameraState.LOST]
    assert lost and all("simulated device loss" in s.detail for s in lost)
    # A source that delivered frames before failing is retried after the *initial* delay again.
    assert {s.retry_delay_s for s in log.items if s.state is CameraState.RECONNECTING} == {0.01}
    assert all(source.closed for source in opened), "every failed source was closed"


def test_hanging_read_is_reported_lost_and_reopened(folder: Path) -> None:
    def factory() -> FrameSource:
        return HangingSource(open_source(_images(folder, fps=100)), hang_s=1.5)

    log = StatusLog()
    settings = fast_settings(_images(folder), frame_timeout_s=0.2)
    with CameraWorker(factory, settings, on_status=log):
        hung = log.wait_for(lambda s: s.state is CameraState.LOST, "the watchdog to report the hang")
        assert "not responding" in hung.detail
        log.wait_for(lambda s: s.state is CameraState.RECONNECTING, "a re-open after the hang")
        log.wait_for(
            lambda s: s.state is CameraState.STREAMING and s.reconnect_attempts >= 1, "streaming again"
        )


def test_missing_video_at_start_is_reported_then_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "later.avi"
    log = StatusLog()
    settings = fast_settings(VideoFileSourceSettings(kind="video", path=path, fps=100))
    with CameraWorker.from_settings(settings, on_status=log) as worker:
        lost = log.wait_for(lambda s: s.state is CameraState.LOST, "the missing file to be reported")
        assert lost.detail == f"{path}: video file not found"
        assert lost.source_label == "video later.avi"
        log.wait_for(lambda s: s.reconnect_attempts >= 2, "two retries")
        staging = write_video(tmp_path / "staging.avi", grey_frames(2))
        staging.rename(path)
        assert worker.latest(timeout=10) is not None
        assert worker.status().state is CameraState.STREAMING


def test_missing_device_is_reported_and_retried_never_raised() -> None:
    log = StatusLog()
    settings = fast_settings(DeviceSourceSettings(index=57))
    with CameraWorker.from_settings(settings, on_status=log) as worker:
        log.wait_for(lambda s: s.reconnect_attempts >= 2, "two retries")
        assert worker.latest(timeout=0.05) is None
    lost = next(s for s in log.items if s.state is CameraState.LOST)
    assert "cannot open camera device 57" in lost.detail
    assert lost.source_label == "camera 57"


def test_invalid_image_from_a_source_is_a_failure(folder: Path) -> None:
    class GreySource(FlakySource):
        def read(self) -> RgbImage | None:
            image = self.inner.read()
            return None if image is None else image[..., 0]  # 2-D: not RGB

    log = StatusLog()
    factory = lambda: GreySource(open_source(_images(folder)), fail_after=99)  # noqa: E731
    with CameraWorker(factory, fast_settings(_images(folder)), on_status=log) as worker:
        lost = log.wait_for(lambda s: s.state is CameraState.LOST, "the bad image to be refused")
        assert worker.latest(timeout=0) is None
    assert "unusable image" in lost.detail


def test_a_failing_status_callback_does_not_stop_the_worker(folder: Path) -> None:
    calls: list[CameraStatus] = []

    def broken(status: CameraStatus) -> None:
        calls.append(status)
        raise RuntimeError("callback bug")

    with CameraWorker.from_settings(fast_settings(_images(folder)), on_status=broken) as worker:
        assert len(_take(worker, 3)) == 3
    assert calls[-1].state is CameraState.STOPPED


# -- lifecycle -----------------------------------------------------------------------


def test_stop_is_prompt_even_between_slow_frames_and_releases_the_source(folder: Path) -> None:
    sources: list[ImageFolderSource] = []

    def factory() -> FrameSource:
        source = open_source(_images(folder, fps=0.05))  # one image every 20 s
        assert isinstance(source, ImageFolderSource)
        sources.append(source)
        return source

    worker = CameraWorker(factory, fast_settings(_images(folder)))
    worker.start()
    assert worker.latest(timeout=10) is not None  # now the source is pacing towards frame 2
    started = time.monotonic()
    worker.stop()
    took = time.monotonic() - started
    assert took < 10, f"stop() waited {took:.1f} s for a paced read"
    assert sources[0]._closed.is_set()
    assert worker.status().state is CameraState.STOPPED
    worker.stop()  # idempotent


def test_stop_before_start_and_single_start(folder: Path) -> None:
    worker = CameraWorker.from_settings(fast_settings(_images(folder)))
    worker.stop()
    assert worker.status().state is CameraState.STOPPED
    with pytest.raises(RuntimeError, match="started only once"):
        worker.start()
    running = CameraWorker.from_settings(fast_settings(_images(folder)))
    with running, pytest.raises(RuntimeError, match="started only once"):
        running.start()


def test_stop_from_a_status_callback_does_not_deadlock(folder: Path) -> None:
    holder: list[CameraWorker] = []

    def stop_on_stream(status: CameraStatus) -> None:
        if status.state is CameraState.STREAMING:
            holder[0].stop()

    worker = CameraWorker.from_settings(fast_settings(_images(folder)), on_status=stop_on_stream)
    holder.append(worker)
    worker.start()
    wait_until(lambda: worker.status().state is CameraState.STOPPED, what="the worker to stop itself")
    worker.stop()
