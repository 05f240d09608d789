"""Every rehearsal, played while other processes keep both cores busy.

Starts ``--burners`` (2) pure-Python spin loops, then runs every scenario in
``registry.demo.SCENARIOS`` (the same code as ``scangate demo --headless``), each
against a fresh demo rig in its own temporary folder, and prints per rehearsal:

* pass/fail and its wall time;
* the slowest session start → consent terms shown, and identification → terms
  (from the controller's snapshots; ``-`` when the rehearsal never shows terms);
* the analysis lag of the recognition worker (camera frame time → result), p50/p95/max,
  which result (1 = the worker's first) had the maximum, and how many frames were analysed;
* every record's outcome and reason codes, and whether its ``identified_at`` is
  before its ``started_at`` (an identity from before the session: must never happen).

The burners are stopped at the end, also on failure. Exits 1 if any rehearsal
fails. Usage:

    python tests/benchmarks/bench_rehearsals_under_load.py [--burners 2] [--only confirm ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.config import ScanGateConfig
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.recognition import RecognitionResult
from agent.session.snapshot import SessionSnapshot
from registry.demo import SCENARIOS, run_headless
from tests.cpu_load import busy_cores, load_average


@dataclass
class Observed:
    """What one rehearsal's rig did, seen from its controller and recognition worker."""

    phase_at: list[tuple[Phase, float]] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    """When the rehearsal asked the controller to start a session (monotonic seconds)."""
    lags_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_snapshot(self, snapshot: SessionSnapshot) -> None:
        with self.lock:
            if not self.phase_at or self.phase_at[-1][0] is not snapshot.phase:
                self.phase_at.append((snapshot.phase, time.monotonic()))

    def on_result(self, result: RecognitionResult) -> None:
        with self.lock:
            self.lags_ms.append((time.monotonic() - result.frame_captured_at) * 1000)

    def terms_times(self) -> tuple[float | None, float | None]:
        """Slowest (start → terms, identified → terms) in seconds over the rehearsal's sessions.

        "Start" is when the rehearsal asked for the session (the technician's click);
        "identified" when the engine entered CHECKING_CONSENT; "terms" AWAITING_CONFIRMATION.
        """
        start_to_terms: list[float] = []
        identified_to_terms: list[float] = []
        identified: float | None = None
        for phase, at in self.phase_at:
            if phase is Phase.CHECKING_CONSENT:
                identified = at
            elif phase is Phase.AWAITING_CONFIRMATION:
                started = max((s for s in self.starts if s <= at), default=None)
                if started is not None:
                    start_to_terms.append(at - started)
                if identified is not None:
                    identified_to_terms.append(at - identified)
                identified = None
        return (max(start_to_terms, default=None), max(identified_to_terms, default=None))


@contextmanager
def observing(observed: Observed) -> Iterator[None]:
    """Attach ``observed`` to the rig the rehearsal builds (wraps ``Rig.from_config``)."""
    descriptor = Rig.__dict__["from_config"]
    original = Rig.from_config

    def from_config(config: ScanGateConfig, **kwargs: Any) -> Rig:
        rig = original(config, **kwargs)
        controller = rig.controller
        start_session = controller.start_session

        def timed_start(technician: str, capture_types: frozenset[str]) -> str:
            observed.starts.append(time.monotonic())
            return start_session(technician, capture_types)

        setattr(controller, "start_session", timed_start)  # noqa: B010
        controller.add_listener(observed.on_snapshot)
        rig.recognition.add_listener(observed.on_result)
        return rig

    setattr(Rig, "from_config", from_config)  # noqa: B010 (the rehearsal code calls Rig.from_config)
    try:
        yield
    finally:
        setattr(Rig, "from_config", descriptor)  # noqa: B010


def _records(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def _identified_before_start(record: dict[str, Any]) -> float | None:
    """Seconds by which ``identified_at`` precedes ``started_at`` (None when it does not)."""
    identification = record.get("identification") or {}
    if not identification.get("identified_at"):
        return None
    started = datetime.fromisoformat(str(record["started_at"]).replace("Z", "+00:00"))
    identified = datetime.fromisoformat(str(identification["identified_at"]).replace("Z", "+00:00"))
    early = (started - identified).total_seconds()
    return early if early > 0 else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def run_one(name: str) -> bool:
    """Play one rehearsal in a fresh folder and print its line; True when it passed."""
    observed = Observed()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"scangate-bench-{name}-") as folder:
        started = time.monotonic()
        with observing(observed):
            try:
                rc = run_headless(name, Path(folder), echo=lines.append)
            except Exception as exc:  # a crashing rehearsal is a failed one; keep measuring the rest
                rc = 1
                lines.append(f"  PROBLEM: {type(exc).__name__}: {exc}")
        wall = time.monotonic() - started
        records = _records(Path(folder) / "sessions.jsonl")
    start_to_terms, identified_to_terms = observed.terms_times()
    lags = sorted(observed.lags_ms)
    slowest = observed.lags_ms.index(lags[-1]) + 1 if lags else 0
    lag_text = (
        f"lag p50 {statistics.median(lags):.0f} / p95 {lags[int(0.95 * (len(lags) - 1))]:.0f}"
        f" / max {lags[-1]:.0f} ms (result {slowest}) over {len(lags)} frames"
        if lags
        else "no frames analysed"
    )
    early = [e for e in (_identified_before_start(r) for r in records) if e is not None]
    passed = rc == 0 and not early
    print(
        f"{'PASS' if passed else 'FAIL'}  {name:<14} wall {wall:6.1f} s   start→terms {_seconds(start_to_terms):>7}"
        f"   identified→terms {_seconds(identified_to_terms):>7}   {lag_text}",
        flush=True,
    )
    for record in records:
        print(f"        record: {record.get('outcome')} {record.get('reason_codes')}", flush=True)
    for seconds in early:
        print(f"        PROBLEM: identified {seconds:.2f} s before the session started", flush=True)
    if not passed:
        for line in lines:
            if "PROBLEM" in line:
                print(f"      {line.strip()}", flush=True)
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burners", type=int, default=2, help="busy processes to start (default 2)")
    parser.add_argument("--only", nargs="*", default=None, help="rehearsals to play (default: all)")
    args = parser.parse_args()
    names = [name for name in SCENARIOS if args.only is None or name in args.only]
    print(f"before the burners: {load_average()}", flush=True)
    failures: list[str] = []
    with busy_cores(args.burners) as pids:
        time.sleep(2.0)  # let the burners show in the load average
        print(f"{args.burners} busy processes {pids}: {load_average()}", flush=True)
        for name in names:
            if not run_one(name):
                failures.append(name)
        print(f"at the end, burners still running: {load_average()}", flush=True)
    print(
        f"{len(names) - len(failures)} passed, {len(failures)} failed" + (f": {failures}" if failures else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
