"""Real peers on loopback for the gate backends (shared by tests and tests/benchmarks/bench_gate.py).

* :class:`FakeTriggerBox` — firmware emulator behind a real pseudo-terminal
  (``os.openpty``): the gate opens the slave side by path through pyserial.
* :class:`FakeSmartShooter` — a small Smart Shooter External API server using
  real pyzmq REP and (X)PUB sockets on 127.0.0.1 random ports.
* ``fake_rig.py`` (next to this file) — a real program for the command backend.

Each peer timestamps its state changes with ``time.monotonic()`` so the
benchmark can measure when the peer itself saw the lock.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

FAKE_RIG = Path(__file__).with_name("fake_rig.py")


def fake_rig_argv(state_dir: Path, action: str, *extra: str) -> list[str]:
    """Command line running ``fake_rig.py`` with this interpreter."""
    return [sys.executable, str(FAKE_RIG), str(state_dir), action, *extra]


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value (tests assert it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --------------------------------------------------------------------------- TriggerBox


@dataclass
class FakeTriggerBox:
    """ESPER TriggerBox firmware behaviour on a pty: s/f masks, F0/F1, S, G, V, O, tenFour."""

    outputs: int = 6
    shutter: str = ""
    focus: str = ""
    eeprom_shutter: str | None = None
    fired: list[str] = field(default_factory=list)
    changes: list[tuple[float, str]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    silent: bool = False

    def __post_init__(self) -> None:
        self.shutter = self.shutter or "1" * self.outputs  # a fresh box fires everything
        self.focus = self.focus or "1" * self.outputs
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fake-triggerbox", daemon=True)
        self._thread.start()

    @property
    def locked(self) -> bool:
        """True when no shutter output is enabled."""
        with self._lock:
            return "1" not in self.shutter

    def set_shutter_by_hand(self, mask: str) -> None:
        """Simulate another program (or the vendor GUI) changing the mask."""
        with self._lock:
            self.shutter = mask
            self.changes.append((time.monotonic(), mask))

    def press_trigger_input(self) -> bool:
        """Simulate the box's hardware trigger input; True when any camera fired."""
        with self._lock:
            fired = "1" in self.shutter
            if fired:
                self.fired.append(self.shutter)
            return fired

    def unplug(self) -> None:
        """Simulate pulling the USB cable: the master side goes away."""
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        self._master = -1

    def close(self) -> None:
        """Stop the emulator and close both ends of the pty."""
        if self._master >= 0:
            self.unplug()
        os.close(self._slave)

    def _reply(self, text: str) -> None:
        os.write(self._master, (text + "\r\n").encode("ascii"))

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 1024)
            except OSError:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._handle(line.decode("ascii", errors="replace").strip())

    def _handle(self, command: str) -> None:
        self.received.append(command)
        if self.silent or not command:
            return
        head, arg = command[0], command[1:]
        with self._lock:
            if head == "S":
                if "1" in self.shutter:
                    self.fired.append(self.shutter)
                return  # the real box prints nothing for S
            if head in "sf" and len(arg) == self.outputs and set(arg) <= {"0", "1"}:
                if head == "s":
                    self.shutter = arg
                    self.changes.append((time.monotonic(), arg))
                else:
                    self.focus = arg
                self._reply("tenFour")
            elif head == "F" and arg in ("0", "1"):
                self._reply("tenFour")
            elif head == "G":
                self._reply(
                    "ShutterArray:[" + " ".join("EN" if c == "1" else "DIS" for c in self.shutter) + " ]"
                )
            elif head == "V":
                self._reply("FocusArray:[" + " ".join("EN" if c == "1" else "DIS" for c in self.focus) + " ]")
            elif head == "O":
                self.eeprom_shutter = self.shutter
                self._reply("tenFour")
            else:
                self._reply("?")


# --------------------------------------------------------------------------- Smart Shooter


class FakeSmartShooter:
    """Smart Shooter External API: REP request server + XPUB event publisher on 127.0.0.1."""

    def __init__(self, download_dir: Path, camera_keys: tuple[str, ...] = ("CAM-A", "CAM-B")) -> None:
        self.download_dir = download_dir
        self.cameras = {key: "Disconnected" for key in camera_keys}
        self.requests: list[dict[str, Any]] = []
        self.changes: list[tuple[float, str]] = []
        self.unresponsive = False
        self._photo_number = 0
        self._lock = threading.Lock()
        self._context = zmq.Context()
        self._rep = self._context.socket(zmq.REP)
        self._pub = self._context.socket(zmq.XPUB)
        for socket in (self._rep, self._pub):
            socket.setsockopt(zmq.LINGER, 0)
        rep_port = self._rep.bind_to_random_port("tcp://127.0.0.1")
        pub_port = self._pub.bind_to_random_port("tcp://127.0.0.1")
        self.request_endpoint = f"tcp://127.0.0.1:{rep_port}"
        self.event_endpoint = f"tcp://127.0.0.1:{pub_port}"
        self._subscribers = 0
        self._event_seq = 0
        self._outbox: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-smartshooter", daemon=True)
        self._thread.start()

    @property
    def all_disconnected(self) -> bool:
        """True when no camera is connected (the gate's peer-side lock)."""
        with self._lock:
            return all(state != "Ready" for state in self.cameras.values())

    @property
    def subscribers(self) -> int:
        """How many event subscribers are connected."""
        return self._subscribers

    def reconnect_by_hand(self) -> None:
        """Simulate the technician connecting all cameras in the Smart Shooter window."""
        with self._lock:
            for key in self.cameras:
                self.cameras[key] = "Ready"
            self.changes.append((time.monotonic(), "connected"))

    def camera_button_photo(self, camera: str = "CAM-A") -> Path:
        """Simulate a photo taken with the camera's own button and downloaded by Smart Shooter."""
        with self._lock:
            return self._new_photo(camera, origin="camera")

    def close(self) -> None:
        """Stop the server and close its sockets."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._rep.close(linger=0)
        self._pub.close(linger=0)
        self._context.term()

    def _new_photo(self, camera: str, origin: str) -> Path:
        self._photo_number += 1
        key = f"photo-{self._photo_number:04d}"
        path = self.download_dir / f"{camera}_{self._photo_number:04d}.jpg"
        base = {"PhotoKey": key, "CameraKey": camera, "PhotoOrigin": origin, "PhotoFilename": ""}
        self._queue_event({**base, "PhotoLocation": "Camera"})
        path.write_bytes(b"\xff\xd8fake jpeg " + key.encode() + b"\xff\xd9")
        self._queue_event({**base, "PhotoLocation": "Local Disk", "PhotoFilename": str(path)})
        return path

    def _queue_event(self, fields: dict[str, Any]) -> None:
        self._event_seq += 1
        self._outbox.append(
            {"msg_type": "Event", "msg_id": "PhotoUpdated", "msg_seq_num": self._event_seq, **fields}
        )

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._rep, zmq.POLLIN)
        poller.register(self._pub, zmq.POLLIN)
        while not self._stop.is_set():
            ready = dict(poller.poll(20))
            if self._pub in ready:
                message = self._pub.recv()
                if message[:1] == b"\x01":
                    self._subscribers += 1
                elif message[:1] == b"\x00":
                    self._subscribers -= 1
            if self._rep in ready:
                request = json.loads(self._rep.recv().decode("utf-8"))
                self.requests.append(request)
                if self.unresponsive:
                    self._stop.wait(60)  # never answers: the REQ side must time out
                    return
                with self._lock:
                    reply = self._answer(request)
                self._rep.send_string(json.dumps(reply))
            with self._lock:
                outbox, self._outbox = self._outbox, []
            for event in outbox:
                self._pub.send_string(json.dumps(event))

    def _selected(self, request: dict[str, Any]) -> list[str]:
        mode = request.get("CameraSelection")
        if mode == "All":
            return list(self.cameras)
        if mode == "Single":
            return [request["CameraKey"]] if request.get("CameraKey") in self.cameras else []
        if mode == "Multiple":
            return [key for key in request.get("CameraKeys", []) if key in self.cameras]
        return []

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        msg_id = request.get("msg_id")
        reply: dict[str, Any] = {
            "msg_type": "Response",
            "msg_id": msg_id,
            "msg_seq_num": request.get("msg_seq_num"),
        }
        ok = request.get("msg_type") == "Request"
        if msg_id in ("Connect", "Disconnect"):
            selected = self._selected(request)
            for key in selected:
                self.cameras[key] = "Ready" if msg_id == "Connect" else "Disconnected"
            self.changes.append((time.monotonic(), "connected" if msg_id == "Connect" else "disconnected"))
            ok = ok and bool(selected)
        elif msg_id == "GetCamera":
            reply["CameraInfo"] = [
                {"CameraKey": key, "CameraStatus": self.cameras[key]} for key in self._selected(request)
            ]
        elif msg_id == "Shoot":
            selected = [key for key in self._selected(request) if self.cameras[key] == "Ready"]
            for key in selected:
                self._new_photo(key, origin=str(request.get("PhotoOrigin", "")))
            ok = ok and bool(selected)
        else:
            ok = False
        reply["msg_result"] = ok
        return reply
