#!/usr/bin/env python3
"""A whole agent in its own process, for tests that freeze or kill it: the rig of ``scangate run``.

Usage: agent_process.py CONFIG_PATH

Builds the rig from the config (camera, recognition in its identifier process, the
session controller, the configured gate with its lease guardian, the signed log),
starts it and prints ``ready <agent pid> <guardian pid>`` once the roster is loaded.
Then obeys stdin lines:

* ``unlock``: start a session, confirm the terms when shown, print ``unlocked <session id>``;
* ``stop``: stop the rig (an open session gets its record), print ``stopped`` and exit.

Anything unexpected is printed as ``error <text>`` and the process exits with 1.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.config import load_config
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot

TYPES = frozenset({"face", "facs_expressions"})
STEP_TIMEOUT_S = 120.0


def _wait(what: str, predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _unlock(rig: Rig) -> str:
    def phase_is(phase: Phase) -> Callable[[], bool]:
        return lambda: rig.controller.snapshot().phase is phase

    session_id = rig.controller.start_session("tech", TYPES)
    _wait("the terms", phase_is(Phase.AWAITING_CONFIRMATION))
    rig.controller.confirm(TYPES, session_id=session_id)
    _wait("the unlock", phase_is(Phase.UNLOCKED))
    return session_id


def _describe(snapshot: SessionSnapshot) -> str:
    return f"{snapshot.phase.value}: {snapshot.detail}"


def main() -> int:
    config, _ = load_config(Path(sys.argv[1]))
    rig = Rig.from_config(config, synthetic_liveness=True)  # the stand-in camera cannot turn its head
    try:
        rig.start()
        _wait("the roster", lambda: rig.health().roster_size > 0)
        guardian = rig.gate._guardian
        print(f"ready {os.getpid()} {guardian.pid if guardian else 0}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "unlock":
                print(f"unlocked {_unlock(rig)}", flush=True)
            elif command == "stop":
                break
            else:
                print(f"error unknown command {command!r}", flush=True)
    except Exception as exc:
        print(f"error {exc} ({_describe(rig.controller.snapshot())})", flush=True)
        rig.stop()
        return 1
    rig.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
