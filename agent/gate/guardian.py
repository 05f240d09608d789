"""Lease guardian: a separate process that locks the rig when the agent process dies or freezes.

The lease watchdog is a thread of the agent: it covers a hung session engine,
but not a process that is killed, crashes in native code or is frozen as a
whole. For backends that physically arm hardware (command, TriggerBox, Smart
Shooter) the gate therefore starts a guardian process and keeps it informed
over a pipe:

* ``arm <seconds>`` — the gate is unlocked; the lease (plus a margin) ends in that many seconds;
* ``disarm`` — the gate locked its peer itself;
* ``exit`` — clean shutdown, the gate has already locked the peer.

The guardian locks the peer with the backend's own lock code when an armed
lease runs out without news (agent frozen) and whenever the pipe closes
without ``exit`` (agent died). It runs in its own session, so a signal to the
agent's process group does not take it down too.

Run as ``python -m agent.gate.guardian``; the first stdin line is JSON:
``{"backend": <[gate.backend] settings>, "capture_root": "..."}``; it answers
``ready`` on stdout once it can act.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydantic import TypeAdapter

from agent.gate.errors import GateFaultError
from agent.gate.settings import GateBackendSettings

if TYPE_CHECKING:
    from agent.gate.base import CaptureGate

log = logging.getLogger(__name__)

READY = "ready"
START_TIMEOUT_S = 20.0
LOCK_ATTEMPTS = 3


class GuardianLink:
    """The agent's side of the guardian: starts it and reports arm/disarm."""

    def __init__(self, backend: GateBackendSettings, capture_root: Path, *, margin_s: float = 0.15) -> None:
        """Args: the backend settings the guardian locks with, the capture root, and the grace margin."""
        self._backend = backend
        self._capture_root = capture_root
        self._margin = margin_s
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._dead = False

    @property
    def alive(self) -> bool:
        """True while the guardian process runs and its pipe works."""
        return self._process is not None and not self._dead and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the guardian (for diagnostics and tests)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the guardian (replacing one that died or stopped answering) and wait until it is ready.

        Raises:
            GateFaultError: it did not start.
        """
        self._discard()
        init = {"backend": self._backend.model_dump(mode="json"), "capture_root": str(self._capture_root)}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "agent.gate.guardian"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise GateFaultError(f"cannot start the lease guardian process: {exc}") from None
        self._process = process
        self._dead = False
        assert process.stdin is not None and process.stdout is not None
        self._send(json.dumps(init))
        answer = _readline_with_timeout(process.stdout, START_TIMEOUT_S)
        if answer.strip() != READY or self._dead:
            process.kill()
            self._dead = True
            raise GateFaultError(
                f"lease guardian did not start (answered {answer.strip()!r})",
                hint="run 'python -m agent.gate.guardian' by hand to see why",
            )
        # From now on a write must never block the gate (a frozen guardian must not freeze us).
        os.set_blocking(process.stdin.fileno(), False)

    def armed(self, remaining_s: float) -> None:
        """Tell the guardian the gate is unlocked for ``remaining_s`` more seconds."""
        self._send(f"arm {max(remaining_s, 0.0) + self._margin:.3f}")

    def disarmed(self) -> None:
        """Tell the guardian the gate locked its peer."""
        self._send("disarm")

    def stop(self) -> None:
        """Clean shutdown: the gate has locked; the guardian exits without acting."""
        process = self._process
        if process is None:
            return
        self._send("exit")
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
        finally:
            if process.stdout is not None:
                process.stdout.close()
        self._dead = True

    def _discard(self) -> None:
        """Forget an earlier guardian process, killing it if it still runs (it no longer answers)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _send(self, line: str) -> None:
        process = self._process
        if process is None or process.stdin is None or self._dead:
            return
        data = (line + "\n").encode("utf-8")
        with self._lock:
            try:
                written = os.write(process.stdin.fileno(), data)
            except (OSError, ValueError):
                written = -1
            if written != len(data):
                self._dead = True  # broken or full pipe: the guardian is gone or frozen
                log.error("lease guardian no longer reachable")


def _readline_with_timeout(stream: IO[bytes], timeout: float) -> str:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].decode("utf-8", errors="replace") if result else ""


# ------------------------------------------------------------------ guardian process


def _lock_peer(
    gate_class: Callable[..., CaptureGate], backend: GateBackendSettings, capture_root: Path, reason: str
) -> None:
    """Lock the peer with the backend's own code (open, lock + verify, close), with retries."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        gate = gate_class(backend, trusted_keys={}, capture_root=capture_root)
        try:
            gate.lock_peer_standalone(reason)
        except Exception as exc:
            log.error("guardian: lock attempt %d/%d failed: %s", attempt, LOCK_ATTEMPTS, exc)
            time.sleep(0.5)
        else:
            log.warning("guardian: locked the %s peer (%s)", backend.kind, reason)
            return
        finally:
            try:
                gate.close()  # never started, so this only releases the peer's resources
            except Exception:
                log.debug("guardian: closing the peer failed", exc_info=True)
    log.critical("guardian: could NOT lock the %s peer; the rig may still be ARMED", backend.kind)


def run_guardian(stdin: IO[str], stdout: IO[str]) -> int:
    """The guardian's main loop (see the module docstring)."""
    init = json.loads(stdin.readline())
    backend: GateBackendSettings = TypeAdapter(GateBackendSettings).validate_python(init["backend"])
    capture_root = Path(init["capture_root"])
    from agent.gate.factory import backend_gate_class  # noqa: PLC0415 (avoid an import cycle)

    gate_class = backend_gate_class(backend)  # imports the driver now, not when it is urgent
    messages: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stdin:
            messages.put(line.strip())
        messages.put(None)

    threading.Thread(target=read, daemon=True).start()
    stdout.write(READY + "\n")
    stdout.flush()
    deadline: float | None = None
    while True:
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            message = messages.get(timeout=timeout)
        except queue.Empty:
            _lock_peer(gate_class, backend, capture_root, "lease guardian: agent stopped renewing the lease")
            deadline = None
            continue
        if message is None:
            _lock_peer(gate_class, backend, capture_root, "lease guardian: agent process ended")
            return 0
        command, _, argument = message.partition(" ")
        if command == "arm":
            deadline = time.monotonic() + float(argument)
        elif command == "disarm":
            deadline = None
        elif command == "exit":
            return 0


def main() -> int:
    """Entry point of ``python -m agent.gate.guardian``."""
    logging.basicConfig(level=logging.WARNING, format="scangate-guardian: %(levelname)s %(message)s")
    try:
        return run_guardian(sys.stdin, sys.stdout)
    except (ValueError, KeyError) as exc:
        print(f"bad guardian settings: {exc}", file=sys.stdout, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
