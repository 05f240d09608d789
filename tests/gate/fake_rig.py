#!/usr/bin/env python3
"""A stand-in rig controller program for the command gate backend (a real process).

Usage: fake_rig.py STATE_DIR {arm|disarm|status|capture SESSION_DIR CAPTURE_TYPE}

State lives in STATE_DIR/state ("armed" / "disarmed"); every change is appended
to STATE_DIR/changes as "<time.monotonic()> <state>" (CLOCK_MONOTONIC is shared
by all processes on Linux, so the benchmark can compare times). Files named
fail_arm, fail_disarm, fail_status in STATE_DIR make that action fail;
STATE_DIR/slow_capture holding a number makes capture sleep that long after
writing its file and before reporting it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _set_state(state_dir: Path, state: str) -> None:
    (state_dir / "state").write_text(state, encoding="ascii")
    with (state_dir / "changes").open("a", encoding="ascii") as log:
        log.write(f"{time.monotonic()} {state}\n")


def main(argv: list[str]) -> int:
    state_dir, action = Path(argv[1]), argv[2]
    state_file = state_dir / "state"
    state = state_file.read_text(encoding="ascii") if state_file.exists() else "armed"
    if action == "arm":
        if (state_dir / "fail_arm").exists():
            print("rig controller: cannot arm (simulated failure)", file=sys.stderr)
            return 2
        _set_state(state_dir, "armed")
        return 0
    if action == "disarm":
        if (state_dir / "fail_disarm").exists():
            print("rig controller: relay stuck, cannot disarm (simulated failure)", file=sys.stderr)
            return 1
        _set_state(state_dir, "disarmed")
        return 0
    if action == "status":
        return 1 if (state_dir / "fail_status").exists() else 0
    if action == "capture":
        session_dir, capture_type = Path(argv[3]), argv[4]
        if state != "armed":
            print("rig controller: rig is disarmed, not capturing", file=sys.stderr)
            return 3
        number = len(list(session_dir.glob(f"{capture_type}_*.jpg"))) + 1
        target = session_dir / f"{capture_type}_{number:03d}.jpg"
        target.write_bytes(b"\xff\xd8 fake capture " + target.name.encode() + b"\xff\xd9")
        slow = state_dir / "slow_capture"
        if slow.exists():  # the file exists, the program is still busy (e.g. downloading more)
            time.sleep(float(slow.read_text(encoding="ascii")))
        print("New file is in location /capt0000.jpg on the camera")
        print(f"Saving file as {target}")
        return 0
    print(f"unknown action {action}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
