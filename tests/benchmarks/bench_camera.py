"""Benchmark the camera worker: delivery rate, drops and frame age on a 720p video.

Writes a synthetic 1280x720 MJPEG video (or uses --video), plays it through
``CameraWorker`` in real time, and runs a consumer that "works" for
--consumer-ms per frame (like the recogniser would). Prints, per consumer
speed: frames the source delivered per second, frames the consumer got per
second, drops, frame age when taken (now - captured_at) p50/p95/max, and the
process CPU use. Run on a quiet machine; note ``uptime`` with every number.

    python tests/benchmarks/bench_camera.py --duration 10 --consumer-ms 0 50 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.camera.settings import CameraSettings, VideoFileSourceSettings
from agent.camera.worker import CameraWorker


def write_synthetic_video(path: Path, seconds: float, fps: float, width: int, height: int) -> None:
    """A moving gradient with a frame counter: cheap to make, realistic to decode."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write MJPEG to {path}")
    xs = np.linspace(0, 255, width, dtype=np.float32)
    for index in range(round(seconds * fps)):
        shift = (index * 7) % 256
        row = ((xs + shift) % 256).astype(np.uint8)
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = row
        frame[..., 1] = row[::-1]
        frame[..., 2] = 128
        cv2.putText(frame, str(index), (40, 120), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
        writer.write(frame)
    writer.release()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(video: Path, duration: float, consumer_ms: float, fps: float | None) -> None:
    settings = CameraSettings(
        source=VideoFileSourceSettings(kind="video", path=video, loop=True, fps=fps),
        reconnect_initial_delay_s=0.1,
        reconnect_max_delay_s=1.0,
    )
    ages: list[float] = []
    taken = 0
    cpu_start = time.process_time()
    with CameraWorker.from_settings(settings) as worker:
        first = worker.latest(timeout=10)
        if first is None:
            raise SystemExit(f"no frame: {worker.status()}")
        last = first.sequence
        start = time.monotonic()
        delivered_start = worker.status().frames_delivered
        dropped_start = worker.status().frames_dropped
        while time.monotonic() - start < duration:
            frame = worker.latest(after_sequence=last, timeout=2)
            if frame is None:
                continue
            ages.append(time.monotonic() - frame.captured_at)
            last = frame.sequence
            taken += 1
            if consumer_ms:
                time.sleep(consumer_ms / 1000)  # stands in for detection/encoding work
        elapsed = time.monotonic() - start
        status = worker.status()
    cpu = time.process_time() - cpu_start
    delivered = status.frames_delivered - delivered_start
    dropped = status.frames_dropped - dropped_start
    ms = [a * 1000 for a in ages] or [0.0]
    print(
        f"consumer {consumer_ms:5.0f} ms | source {delivered / elapsed:5.1f} fps"
        f" | consumer got {taken / elapsed:5.1f} fps | dropped {dropped:4d}"
        f" ({100 * dropped / max(delivered, 1):4.1f} %) | frame age ms p50 {statistics.median(ms):6.2f}"
        f" p95 {percentile(ms, 0.95):6.2f} max {max(ms):6.2f} | CPU {100 * cpu / elapsed:5.1f} % of one core"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="video to play (default: a synthetic 720p MJPEG clip)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per consumer speed")
    parser.add_argument("--fps", type=float, default=30.0, help="playback rate of the video")
    parser.add_argument(
        "--consumer-ms", type=float, nargs="+", default=[0.0, 50.0, 200.0], help="consumer work per frame"
    )
    parser.add_argument("--width", type=int, default=1280, help="synthetic video width")
    parser.add_argument("--height", type=int, default=720, help="synthetic video height")
    args = parser.parse_args()

    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            video = Path(tmp) / "synthetic.avi"
            write_synthetic_video(video, 4.0, args.fps, args.width, args.height)
        size = "" if args.video else f" {args.width}x{args.height}"
        print(f"video: {video.name}{size} played at {args.fps:g} fps, {args.duration:g} s per run")
        for consumer_ms in args.consumer_ms:
            run(video, args.duration, consumer_ms, args.fps)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    main()
