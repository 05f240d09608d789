#!/usr/bin/env python3
"""A minimal agent process for the guardian tests: builds the configured gate and unlocks it.

Usage: agent_process.py GATE_SETTINGS_JSON LEASE_SECONDS

Prints "unlocked <guardian pid>" once unlocked, then obeys stdin lines:
"renew-loop" (renew every lease/5 s from a thread, like a healthy session engine),
"crash" (SIGKILL itself: no cleanup runs), "close" (clean shutdown).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.gate.factory import build_gate
from agent.gate.models import UnlockGrant
from agent.gate.settings import GateSettings
from agent.gate.token import mint_capture_token
from agent.signing import Signer


def main() -> int:
    settings = GateSettings.model_validate_json(sys.argv[1])
    lease = float(sys.argv[2])
    signer = Signer(Ed25519PrivateKey.generate())
    gate = build_gate(settings, trusted_keys={signer.key_id: signer.public_key}, rig_id="rig-1")
    status = gate.start()
    if not status.healthy:
        print(f"fault {status.last_error}", flush=True)
        return 1
    token = mint_capture_token(
        signer,
        session_id="crash-test",
        rig_id="rig-1",
        performer_id="p",
        production_id="x",
        capture_types=["face"],
        lifetime=timedelta(minutes=5),
    )
    gate.unlock(UnlockGrant(token=token, lease_seconds=lease))
    guardian = gate._guardian
    print(f"unlocked {guardian.pid if guardian else 0}", flush=True)

    def renew_forever() -> None:
        while True:
            time.sleep(lease / 5)
            gate.renew()

    for line in sys.stdin:
        command = line.strip()
        if command == "renew-loop":
            threading.Thread(target=renew_forever, daemon=True).start()
            print("renewing", flush=True)
        elif command == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif command == "close":
            gate.close()
            print("closed", flush=True)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
