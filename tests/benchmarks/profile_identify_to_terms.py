"""Issue 14, goal 2: where the time of one identify-to-terms goes, on a real demo rig with tracking.

A time line per session, from the technician's start to the terms on the touchscreen, with every
step stamped (``time.monotonic()``, milliseconds after the start):

- each request to the identification child: when the recognition worker asked, what kind
  ("follow" locate / identify), the child's own stage timings (detection, quality gate,
  encoding, match) and the rest of the round trip (the frame's trip to the child and back,
  and the child's work outside the stages: the look check, bookkeeping);
- how old the frame was when it was sent (the wait for a camera frame);
- when the session engine took each frame's result, and the phase changes;
- the consent lookup (asked, answered).

Printed per session, then a summary (p50 per step over the sessions), with the load next to it.

Usage:

    python tests/benchmarks/profile_identify_to_terms.py [--sessions 8] [--busy] [--tracking off]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.session.model import Phase
from registry.demo.environment import prepare_demo as prepare
from tests.benchmarks.bench_tracking import TYPES, running_rig, wait_until
from tests.cpu_load import busy_cores, load_average


@dataclass
class Timeline:
    """Stamped steps of the current session (ms after its start)."""

    started: float = 0.0
    steps: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, text: str, at: float | None = None) -> None:
        with self.lock:
            self.steps.append((((at if at is not None else time.monotonic()) - self.started) * 1000, text))

    def reset(self, started: float) -> None:
        with self.lock:
            self.started, self.steps = started, []


def instrument(rig: Any, line: Timeline, requests: list[dict[str, float]]) -> None:
    """Wrap the identifier, the engine's frame intake and the consent lookup with time stamps."""
    identifier = rig._identifier
    follow = identifier.follow

    def timed_follow(frame: Any, at_s: float, *, identify: bool, confirmed: str | None = None) -> Any:
        asked = time.monotonic()
        analysis = follow(frame, at_s, identify=identify, confirmed=confirmed)
        answered = time.monotonic()
        t = analysis.timings
        child = t.total_ms
        rest = (answered - asked) * 1000 - child
        kind = "identify" if identify else "locate"
        line.note(
            f"  {kind:<8} frame age {(asked - at_s) * 1000:5.0f} ms -> {analysis.decision.value:<12}"
            f" det {t.detect_ms:5.1f} q {t.quality_ms:4.1f} enc {t.encode_ms:5.1f} match {t.match_ms:4.1f}"
            f" rest(IPC+child other) {rest:5.1f}  [round trip {(answered - asked) * 1000:5.0f}]",
            answered,
        )
        requests.append(
            {
                "identify": float(identify),
                "before_start": float(at_s < line.started),
                "frame_age_ms": (asked - at_s) * 1000,
                "detect_ms": t.detect_ms,
                "encode_ms": t.encode_ms,
                "rest_ms": rest,
                "round_ms": (answered - asked) * 1000,
            }
        )
        return analysis

    identifier.follow = timed_follow
    controller = rig.controller
    take = controller._take_frame

    def timed_take(analysis: Any, seen_at: Any) -> None:
        line.note(f"    engine took the result ({analysis.decision.value})")
        take(analysis, seen_at)

    controller._take_frame = timed_take
    service = controller._consent_checks._wiring.service
    lookup = service.lookup

    def timed_lookup(*args: Any, **kwargs: Any) -> Any:
        line.note("consent lookup asked")
        try:
            return lookup(*args, **kwargs)
        finally:
            line.note("consent lookup answered")

    service.lookup = timed_lookup


def one_session(rig: Any, source: Any, watch: Any, line: Timeline) -> float:
    controller = rig.controller
    source.switch("performer")
    time.sleep(0.5)
    started = time.monotonic()
    line.reset(started)
    controller.start_session("profile", TYPES)
    wait_until(lambda: watch.entered(Phase.AWAITING_CONFIRMATION, started) is not None)
    with watch.lock:
        for phase, at in watch.phases:
            if at >= started:
                line.note(f"phase {phase.value}", at)
    terms = watch.entered(Phase.AWAITING_CONFIRMATION, started)
    assert terms is not None
    controller.end_session()
    wait_until(lambda: controller.snapshot().phase is Phase.IDLE)
    return float(terms - started) * 1000


def compare_skipping(rig: Any, source: Any, watch: Any, line: Timeline, sessions: int) -> None:
    """Sessions alternating between identifying every frame of an open session (as merged) and skipping
    the frames it does not count (now), on one rig: identify-to-terms and the identifications spent."""
    requests: list[dict[str, float]] = []
    instrument(rig, line, requests)
    worker = rig.recognition
    skipping = worker._counted
    one_session(rig, source, watch, line)  # warm-up
    totals: dict[str, list[float]] = {"identify every frame": [], "skip uncounted frames": []}
    spent: dict[str, list[tuple[int, int]]] = {key: [] for key in totals}
    for k in range(2 * sessions):
        key = list(totals)[k % 2]
        worker._counted = skipping if key.startswith("skip") else (lambda _at: True)
        requests.clear()
        totals[key].append(one_session(rig, source, watch, line))
        identified = [r for r in requests if r["identify"]]
        spent[key].append((len(identified), sum(1 for r in identified if r["before_start"])))
    worker._counted = skipping
    print(f"\n A/B on one rig, alternating sessions ({load_average()}):")
    for key, values in totals.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        per_session = statistics.mean(n for n, _ in spent[key])
        early = sum(e for _, e in spent[key])
        print(
            f"  {key:<22} identify-to-terms p50 {statistics.median(values):5.0f} ms, p95 {p95:5.0f} ms"
            f" (n={len(values)}); identifications per session {per_session:.1f},"
            f" of frames taken before the start: {early} in all"
        )


def run(args: argparse.Namespace) -> None:
    print(
        f"== {'both cores busy' if args.busy else 'as the machine is'}; tracking {args.tracking}: {load_average()}"
    )
    with tempfile.TemporaryDirectory(prefix="scangate-profile-") as folder:
        env = prepare(Path(folder) / "off")
        config = env.config.model_copy(
            update={"liveness": env.config.liveness.model_copy(update={"method": "off"})}
        )
        try:
            with running_rig(config, tracking=args.tracking == "on", synthetic=False) as (rig, source, watch):
                if args.ab:
                    compare_skipping(rig, source, watch, Timeline(), args.sessions)
                    return
                line, requests = Timeline(), list[dict[str, float]]()
                instrument(rig, line, requests)
                one_session(rig, source, watch, line)  # warm-up
                totals = []
                for k in range(args.sessions):
                    requests.clear()
                    total = one_session(rig, source, watch, line)
                    totals.append(total)
                    print(f"\n session {k + 1}: terms after {total:.0f} ms ({load_average()})")
                    with line.lock:
                        for at, text in sorted(line.steps):
                            print(f"  {at:7.1f}  {text}")
        finally:
            env.close()
    print(
        f"\n identify-to-terms p50 {statistics.median(totals):.0f} ms, max {max(totals):.0f} ms; {load_average()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument(
        "--busy", action="store_true", help="keep both cores busy (tests.cpu_load.busy_cores)"
    )
    parser.add_argument("--tracking", choices=("on", "off"), default="on")
    parser.add_argument(
        "--ab",
        action="store_true",
        help="alternate sessions identifying every frame / skipping uncounted ones",
    )
    args = parser.parse_args()
    if args.busy:
        with busy_cores(2):
            time.sleep(2.0)
            run(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
