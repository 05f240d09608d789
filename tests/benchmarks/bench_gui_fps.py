"""Preview frame rate of the technician console while face recognition runs.

    QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_gui_fps.py [--seconds 15] [--no-recognition]
    QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_gui_fps.py --challenge [--seconds 15]

Runs what ``scangate demo`` runs (embedded registry, :class:`agent.rig.Rig`,
the console from :func:`gui.app.open_screens`) inside the real Qt event loop,
with the stand-in camera replaced by a 1280x720 clip at 30 fps (the
scikit-image astronaut portrait), and prints: frames the preview painted per
second (target >= 25), frames the camera delivered and recognition analysed
per second, paint time per frame, and how late a 10 ms GUI timer fires (a
measure of GUI-thread stalls). The 1-minute load average is printed with the
numbers: on a shared machine they vary.

The rig identifies in a child process (agent/faces/subprocess_identifier.py):
dlib holds the GIL for ~75 ms per face, which in a thread stalls the preview and
the camera reader. ``--in-thread`` measures that old arrangement for comparison.

``--challenge`` measures while a real liveness challenge runs (issue 10: preview >= 25 fps,
>= 10 analysed frames/s): a session is started, and the numbers are taken only while it is
in the challenge (the stand-in sways but never turns, so the challenge runs until its time
runs out; the step time limit is raised to 60 s to measure for long enough). It also prints
how many analysed frames were followed (landmarks on the tracked box) and how many were
identified afresh (HOG + encoding), and the time from one analysed frame to the next.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2
import numpy as np
from PyQt6.QtCore import QTimer

from agent.camera.settings import VideoFileSourceSettings
from agent.config import ScanGateConfig
from agent.faces.identifier import Identifier
from agent.faces.roster import roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.recognition import RecognitionResult
from gui.app import ensure_app, open_screens
from registry.demo import prepare_demo
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME, stand_in_encoding
from registry.demo.rehearsal import TYPES
from registry.stand_in import stand_in_frame

WARMUP_S = 3.0


def write_clip(path: Path, fps: float, seconds: float = 4.0) -> Path:
    """A 1280x720 MJPEG clip of the stand-in portrait swaying, at ``fps``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (1280, 720))
    frames = int(seconds * fps)
    for index in range(frames):
        phase = 2 * math.pi * index / frames
        offset = (int(24 * math.sin(phase)), int(8 * math.sin(2 * phase)))
        writer.write(cv2.cvtColor(stand_in_frame(offset), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def with_clip(config: ScanGateConfig, clip: Path, *, long_challenge: bool = False) -> ScanGateConfig:
    """The demo config with the camera playing ``clip`` (and, if asked, 60 s per challenge step)."""
    camera = config.camera.model_copy(update={"source": VideoFileSourceSettings(kind="video", path=clip)})
    update: dict[str, object] = {"camera": camera}
    if long_challenge:
        update["liveness"] = config.liveness.model_copy(update={"step_time_limit_s": 60.0})
    return config.model_copy(update=update)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time after a 3 s warm-up")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the stand-in camera clip")
    parser.add_argument("--no-recognition", action="store_true", help="baseline: preview without recognition")
    parser.add_argument(
        "--in-thread",
        action="store_true",
        help="comparison: identify in a thread of the GUI process instead of the child process",
    )
    parser.add_argument(
        "--challenge", action="store_true", help="measure while a real liveness challenge runs"
    )
    args = parser.parse_args()

    app = ensure_app()
    with tempfile.TemporaryDirectory() as scratch:
        environment = prepare_demo(Path(scratch) / "demo")
        clip = write_clip(Path(scratch) / "clip-30fps.avi", args.fps)
        config = with_clip(environment.config, clip, long_challenge=args.challenge)
        rig = Rig.from_config(config, synthetic_liveness=not args.challenge)
        decisions: Counter[str] = Counter()
        gaps: list[float] = []
        last_result = [0.0]

        def on_result(result: RecognitionResult) -> None:
            now = time.perf_counter()
            if "start" in marks and not marks.get("stop"):
                decisions[result.analysis.decision.value] += 1
                if last_result[0]:
                    gaps.append(now - last_result[0])
            last_result[0] = now

        marks: dict[str, float] = {}
        try:
            rig.start()
            if args.no_recognition:
                rig.recognition.stop()
            elif args.in_thread:
                roster = roster_from_vectors(
                    [(STAND_IN_ID, STAND_IN_NAME, [np.asarray(stand_in_encoding())])]
                )
                rig.recognition.set_identifier(Identifier(IdentificationSettings(), roster))
            screens = open_screens(rig, technician="bench")
            screens.console.resize(1440, 900)
            screens.console.show()
            preview = screens.console.preview

            lateness: list[float] = []
            last = [time.perf_counter()]
            rig.recognition.add_listener(on_result)

            def on_probe() -> None:
                now = time.perf_counter()
                if "start" in marks:
                    lateness.append(max(0.0, now - last[0] - 0.010))
                last[0] = now

            def begin() -> None:
                marks.update(
                    start=time.perf_counter(),
                    frames=preview.frames_shown,
                    camera=rig.camera.status().frames_delivered,
                    analysed=rig.recognition.frames_analysed,
                )
                preview.paint_seconds.clear()

            probe = QTimer()
            probe.setInterval(10)
            probe.timeout.connect(on_probe)
            probe.start()

            def finish() -> None:
                marks["stop"] = time.perf_counter()
                marks["frames_end"] = preview.frames_shown
                app.quit()

            if args.challenge:

                def watch() -> None:
                    phase = rig.controller.snapshot().phase
                    if phase is Phase.CHALLENGING and "start" not in marks:
                        begin()
                        QTimer.singleShot(int(args.seconds * 1000), finish)
                    elif phase is not Phase.CHALLENGING and "start" in marks and "stop" not in marks:
                        finish()  # the challenge ended early: measure only what ran inside it

                watcher = QTimer()
                watcher.setInterval(20)
                watcher.timeout.connect(watch)
                watcher.start()
                QTimer.singleShot(int(WARMUP_S * 1000), lambda: rig.controller.start_session("bench", TYPES))
                QTimer.singleShot(int((WARMUP_S + args.seconds + 60) * 1000), finish)  # never stuck
            else:
                QTimer.singleShot(int(WARMUP_S * 1000), begin)
                QTimer.singleShot(int((WARMUP_S + args.seconds) * 1000), finish)
            app.exec()
            if "start" not in marks:
                print("the challenge never started: is the stand-in identified?", file=sys.stderr)
                return 1
            elapsed = marks["stop"] - marks["start"]
            frames = marks["frames_end"] - marks["frames"]
            camera_frames = rig.camera.status().frames_delivered - marks["camera"]
            analysed = rig.recognition.frames_analysed - marks["analysed"]
            paints = list(preview.paint_seconds)
            screens.close()
        finally:
            rig.stop()
            environment.close()

    load = os.getloadavg()[0]
    fps = frames / elapsed
    where = (
        "off"
        if args.no_recognition
        else ("in a thread (comparison)" if args.in_thread else "in a child process")
    )
    if args.challenge:
        where += ", during a real liveness challenge"
    print(f"stand-in camera: 1280x720 clip at {args.fps:g} fps; recognition {where}")
    print(
        f"measured:        {elapsed:.1f} s after {WARMUP_S:g} s warm-up; load average (1 min) {load:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"preview:         {fps:.1f} fps painted ({frames} frames); target 25 fps: {'met' if fps >= 25 else 'NOT met'}"
    )
    print(f"camera:          {camera_frames / elapsed:.1f} fps delivered")
    print(f"recognition:     {analysed / elapsed:.1f} frames/s analysed")
    if decisions:
        counted = ", ".join(f"{name} {count}" for name, count in decisions.most_common())
        print(f"frames by kind:  {counted}")
        print(
            f"between results: p50 {percentile(gaps, 0.5) * 1000:.1f} ms  p95 {percentile(gaps, 0.95) * 1000:.1f} ms"
            f"  max {max(gaps, default=0) * 1000:.1f} ms"
        )
    print(
        f"paint time:      p50 {percentile(paints, 0.5) * 1000:.1f} ms  p95 {percentile(paints, 0.95) * 1000:.1f} ms"
        f"  max {max(paints, default=0) * 1000:.1f} ms"
    )
    print(
        f"GUI timer late:  p50 {percentile(lateness, 0.5) * 1000:.1f} ms  p95 {percentile(lateness, 0.95) * 1000:.1f} ms"
        f"  max {max(lateness, default=0) * 1000:.1f} ms  (mean {statistics.fmean(lateness or [0]) * 1000:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
