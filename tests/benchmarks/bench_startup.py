"""How long until a technician sees the console: ``scangate demo`` launch → window mapped.

Not a test (pytest does not collect it). Needs Xvfb and xwininfo (Debian: xvfb, x11-utils).
Run from the repository root after set-up:

    python tests/benchmarks/bench_startup.py [--runs 5] [--scangate .venv/bin/scangate] [--busy]

Each run starts a fresh Xvfb screen, launches ``scangate demo --out DIR`` on it and polls
``xwininfo`` until the technician console and the performer window are viewable, and
until the console is ready (its title no longer says "starting…": every part is up,
face models included, and the controls are enabled); the times are from launch (wall
clock, what the technician waits), printed per run with p50/max and the machine's load. The first run also pays for a cold disk cache; later
runs show the warm case. ``--busy`` keeps both cores busy with spin loops meanwhile.
Targets (issues 13 and 14): console visible within 5 s (bundle) and 3 s (quiet machine).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.cpu_load import busy_cores, load_average

CONSOLE_TITLE_START = "Technician console"
STARTING_MARKS = ("starting…", "start-up stopped")
"""In the console's title while its parts start (or after one failed): not ready."""
PERFORMER_TITLE = "Performer — ScanGate"
POLL_S = 0.05
GIVE_UP_S = 120.0


def _free_display() -> int:
    for number in range(120, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number between :120 and :199")


def _viewable_titles(display: str) -> list[str]:
    """Titles of the viewable top-level windows on ``display``."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-children", "-display", display],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    titles = []
    for raw_line in tree.splitlines():
        line = raw_line.strip()
        if not line.startswith("0x") or '"' not in line:
            continue
        window_id, title = line.split(" ", 1)[0], line.split('"')[1]
        info = subprocess.run(
            ["xwininfo", "-id", window_id, "-display", display], capture_output=True, text=True, check=False
        ).stdout
        if "IsViewable" in info:
            titles.append(title)
    return titles


def one_run(scangate: str) -> tuple[float | None, float | None, float | None]:
    """Seconds from launch until the console is viewable, the performer window too, the console ready."""
    number = _free_display()
    display = f":{number}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = Path(tempfile.mkdtemp(prefix="sg-startup-"))
    demo: subprocess.Popen[bytes] | None = None
    console_s = performer_s = ready_s = None
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.02)
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        env.pop("WAYLAND_DISPLAY", None)
        started = time.monotonic()
        demo = subprocess.Popen(
            [scangate, "demo", "--out", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while time.monotonic() - started < GIVE_UP_S and None in (console_s, performer_s, ready_s):
            titles = _viewable_titles(display)
            now = time.monotonic() - started
            consoles = [t for t in titles if t.startswith(CONSOLE_TITLE_START)]
            if console_s is None and consoles:
                console_s = now
            if ready_s is None and any(not any(m in t for m in STARTING_MARKS) for t in consoles):
                ready_s = now
            if performer_s is None and PERFORMER_TITLE in titles:
                performer_s = now
            if demo.poll() is not None:
                break
            time.sleep(POLL_S)
    finally:
        if demo is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(out, ignore_errors=True)
    return console_s, performer_s, ready_s


def _shown(seconds: float | None) -> str:
    return "not seen" if seconds is None else f"{seconds:.2f} s"


def main() -> int:
    """Launch the demo ``--runs`` times and print the time to each window."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scangate", default=str(Path(".venv/bin/scangate")))
    parser.add_argument("--busy", action="store_true", help="keep both cores busy meanwhile")
    args = parser.parse_args()
    for tool in ("Xvfb", "xwininfo"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install xvfb x11-utils", file=sys.stderr)
            return 2
    print(f"{args.scangate} demo → window viewable; {load_average()}; busy cores: {args.busy}")
    consoles: list[float] = []
    readies: list[float] = []
    with busy_cores(2) if args.busy else contextlib.nullcontext():
        for run in range(1, args.runs + 1):
            console_s, performer_s, ready_s = one_run(args.scangate)
            print(
                f"run {run}: console {_shown(console_s)}, performer {_shown(performer_s)},"
                f" ready {_shown(ready_s)}; {load_average()}"
            )
            if console_s is not None:
                consoles.append(console_s)
            if ready_s is not None:
                readies.append(ready_s)
    if consoles:
        print(
            f"console: first {consoles[0]:.2f} s, p50 {statistics.median(consoles):.2f} s,"
            f" max {max(consoles):.2f} s over {len(consoles)} run(s); {load_average()}"
        )
    if readies:
        print(
            f"ready: p50 {statistics.median(readies):.2f} s, max {max(readies):.2f} s over {len(readies)} run(s)"
        )
    return 0 if len(consoles) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
