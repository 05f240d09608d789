"""Smart Shooter backend: the External API (ZeroMQ + JSON) of Kuvacode's Smart Shooter.

Protocol (Smart Shooter External API documentation, v5.x): requests go to a
REQ/REP server (default ``tcp://127.0.0.1:54544``), events come from a
publisher (default ``tcp://127.0.0.1:54543``). Every message carries
``msg_type`` ("Request"/"Response"/"Event"), ``msg_id`` and ``msg_seq_num``
(echoed in the response); responses carry ``msg_result`` (older versions:
``Result``). Camera requests take ``CameraSelection`` = All / Single
(``CameraKey``) / Multiple (``CameraKeys``) / Group (``CameraGroup``).
``PhotoUpdated`` events carry ``PhotoKey``, ``PhotoLocation`` ("Camera",
"Local Disk", ...), ``PhotoFilename`` (full path), ``PhotoOrigin`` and
``CameraKey``.

What the gate can and cannot enforce at the peer:

* Smart Shooter has no "lock". ``EngageLatch``/``ReleaseLatch`` are *not* a
  lock: a latch half-presses the shutters so that a later release fires all
  cameras in sync. Using it as a lock would arm the rig, the opposite of safe.
* ``lock_mode = "disconnect"`` (default): lock sends ``Disconnect`` for the
  configured cameras, unlock sends ``Connect``; Shoot is refused while locked;
  the health check re-sends ``Disconnect`` if a locked camera shows up
  connected (someone reconnected it in the Smart Shooter window). A camera's
  own shutter button still works on a disconnected camera; such photos stay on
  its card and are flagged if they ever arrive through Smart Shooter.
* ``lock_mode = "refuse_only"``: only ScanGate's own Shoot is gated.
* Smart Shooter holds no timer: if the agent process dies or freezes, the lease
  guardian process (:mod:`agent.gate.guardian`) disconnects the cameras
  (``disconnect`` mode). Every photo that arrives outside an unlock window is
  flagged and, when its file is local and inside a capture folder, quarantined.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import zmq

from agent.gate.base import CaptureGate
from agent.gate.errors import GateFaultError
from agent.gate.models import CaptureEvent
from agent.gate.settings import SmartShooterGateSettings
from agent.gate.token import CaptureToken
from agent.private_files import private_dir

log = logging.getLogger(__name__)

PHOTO_ORIGIN = "scangate"
LOCAL_DISK = "Local Disk"
CONNECTED_STATES = frozenset({"Ready", "Busy"})
_EVENT_POLL_MS = 100


@dataclass
class _PhotoSeen:
    first_seen: float
    file_reported: bool


class SmartShooterGate(CaptureGate):
    """A gate whose peer is Smart Shooter's External API."""

    backend_name: ClassVar[str] = "smartshooter"

    def __init__(self, settings: SmartShooterGateSettings, **kwargs: Any) -> None:
        """Args: the ``[gate.backend]`` settings and :class:`CaptureGate` options."""
        super().__init__(**kwargs)
        self._settings = settings
        self._context = zmq.Context()
        self._req: zmq.Socket[bytes] | None = None
        self._seq = 0
        self._photos: dict[str, _PhotoSeen] = {}
        self._events_stop = threading.Event()
        self._events_thread: threading.Thread | None = None
        self._subscribed = threading.Event()

    # -- hooks -----------------------------------------------------------------

    def _peer_open(self) -> None:
        self._open_request_socket()
        self._events_stop = threading.Event()
        self._subscribed.clear()
        self._events_thread = threading.Thread(
            target=self._event_loop, args=(self._events_stop,), name="smartshooter-events", daemon=True
        )
        self._events_thread.start()
        self._subscribed.wait(self._settings.request_timeout_s)
        self._request("GetCamera", selection=True)

    def _peer_lock(self, reason: str) -> None:
        if self._settings.lock_mode == "disconnect":
            self._request("Disconnect", selection=True)

    def _peer_unlock(self, token: CaptureToken) -> None:
        private_dir(self.session_dir(token.session_id))
        if self._settings.lock_mode == "disconnect":
            self._request("Connect", selection=True)

    def _peer_poll(self) -> None:
        reply = self._request("GetCamera", selection=True)
        if self._settings.lock_mode != "disconnect" or not self.status().locked:
            return
        cameras = reply.get("CameraInfo") or []
        armed = [
            str(info.get("CameraKey"))
            for info in cameras
            if isinstance(info, dict) and info.get("CameraStatus") in CONNECTED_STATES
        ]
        if armed:
            log.warning("Smart Shooter cameras %s are connected while locked; disconnecting them", armed)
            self._request("Disconnect", selection=True)

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        return self._fire(
            capture_type,
            lambda: self._request("Shoot", selection=True, PhotoOrigin=PHOTO_ORIGIN),
            camera_id=f"smartshooter:{self._settings.camera_selection}",
        )

    def lock_peer_standalone(self, reason: str) -> None:
        """Only the request socket is needed to disconnect the cameras."""
        self._open_request_socket()
        self._peer_lock(reason)

    def _peer_close(self) -> None:
        self._events_stop.set()
        if self._events_thread is not None and self._events_thread is not threading.current_thread():
            self._events_thread.join(timeout=2)
        self._events_thread = None
        if self._req is not None:
            self._req.close(linger=0)
            self._req = None

    def close(self) -> None:
        """Lock, stop, and terminate the ZeroMQ context."""
        super().close()
        if not self._context.closed:
            self._context.term()

    # -- requests ----------------------------------------------------------------

    def _open_request_socket(self) -> None:
        if self._req is not None:
            self._req.close(linger=0)
        timeout_ms = int(self._settings.request_timeout_s * 1000)
        socket = self._context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
        socket.setsockopt(zmq.SNDTIMEO, timeout_ms)
        socket.connect(self._settings.request_endpoint)
        self._req = socket

    def _selection_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"CameraSelection": self._settings.camera_selection}
        if self._settings.camera_selection == "Single":
            fields["CameraKey"] = self._settings.camera_keys[0]
        elif self._settings.camera_selection == "Multiple":
            fields["CameraKeys"] = list(self._settings.camera_keys)
        elif self._settings.camera_selection == "Group":
            fields["CameraGroup"] = self._settings.camera_group
        return fields

    def _request(self, msg_id: str, *, selection: bool = False, **fields: Any) -> dict[str, Any]:
        """Send one request and check its response; GateFaultError on timeout or failure."""
        if self._req is None:
            raise GateFaultError("Smart Shooter request socket is not open")
        self._seq += 1
        message: dict[str, Any] = {"msg_type": "Request", "msg_id": msg_id, "msg_seq_num": self._seq}
        if selection:
            message.update(self._selection_fields())
        message.update(fields)
        try:
            self._req.send_string(json.dumps(message))
            raw = self._req.recv()
        except zmq.Again:
            self._open_request_socket()  # a REQ socket without its reply is stuck; start afresh
            raise GateFaultError(
                f"Smart Shooter did not answer {msg_id} within {self._settings.request_timeout_s:g} s"
                f" ({self._settings.request_endpoint})",
                hint="start Smart Shooter and enable its External API (Options > External API)",
            ) from None
        except zmq.ZMQError as exc:
            self._open_request_socket()
            raise GateFaultError(f"Smart Shooter request {msg_id} failed: {exc}") from None
        try:
            reply = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise GateFaultError(f"Smart Shooter sent a malformed reply to {msg_id}") from None
        if (
            not isinstance(reply, dict)
            or reply.get("msg_id") != msg_id
            or reply.get("msg_seq_num") != self._seq
        ):
            raise GateFaultError(f"Smart Shooter reply does not match request {msg_id} #{self._seq}")
        result = reply.get("msg_result", reply.get("Result"))
        if result is not True:
            raise GateFaultError(f"Smart Shooter refused {msg_id} (msg_result={result!r})")
        return reply

    # -- events ----------------------------------------------------------------

    def _event_loop(self, stop: threading.Event) -> None:
        socket = self._context.socket(zmq.SUB)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SUBSCRIBE, b"")
            socket.connect(self._settings.event_endpoint)
            self._subscribed.set()
            poller = zmq.Poller()
            poller.register(socket, zmq.POLLIN)
            while not stop.is_set():
                if not poller.poll(_EVENT_POLL_MS):
                    continue
                raw = socket.recv()
                try:
                    self._handle_event(raw)
                except Exception:
                    log.exception("cannot handle Smart Shooter event")
        except zmq.ZMQError as exc:
            if not stop.is_set():
                self._fault(exc, during="event subscription")
        finally:
            socket.close(linger=0)

    def _handle_event(self, raw: bytes) -> None:
        try:
            event = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring malformed Smart Shooter event")
            return
        if not isinstance(event, dict) or event.get("msg_id") != "PhotoUpdated":
            return
        key = event.get("PhotoKey")
        if not isinstance(key, str) or not key:
            return
        now = self._clock.monotonic()
        filename = event.get("PhotoFilename")
        local = (
            event.get("PhotoLocation") == LOCAL_DISK
            and isinstance(filename, str)
            and bool(filename)
            and Path(filename).is_file()
        )
        seen = self._photos.get(key)
        if seen is None:
            seen = self._photos[key] = _PhotoSeen(first_seen=now, file_reported=False)
        elif seen.file_reported or not local:
            return  # already recorded this photo (renames, re-downloads ... are not new captures)
        seen.file_reported = local
        camera = event.get("CameraKey")
        captured = self._reconcile(
            kind="file" if local else "photo",
            seen_at=seen.first_seen,
            path=Path(filename) if local and isinstance(filename, str) else None,
            camera_id=camera if isinstance(camera, str) else None,
            photo_id=key,
        )
        self._emit(captured)
