"""Goal 2 (issue 14): the live loop with tracking against today's loop, from one run on the same stand-in.

"Today" is the loop as it was when issue 14 was filed: ``[identification.tracking] enabled =
false`` (every frame is detected on the whole frame, checked and encoded) with dlib's own
encoder (``[identification] encoder = "dlib"``). "Untracked, numpy encoder" is the same loop
with the default encoder (the numpy ResNet, agent/faces/resnet_encoder.py), which separates
what the encoder gained from what tracking gained. "Tracking" is the default configuration
(agent/faces/tracking.py, numpy encoder). Both run on
the same 720p stand-in (the demo's astronaut, swaying as in the demo clip), interleaved, first
on an otherwise quiet machine and then with two spin loops keeping both cores busy
(``tests.cpu_load.busy_cores``). Printed, with the load average next to each part:

1. **Per-frame decision cost** on 720p, in-process (no IPC): today's analysis of every frame,
   and the tracking loop's frames split into followed frames (the cost *while tracking*),
   frames encoded near the last box (votes, doubt) and whole-frame analyses (new track,
   re-verification); both loops get the same frame, one after the other.
2. **Identify-to-terms** over many sessions of a real demo rig (embedded registry, gate,
   signed log, identification child): the technician starts a session while the performer is
   in view, until the terms are on the touchscreen; also with the face entering the frame
   after the start. Liveness ``off`` (identification + consent lookup), and, with
   ``--synthetic``, the demo's synthetic challenge (two fixed 1.5 s holds).
3. **Staying identified**: the performer unlocked and in view for ``--hold`` seconds: the
   longest time between analysed frames that showed them (the absence rule allows 3 s, the
   stall rule 5 s), how many frames were analysed, and the CPU the identification child used.

Usage:

    python tests/benchmarks/bench_tracking.py [--sessions 12] [--blocks 2] [--frames 150]
                                              [--hold 6] [--synthetic] [--quiet-only | --busy-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.camera.worker import CameraWorker
from agent.config import ScanGateConfig
from agent.faces.analysis import FaceAnalyser
from agent.faces.decision import Decision
from agent.faces.identifier import Identifier
from agent.faces.roster import roster_from_vectors
from agent.faces.settings import IdentificationSettings, TrackingSettings
from agent.faces.tracking import SubjectTracker
from agent.faces.voting import IdentityVoter
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.recognition import RecognitionResult
from agent.session.snapshot import SessionSnapshot
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME
from registry.demo.environment import prepare_demo as prepare
from registry.stand_in import stand_in_frame
from tests.cpu_load import busy_cores, load_average
from tests.stand_in_camera import BACKGROUND, StandInSource, padded, shifted, sway

TYPES = frozenset({"face"})
LOOPS = ("today", "untracked, numpy", "tracking")
"""The rig's loops: "today" (as when the issue was filed: dlib's encoder, every frame analysed, and
every frame of an open session identified, also the ones taken before it started), "untracked,
numpy" (the same loop with the numpy encoder, skipping frames the session does not count) and
"tracking" (the default: numpy encoder, tracking, skipping those frames)."""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50_p95(values: list[float], unit: str = "ms", digits: int = 1) -> str:
    if not values:
        return "-"
    return f"{pct(values, 0.5):.{digits}f} / {pct(values, 0.95):.{digits}f} {unit} (n={len(values)})"


# --------------------------------------------------------------------------- 1. per-frame cost


def frame_costs(frames: int) -> dict[str, list[float]]:
    """Milliseconds per frame: today's analysis, and the tracker's frames by kind, on the same frames."""
    settings = IdentificationSettings()
    analyser = FaceAnalyser(settings)
    encoding = analyser.observe(stand_in_frame()).encoding
    assert encoding is not None
    roster = roster_from_vectors([(STAND_IN_ID, STAND_IN_NAME, [encoding])])
    identifier = Identifier(settings, roster, engine=analyser.engine)
    dlib_settings = settings.model_copy(update={"encoder": "dlib"})
    dlib_identifier = Identifier(dlib_settings, roster, engine=FaceAnalyser(dlib_settings).engine)
    tracker = SubjectTracker(identifier, TrackingSettings())
    voter = IdentityVoter(settings.votes_required)  # the session's votes, as FrameEvents keeps them
    scene = padded(stand_in_frame(), BACKGROUND)
    kinds = (
        "today (dlib encoder)",
        "  of which encoding",
        "untracked, numpy encoder",
        "  of which detection",
        "  of which encoding ",
        "tracking (all frames)",
        "  whole-frame analyses",
        "  encoded near the box (votes, doubt)",
        "  followed (while tracking)",
        "    of which detection near the box",
    )
    costs: dict[str, list[float]] = {kind: [] for kind in kinds}
    for k in range(frames):
        frame = shifted(scene, sway(k))
        started = time.perf_counter()
        today = dlib_identifier.analyse(frame)
        costs["today (dlib encoder)"].append((time.perf_counter() - started) * 1000)
        costs["  of which encoding"].append(today.timings.encode_ms)
        started = time.perf_counter()
        untracked = identifier.analyse(frame)
        costs["untracked, numpy encoder"].append((time.perf_counter() - started) * 1000)
        costs["  of which detection"].append(untracked.timings.detect_ms)
        costs["  of which encoding "].append(untracked.timings.encode_ms)
        before = (tracker.counts.whole, tracker.counts.encoded_near)
        started = time.perf_counter()
        analysis = tracker.analyse(frame, k / 25.0, confirmed=voter.confirmed_performer_id)
        spent = (time.perf_counter() - started) * 1000
        voter.feed(analysis)
        costs["tracking (all frames)"].append(spent)
        if tracker.counts.whole > before[0]:
            kind = "  whole-frame analyses"
        elif tracker.counts.encoded_near > before[1]:
            kind = "  encoded near the box (votes, doubt)"
        else:
            assert analysis.decision is Decision.TRACKED
            kind = "  followed (while tracking)"
            costs["    of which detection near the box"].append(analysis.timings.detect_ms)
        costs[kind].append(spent)
    return costs


# --------------------------------------------------------------------------- 2./3. a real rig


@dataclass
class Watch:
    """Phase changes (monotonic time) and recognition results of one rig."""

    phases: list[tuple[Phase, float]] = field(default_factory=list)
    results: list[tuple[float, RecognitionResult]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_snapshot(self, snapshot: SessionSnapshot) -> None:
        with self.lock:
            if not self.phases or self.phases[-1][0] is not snapshot.phase:
                self.phases.append((snapshot.phase, time.monotonic()))

    def on_result(self, result: RecognitionResult) -> None:
        with self.lock:
            self.results.append((time.monotonic(), result))

    def entered(self, phase: Phase, after: float) -> float | None:
        with self.lock:
            return next((at for p, at in self.phases if p is phase and at >= after), None)


def wait_until(check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.005)
    raise TimeoutError("the rig did not get there in time")


@contextlib.contextmanager
def running_rig(
    config: ScanGateConfig,
    *,
    tracking: bool,
    synthetic: bool,
    encoder: str = "auto",
    skip_uncounted: bool = True,
) -> Iterator[tuple[Rig, StandInSource, Watch]]:
    identification = config.identification.model_copy(
        update={
            "tracking": config.identification.tracking.model_copy(update={"enabled": tracking}),
            "encoder": encoder,
        }
    )
    config = config.model_copy(update={"identification": identification})
    source = StandInSource("performer")
    camera = CameraWorker(lambda: source, config.camera, label="stand-in camera")
    rig = Rig.from_config(config, camera=camera, synthetic_liveness=synthetic)
    if not skip_uncounted:  # as before: identify every frame of an open session, counted or not
        rig.recognition._counted = lambda _captured_at: True
    watch = Watch()
    rig.controller.add_listener(watch.on_snapshot)
    rig.recognition.add_listener(watch.on_result)
    rig.start()
    try:
        wait_until(lambda: rig.health().roster_size > 0)
        yield rig, source, watch
    finally:
        rig.stop()


def identify_to_terms(rig: Rig, source: StandInSource, watch: Watch, *, enters: bool) -> float:
    """Seconds from the technician's start (performer in view), or from the face entering the frame
    after the start (``enters``), until the terms are shown."""
    controller = rig.controller
    source.switch("empty" if enters else "performer")
    time.sleep(0.5)  # the last session's frames are gone; with the performer in view they are located
    started = time.monotonic()
    controller.start_session("bench", TYPES)
    if enters:
        wait_until(lambda: controller.snapshot().phase is Phase.IDENTIFYING)
        time.sleep(0.2)
        started = time.monotonic()
        source.switch("performer")
    wait_until(lambda: watch.entered(Phase.AWAITING_CONFIRMATION, started) is not None)
    terms = watch.entered(Phase.AWAITING_CONFIRMATION, started)
    assert terms is not None
    controller.end_session()
    wait_until(lambda: controller.snapshot().phase is Phase.IDLE)
    return terms - started


def child_cpu_s(rig: Rig) -> float:
    """CPU seconds the identification child has used so far (Linux /proc)."""
    process = getattr(rig._identifier, "_process", None)
    if process is None or process.pid is None:
        return float("nan")
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def staying(rig: Rig, source: StandInSource, watch: Watch, hold_s: float) -> dict[str, float]:
    """Unlock, stay in view ``hold_s`` seconds; sightings, analysed frames and the child's CPU share."""
    controller = rig.controller
    source.switch("performer")
    controller.start_session("bench", TYPES)
    wait_until(lambda: controller.snapshot().phase is Phase.AWAITING_CONFIRMATION)
    controller.confirm(TYPES)
    wait_until(lambda: controller.snapshot().phase is Phase.UNLOCKED)
    cpu0, started = child_cpu_s(rig), time.monotonic()
    time.sleep(hold_s)
    cpu1, ended = child_cpu_s(rig), time.monotonic()
    still = controller.snapshot().phase is Phase.UNLOCKED
    controller.end_session()
    wait_until(lambda: controller.snapshot().phase is Phase.IDLE)
    with watch.lock:
        held = [r for at, r in watch.results if started <= at <= ended]
    seen = [r.frame_captured_at for r in held if r.analysis.performer_id == STAND_IN_ID]
    gaps = np.diff([started, *seen, ended]) if seen else np.array([ended - started])
    return {
        "still unlocked": float(still),
        "frames analysed / s": len(held) / (ended - started),
        "longest without a sighting s": float(gaps.max()),
        "identification child CPU %": 100 * (cpu1 - cpu0) / (ended - started),
    }


def rig_measurements(
    config: ScanGateConfig, *, sessions: int, blocks: int, hold_s: float, synthetic: bool
) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[dict[str, float]]]]:
    """Identify-to-terms and staying, both loops, in alternating blocks (a fresh rig per block)."""
    times: dict[str, dict[str, list[float]]] = {
        loop: {"in view at start": [], "enters after start": []} for loop in LOOPS
    }
    stays: dict[str, list[dict[str, float]]] = {loop: [] for loop in LOOPS}
    for _ in range(blocks):
        for loop in LOOPS:
            with running_rig(
                config,
                tracking=loop == "tracking",
                synthetic=synthetic,
                encoder="dlib" if loop == "today" else "auto",
                skip_uncounted=loop != "today",
            ) as (
                rig,
                source,
                watch,
            ):
                identify_to_terms(rig, source, watch, enters=False)  # warm-up: the child loads its models
                for k in range(sessions):
                    enters = k % 3 == 2
                    key = "enters after start" if enters else "in view at start"
                    times[loop][key].append(identify_to_terms(rig, source, watch, enters=enters))
                if hold_s > 0:
                    stays[loop].append(staying(rig, source, watch, hold_s))
    return times, stays


def report_rig(
    title: str, times: dict[str, dict[str, list[float]]], stays: dict[str, list[dict[str, float]]]
) -> None:
    print(f"\n  identify-to-terms, {title} (seconds, p50 / p95):")
    for key in ("in view at start", "enters after start"):
        today = times["today"][key]
        if not today:
            continue
        print(f"    {key:<20} today {p50_p95(today, 's', 2)}")
        for loop in LOOPS[1:]:
            tracked = times[loop][key]
            if not tracked:
                continue
            ratio50 = pct(tracked, 0.5) / pct(today, 0.5)
            ratio95 = pct(tracked, 0.95) / pct(today, 0.95)
            print(
                f"    {'':<20} {loop:<16} {p50_p95(tracked, 's', 2):<28}"
                f" ratio to today p50 {ratio50:.2f}, p95 {ratio95:.2f}"
            )
    for loop in LOOPS:
        if not stays[loop]:
            continue
        merged = {k: [s[k] for s in stays[loop]] for k in stays[loop][0]}
        text = ", ".join(
            f"{k} {min(v) if 'still' in k else max(v) if 'longest' in k else statistics.mean(v):.2f}"
            for k, v in merged.items()
        )
        print(f"    staying unlocked, {loop:<8}: {text}")


def measure(args: argparse.Namespace, label: str) -> None:
    print(f"\n== {label}: {load_average()}", flush=True)
    costs = frame_costs(args.frames)
    print(f"  per-frame decision cost on 1280x720, in-process ({load_average()}), p50 / p95:")
    for kind, values in costs.items():
        print(f"    {kind:<40} {p50_p95(values)}")
    today = costs["today (dlib encoder)"]
    followed = costs["  followed (while tracking)"]
    if followed:
        print(
            f"    while tracking vs today: p95 {pct(followed, 0.95):.1f} vs {pct(today, 0.95):.1f} ms"
            f" ({pct(today, 0.95) / pct(followed, 0.95):.1f}x less); goal <= 50 ms p95"
        )
    with tempfile.TemporaryDirectory(prefix="scangate-bench-tracking-") as folder:
        env = prepare(Path(folder) / "off")
        liveness_off = env.config.liveness.model_copy(update={"method": "off"})
        try:
            times, stays = rig_measurements(
                env.config.model_copy(update={"liveness": liveness_off}),
                sessions=args.sessions,
                blocks=args.blocks,
                hold_s=args.hold,
                synthetic=False,
            )
        finally:
            env.close()
        report_rig(f"liveness off ({load_average()})", times, stays)
        if args.synthetic:
            env = prepare(Path(folder) / "synthetic")
            try:
                times, stays = rig_measurements(
                    env.config,
                    sessions=max(3, args.sessions // 3),
                    blocks=args.blocks,
                    hold_s=0,
                    synthetic=True,
                )
            finally:
                env.close()
            report_rig(f"synthetic challenge ({load_average()})", times, stays)
    print(f"  end of part: {load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=12, help="sessions per loop and block (default 12)")
    parser.add_argument("--blocks", type=int, default=2, help="alternating blocks per loop (default 2)")
    parser.add_argument("--frames", type=int, default=150, help="frames for the per-frame cost (default 150)")
    parser.add_argument(
        "--hold", type=float, default=6.0, help="seconds unlocked in view per block (0: skip)"
    )
    parser.add_argument("--synthetic", action="store_true", help="also measure with the synthetic challenge")
    parser.add_argument("--quiet-only", action="store_true", help="skip the part with both cores busy")
    parser.add_argument("--busy-only", action="store_true", help="only the part with both cores busy")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {load_average()}")
    if not args.busy_only:
        measure(args, "as the machine is (no extra load)")
    if not args.quiet_only:
        with busy_cores(2) as pids:
            time.sleep(2.0)
            measure(args, f"both cores kept busy by two spin loops {pids}")


if __name__ == "__main__":
    main()
