"""Loopback HTTP gate API for capture software that ScanGate does not drive itself.

The capture software asks before every capture and reports every file after::

    GET  /v1/gate      -> {"allowed": bool, "reason", "session_id", "capture_types",
                           "token", "lease_expires_in_s", "lease_expires_at", "server_time"}
    POST /v1/captures  <- {"path": "/abs/file", "sha256": "...", "capture_type": "face",
                           "session_id": "...", "token_id": "..."}   (all but path optional)
                       -> 200 + event (inside an unlock window, clean)
                          409 + event (outside a window, type not granted, wrong hash: quarantined)
                          403 + event (not a regular file inside the capture folders: refused
                                       unread, recorded as a refused capture)
                          422 + event (no such file: recorded and flagged)
                          503 + error (the capture could not be kept safely, e.g. its
                                       journal entry failed: the gate is locked)
    GET  /v1/health    -> {"ok": true, "backend": "http_api", "healthy": bool}

``allowed`` is computed at request time from the lease expiry, so it turns
false the moment the lease lapses even if the watchdog thread is dead. If the
agent process is gone the port refuses connections: capture software must
treat any error (refused, timeout, non-200, malformed) as "not allowed".

The server listens on loopback only. With ``require_auth`` (the default) every
request needs ``Authorization: Bearer <token>``; the token lives in a file
created with 0600 permissions, so only the rig's own user can read it.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
import stat
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from agent.durable import write_new_file_atomically
from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureNotKeptError, CaptureRefusedError, GateFaultError
from agent.gate.models import CaptureEvent
from agent.gate.settings import HttpApiGateSettings
from agent.gate.token import SESSION_ID_PATTERN, CaptureToken
from agent.gate.windows import is_within
from agent.private_files import private_dir
from agent.settings_base import StrictModel

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
REQUEST_IDLE_LIMIT_S = 15.0
"""A client connection that sends nothing for this long is closed (a stalled or dead client
must not hold one of the API's threads for ever; capture software asks far more often)."""


class CaptureReport(StrictModel):
    """What capture software reports after writing a file (POST /v1/captures)."""

    path: str = Field(min_length=1, max_length=4096, description="Absolute path of the captured file.")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 the software computed (checked)."
    )
    capture_type: str | None = Field(None, max_length=64, description="Capture type the file belongs to.")
    session_id: str | None = Field(
        None, pattern=SESSION_ID_PATTERN, description="Session the software captured for."
    )
    token_id: str | None = Field(
        None, max_length=64, description="Capture token the software captured under."
    )


def confined_capture_path(reported: str, capture_dirs: list[Path]) -> tuple[Path | None, str | None]:
    """The reported file, if it is a regular file inside one of ``capture_dirs``; else why not.

    The path must be absolute and free of ``..``; it is resolved (symlinks followed)
    and the result must still lie inside a capture folder (also resolved), so a
    link pointing out of the folder is refused like the path it points to.
    """
    path = Path(reported)
    if not path.is_absolute():
        return None, "refused: the reported path is not absolute"
    if ".." in path.parts:
        return None, "refused: the reported path contains '..'"
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, "the reported file does not exist"
    if not is_within(resolved, capture_dirs):
        return None, "refused: the reported file lies outside the configured capture folders"
    try:
        regular = stat.S_ISREG(resolved.stat().st_mode)
    except OSError:
        regular = False
    if not regular:
        return None, "refused: the reported path is not a regular file"
    return resolved, None


class HttpApiGate(CaptureGate):
    """A gate whose peers are local capture programs polling a loopback HTTP API."""

    backend_name: ClassVar[str] = "http_api"

    def __init__(self, settings: HttpApiGateSettings, **kwargs: Any) -> None:
        """Args: the ``[gate.backend]`` settings and :class:`CaptureGate` options."""
        super().__init__(**kwargs)
        self._settings = settings
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._auth_token: str | None = None

    @property
    def url(self) -> str:
        """Base URL of the running API, e.g. ``http://127.0.0.1:54580``."""
        if self._server is None:
            raise GateFaultError("the gate API server is not running")
        address = self._server.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = address[1]
        host_text = f"[{host}]" if ":" in host else host
        return f"http://{host_text}:{port}"

    # -- hooks -----------------------------------------------------------------

    def _peer_open(self) -> None:
        self._auth_token = (
            load_or_create_token(self._settings.auth_token_file) if self._settings.require_auth else None
        )
        handler = type("GateApiHandler", (_Handler,), {"gate": self})
        server_class = _IPv6Server if ":" in self._settings.host else _GateApiServer
        try:
            server = server_class((self._settings.host, self._settings.port), handler)
        except OSError as exc:
            raise GateFaultError(
                f"cannot listen on {self._settings.host}:{self._settings.port}: {exc}",
                hint="another program may use the port; choose another [gate.backend] port",
            ) from None
        server.daemon_threads = True
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="gate-api", daemon=True
        )
        self._server_thread.start()

    def _peer_lock(self, reason: str) -> None:
        """Nothing to send: the API answers from the gate state on every request."""

    def _peer_unlock(self, token: CaptureToken) -> None:
        private_dir(self.session_dir(token.session_id))

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        raise CaptureRefusedError(
            "the http_api gate cannot capture by itself",
            hint="the capture software captures; it asks GET /v1/gate first and reports files",
        )

    def _peer_close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=2)
            self._server_thread = None

    # -- API views -------------------------------------------------------------

    def api_view(self) -> dict[str, Any]:
        """The GET /v1/gate answer; ``allowed`` is computed from the lease expiry right now."""
        with self._state_lock:  # one snapshot, so the fields always agree with "allowed"
            status = self.status()
            grant = self._grant
        remaining = status.lease_expires_in_s
        allowed = not status.locked and status.healthy and remaining is not None and remaining > 0
        return {
            "allowed": allowed,
            "reason": status.reason if allowed or status.locked else "locked: lease lapsed",
            "session_id": status.session_id if allowed else None,
            "capture_types": list(status.capture_types) if allowed else [],
            "token": grant.token.to_wire() if allowed and grant is not None else None,
            "lease_expires_in_s": status.lease_expires_in_s if allowed else None,
            "lease_expires_at": _iso(status.lease_expires_at) if allowed else None,
            "server_time": _iso(self._clock.now()),
        }

    def report_capture(self, report: CaptureReport) -> CaptureEvent:
        """Reconcile a reported file with the unlock windows (quarantining it if flagged).

        A report whose path is not a regular file inside the configured capture
        folders is refused unread (no hash, no move): the event says why, and the
        session's record lists the attempt.

        Raises:
            CaptureNotKeptError: the session could not keep the capture safely (the gate is locked).
        """
        arrived = self._clock.monotonic()
        path, refusal = confined_capture_path(report.path, self._capture_dirs)
        flags: list[str] = [refusal] if refusal else []
        granted = self._types_granted_at(arrived, report.session_id)
        if report.capture_type is not None and granted is not None and report.capture_type not in granted:
            flags.append(f"capture type {report.capture_type!r} was not granted")
        event = self._reconcile(
            kind="file",
            seen_at=arrived,
            path=path,
            capture_type=report.capture_type,
            claimed_sha256=report.sha256,
            session_hint=report.session_id,
            extra_flag="; ".join(flags) or None,
        )
        if event.path is None:
            event = event.model_copy(update={"path": report.path})
        problem = self._emit(event)  # the session journals it durably before this returns
        if problem is not None:
            raise CaptureNotKeptError(f"the capture was not kept safely: {problem}; capture is locked")
        return event

    def _types_granted_at(self, moment: float, session_id: str | None) -> tuple[str, ...] | None:
        with self._state_lock:
            window = self._windows.window_at(moment, session_id=session_id, grace=self._grace)
            grant = self._grant
        if window is None or grant is None or grant.token.token_id != window.token_id:
            return None
        return grant.token.capture_types

    def check_auth(self, header: str | None) -> bool:
        """True when the request may proceed (auth off, or the bearer token matches)."""
        if self._auth_token is None:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), self._auth_token.encode())


class _GateApiServer(ThreadingHTTPServer):
    """The API's server: a client that drops its connection gets one log line, not a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.warning("gate API client %s dropped its connection: %s", client_address[0], error)
            return
        log.error("gate API request from %s failed", client_address[0], exc_info=error)


class _IPv6Server(_GateApiServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    gate: ClassVar[HttpApiGate]
    server_version = "ScanGateGateAPI/1"
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_IDLE_LIMIT_S
    disable_nagle_algorithm = True  # headers and body go out as two writes; avoid the 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gate API %s: " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path == "/v1/gate":
            self._send(HTTPStatus.OK, self.gate.api_view())
        elif self.path == "/v1/health":
            status = self.gate.status()
            self._send(HTTPStatus.OK, {"ok": True, "backend": status.backend, "healthy": status.healthy})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such resource {self.path}"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        if self.path != "/v1/captures":
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such resource {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the body (if any) is not read, so the stream is unusable
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"body must be 1..{MAX_BODY_BYTES} bytes of JSON"})
            return
        try:
            report = CaptureReport.model_validate_json(self.rfile.read(length))
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
            self._send(
                HTTPStatus.UNPROCESSABLE_ENTITY, {"error": "invalid capture report", "problems": problems}
            )
            return
        try:
            event = self.gate.report_capture(report)
        except CaptureNotKeptError as exc:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": exc.what})
            return
        if event.sha256 is None and "refused:" in (event.flag_reason or ""):
            code = HTTPStatus.FORBIDDEN
        elif event.sha256 is None:
            code = HTTPStatus.UNPROCESSABLE_ENTITY
        elif event.flag_reason:
            code = HTTPStatus.CONFLICT
        else:
            code = HTTPStatus.OK
        self._send(code, event.model_dump(mode="json"))

    def _authorised(self) -> bool:
        if self.gate.check_auth(self.headers.get("Authorization")):
            return True
        self._send(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
        return False

    def _send(self, code: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def load_or_create_token(path: Path) -> str:
    """Read the API bearer token, creating the file (random token, mode 0600) when missing.

    Raises:
        GateFaultError: the file cannot be created or read, is empty, or is
            readable by other users.
    """
    try:
        private_dir(path.parent)
        if not path.exists():
            # Complete or absent, never empty: a start that fails here (a full disk) or a second
            # start at the same moment cannot leave a file that refuses every later start.
            write_new_file_atomically(path, (secrets.token_urlsafe(32) + "\n").encode("ascii"), 0o600)
    except OSError as exc:
        raise GateFaultError(f"cannot create the gate API token file: {exc}", where=str(path)) from None
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise GateFaultError(f"cannot read the gate API token file: {exc}", where=str(path)) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise GateFaultError(
            "the gate API token file is readable by other users",
            where=str(path),
            hint=f"run: chmod 600 {path}",
        )
    if len(text) < 16:
        raise GateFaultError(
            "the gate API token file holds no usable token (16+ characters)", where=str(path)
        )
    return text


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
