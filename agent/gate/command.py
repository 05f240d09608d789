"""Command backend: configured programs arm, disarm and fire the rig (e.g. gphoto2).

Programs run directly from their argument lists (never through a shell) with
time limits and exit-code checks. ``{placeholders}`` in the arguments and
``SCANGATE_*`` environment variables tell them the session. A lock kills any
capture still running, and files from a capture that a lock interrupted are
flagged and quarantined. A failing lock command faults the gate loudly: the
physical rig may still be armed.

Captured files are found either in the capture command's standard output
(``discovery = "stdout"``: each line matching ``stdout_path_pattern`` that
names an existing file; relative paths are relative to the session folder,
which is the command's working directory) or as new/changed files in a
watched folder (``discovery = "folder"``).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any, ClassVar

from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureRefusedError, GateFaultError
from agent.gate.models import CaptureEvent
from agent.gate.settings import CommandGateSettings
from agent.gate.token import CaptureToken
from agent.gate.windows import QUARANTINE_DIR_NAME
from agent.private_files import private_dir

OUTPUT_TAIL = 400


class CommandGate(CaptureGate):
    """A gate whose peer is a set of configured programs."""

    backend_name: ClassVar[str] = "command"

    def __init__(self, settings: CommandGateSettings, **kwargs: Any) -> None:
        """Args: the ``[gate.backend]`` settings and :class:`CaptureGate` options."""
        super().__init__(**kwargs)
        self._settings = settings
        self._path_pattern = re.compile(settings.stdout_path_pattern)
        self._token: CaptureToken | None = None
        self._inflight: set[subprocess.Popen[bytes]] = set()
        self._inflight_lock = threading.Lock()

    # -- hooks -----------------------------------------------------------------

    def _peer_open(self) -> None:
        private_dir(self._capture_root)

    def _peer_lock(self, reason: str) -> None:
        self._token = None
        # Again here, under the I/O lock: a capture authorised just before lock() flipped the
        # state may have spawned its program after lock()'s first abort; faults lock this way too.
        self._peer_abort_inflight()
        if self._settings.lock_command:
            self._run("lock", self._settings.lock_command, self._values(None, reason=reason))

    def _peer_unlock(self, token: CaptureToken) -> None:
        private_dir(self.session_dir(token.session_id))
        if self._settings.unlock_command:
            self._run("unlock", self._settings.unlock_command, self._values(token))
        self._token = token

    def _peer_poll(self) -> None:
        if self._settings.status_command:
            self._run("status", self._settings.status_command, self._values(self._token))

    def _peer_abort_inflight(self) -> None:
        with self._inflight_lock:
            running = list(self._inflight)
        for process in running:
            if process.poll() is None:
                process.kill()

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        argv = self._settings.capture_command
        if not argv:
            raise CaptureRefusedError(
                "capture refused: no capture_command is configured for the command gate",
                hint="set [gate.backend] capture_command, or capture with the rig's own software",
            )
        grant = self._authorise_capture(capture_type)
        token = grant.token
        session_dir = self.session_dir(token.session_id)
        watch_dir = self._settings.watch_dir or session_dir
        before = _snapshot(watch_dir) if self._settings.discovery == "folder" else {}
        values = self._values(token, capture_type=capture_type)
        started = self._clock.monotonic()
        with self._io_lock:
            self._authorise_capture(capture_type)
            process = self._spawn_process(argv, values, session_dir)
        try:
            stdout, stderr = process.communicate(timeout=self._settings.capture_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            timed_out = True
        else:
            timed_out = False
        finally:
            with self._inflight_lock:
                self._inflight.discard(process)
        finished = self._clock.monotonic()
        paths = self._discover(stdout, session_dir, watch_dir, before)
        interrupted = self.status().locked
        events = [
            self._reconcile(
                kind="file",
                path=path,
                started_at=started,
                seen_at=finished,
                capture_type=capture_type,
                camera_id=Path(argv[0]).name,
                session_hint=token.session_id,
            )
            for path in paths
        ]
        if interrupted:
            for event in events:
                self._emit(event)
            raise CaptureRefusedError(
                f"capture interrupted: the gate locked while {argv[0]} was running"
                f" ({len(events)} file(s) flagged and quarantined)"
            )
        if timed_out or process.returncode != 0:
            for event in events:
                self._emit(event)
            what = (
                f"timed out after {self._settings.capture_timeout_s:g} s"
                if timed_out
                else f"exited with code {process.returncode}"
            )
            raise GateFaultError(f"capture command {argv[0]} {what}: {_tail(stderr or stdout)}")
        return events

    # -- helpers ---------------------------------------------------------------

    def _values(
        self, token: CaptureToken | None, *, capture_type: str = "", reason: str = ""
    ) -> dict[str, str]:
        session_id = token.session_id if token else ""
        return {
            "session_id": session_id,
            "session_dir": str(self.session_dir(session_id)) if session_id else "",
            "capture_root": str(self._capture_root),
            "capture_type": capture_type,
            "token_id": token.token_id if token else "",
            "performer_id": token.performer_id if token else "",
            "production_id": token.production_id if token else "",
            "reason": reason,
        }

    def _environment(self, values: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({f"SCANGATE_{key.upper()}": value for key, value in values.items()})
        return env

    def _run(self, role: str, argv: list[str], values: dict[str, str]) -> None:
        """Run an unlock/lock/status command; raise GateFaultError unless it exits 0 in time."""
        command = [arg.format_map(values) for arg in argv]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                timeout=self._settings.command_timeout_s,
                env=self._environment(values),
                cwd=self._capture_root,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GateFaultError(
                f"{role} command {command[0]} did not finish within {self._settings.command_timeout_s:g} s",
                hint=_hint(role),
            ) from None
        except OSError as exc:
            raise GateFaultError(
                f"{role} command {command[0]} could not run: {exc}", hint=_hint(role)
            ) from None
        if result.returncode != 0:
            raise GateFaultError(
                f"{role} command {command[0]} exited with code {result.returncode}:"
                f" {_tail(result.stderr or result.stdout)}",
                hint=_hint(role),
            )

    def _spawn_process(self, argv: list[str], values: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        command = [arg.format_map(values) for arg in argv]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._environment(values),
                cwd=cwd,
            )
        except OSError as exc:
            raise GateFaultError(f"capture command {command[0]} could not run: {exc}") from None
        with self._inflight_lock:
            self._inflight.add(process)
        return process

    def _discover(
        self, stdout: bytes, session_dir: Path, watch_dir: Path, before: dict[Path, tuple[int, int]]
    ) -> list[Path]:
        mode = self._settings.discovery
        if mode == "none":
            return []
        if mode == "folder":
            after = _snapshot(watch_dir)
            return sorted(path for path, stamp in after.items() if before.get(path) != stamp)
        found: list[Path] = []
        for line in stdout.decode("utf-8", errors="replace").splitlines():
            match = self._path_pattern.match(line)
            if not match or not match.group("path"):
                continue
            candidate = Path(match.group("path")).expanduser()
            if not candidate.is_absolute():
                candidate = session_dir / candidate
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
        return found


def _snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    """Regular files directly in ``folder`` (not hidden, not quarantine) with (mtime_ns, size)."""
    if not folder.is_dir():
        return {}
    result: dict[Path, tuple[int, int]] = {}
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or entry.name == QUARANTINE_DIR_NAME or not entry.is_file():
            continue
        stat = entry.stat()
        result[Path(entry.path)] = (stat.st_mtime_ns, stat.st_size)
    return result


def _tail(output: bytes) -> str:
    text = output.decode("utf-8", errors="replace").strip()
    if not text:
        return "(no output)"
    return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]


def _hint(role: str) -> str:
    if role == "lock":
        return "the physical rig may still be ARMED: disarm it by hand and check the lock command"
    return "check the configured command and the device it talks to"
