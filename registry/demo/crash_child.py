"""The agent process the 'crash-after-capture' rehearsal kills: a real rig, to its first capture.

``python -m registry.demo.crash_child CONFIG`` starts a whole rig from a demo config,
starts a session, confirms the terms as the performer would, captures one face still,
says so on stdout and then waits to be killed (SIGKILL: nothing gets to clean up).
The rehearsal then starts a new rig on the same folder and checks its recovery record.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from agent.config import load_config
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot

UNLOCKED_LINE = "unlocked"
CAPTURED_LINE = "captured"
STEP_TIMEOUT_S = 90.0


def _wait(rig: Rig, predicate: Callable[[SessionSnapshot], bool]) -> bool:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate(rig.controller.snapshot()):
            return True
        time.sleep(0.05)
    return False


def main(argv: list[str]) -> int:
    """Run the rig to its first capture, report each step on stdout, then wait (to be killed)."""
    config, _ = load_config(Path(argv[0]))
    rig = Rig.from_config(config, synthetic_liveness=True)  # the stand-in camera cannot turn its head
    rig.start()
    if not _wait(rig, lambda _s: rig.health().roster_size > 0):
        print("no-roster", flush=True)
        return 1
    types = frozenset({"face"})
    rig.controller.start_session("demo-technician", types)
    if not _wait(rig, lambda s: s.phase is Phase.AWAITING_CONFIRMATION):
        print("no-terms", flush=True)
        return 1
    rig.controller.confirm(types)
    if not _wait(rig, lambda s: s.phase is Phase.UNLOCKED):
        print("no-unlock", flush=True)
        return 1
    print(UNLOCKED_LINE, flush=True)
    rig.controller.capture("face")
    if not _wait(rig, lambda s: s.captures >= 1):
        print("no-capture", flush=True)
        return 1
    print(CAPTURED_LINE, flush=True)
    time.sleep(STEP_TIMEOUT_S)  # the rehearsal kills this process long before
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
