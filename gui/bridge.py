"""The one place where agent events from worker threads become Qt signals.

Agent components call their listeners on their own threads (the session engine
thread, the recognition thread, gate watchdogs, the camera worker). Every such
listener registered by the GUI is a ``post_*`` method of :class:`AgentBridge`,
which only emits one internal signal. The bridge lives on the GUI thread, so Qt
queues that emission and delivers it on the GUI thread, where the bridge keeps
the latest value of each kind and re-emits it on its public signals. So no
widget is ever touched from a worker thread, no worker thread ever waits for the
GUI, and a window opened later starts from the latest values (``latest_*``).

Health probes may do I/O (asking the registry), so :class:`AgentBridge` runs
them on its own daemon thread and emits the answers the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal

from agent.session.snapshot import SessionSnapshot
from gui.health import HealthItem, HealthProbe, camera_health, gate_health

if TYPE_CHECKING:
    from agent.camera.status import CameraStatus
    from agent.gate.base import CaptureGate
    from agent.gate.models import GateStatus
    from agent.session.controller import SessionController
    from agent.session.recognition import RecognitionResult, RecognitionWorker
    from agent.startup import StartupProgress

log = logging.getLogger(__name__)


class AgentBridge(QObject):
    """Turns agent callbacks (any thread) into queued Qt signals (GUI thread).

    Signals carry the agent's own immutable values:

    * ``snapshot_changed(SessionSnapshot)`` after every session change,
    * ``recognition_result(RecognitionResult)`` for every analysed frame (face box),
    * ``camera_status_changed(CameraStatus)``, ``gate_status_changed(GateStatus)``,
    * ``health_changed(HealthItem)`` for each component whose health changed,
    * ``startup_changed(StartupProgress)`` while the rig's parts start (:mod:`agent.startup`).
    """

    snapshot_changed = pyqtSignal(object)
    recognition_result = pyqtSignal(object)
    camera_status_changed = pyqtSignal(object)
    gate_status_changed = pyqtSignal(object)
    health_changed = pyqtSignal(object)
    startup_changed = pyqtSignal(object)
    _posted = pyqtSignal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._closed = threading.Event()
        self._probe_thread: threading.Thread | None = None
        self.latest_snapshot: SessionSnapshot | None = None
        self.latest_health: dict[str, HealthItem] = {}
        self._posted.connect(self._deliver)

    # ---------------------------------------------------------------- wiring

    def connect_controller(self, controller: SessionController) -> None:
        """Listen to the session controller and deliver its current snapshot at once."""
        controller.add_listener(self.post_snapshot)
        self.post_snapshot(controller.snapshot())

    def connect_recognition(self, recognition: RecognitionWorker) -> None:
        """Listen to the recognition worker (face boxes and match results for the preview)."""
        recognition.add_listener(self.post_recognition)

    def connect_gate(self, gate: CaptureGate) -> None:
        """Listen to the capture gate's status changes and deliver its current status."""
        gate.add_status_listener(self.post_gate_status)
        self.post_gate_status(gate.status())

    def start_health_probe(self, probe: HealthProbe, interval_s: float = 2.0) -> None:
        """Call ``probe`` every ``interval_s`` on a daemon thread and emit what it reports."""

        def run() -> None:
            while not self._closed.is_set():
                try:
                    items: Sequence[HealthItem] = probe()
                except Exception as exc:  # a probe must never take the console down
                    log.warning("health probe failed: %s", exc)
                    items = ()
                for item in items:
                    self._post("health", item)
                self._closed.wait(interval_s)

        self._probe_thread = threading.Thread(target=run, name="scangate-gui-health", daemon=True)
        self._probe_thread.start()

    def close(self) -> None:
        """Stop emitting (late callbacks from worker threads are dropped) and stop the probe."""
        self._closed.set()

    # ---------------------------------------------------------------- listeners (any thread)

    def post_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Session controller listener."""
        self._post("snapshot", snapshot)

    def post_recognition(self, result: RecognitionResult) -> None:
        """Recognition worker listener."""
        self._post("recognition", result)

    def post_camera_status(self, status: CameraStatus) -> None:
        """Camera worker ``on_status`` callback."""
        self._post("camera", status)
        self._post("health", camera_health(status))

    def post_gate_status(self, status: GateStatus) -> None:
        """Capture gate status listener."""
        self._post("gate", status)
        self._post("health", gate_health(status))

    def post_health(self, item: HealthItem) -> None:
        """Any component's health line."""
        self._post("health", item)

    def post_startup(self, progress: StartupProgress) -> None:
        """Start-up sequence listener (:class:`agent.startup.StartupSequence`)."""
        self._post("startup", progress)

    # ---------------------------------------------------------------- internals

    def _post(self, kind: str, value: object) -> None:
        if self._closed.is_set():
            return
        try:
            self._posted.emit(kind, value)
        except RuntimeError:  # the bridge was deleted while a worker thread was still reporting
            self._closed.set()

    def _deliver(self, kind: str, value: object) -> None:
        """On the GUI thread: remember the value and emit the public signal."""
        if kind == "snapshot":
            assert isinstance(value, SessionSnapshot)
            self.latest_snapshot = value
            self.snapshot_changed.emit(value)
        elif kind == "health":
            assert isinstance(value, HealthItem)
            if self.latest_health.get(value.component) == value:
                return  # the probe repeats unchanged items every second; the pills need only changes
            self.latest_health[value.component] = value
            self.health_changed.emit(value)
        elif kind == "recognition":
            self.recognition_result.emit(value)
        elif kind == "camera":
            self.camera_status_changed.emit(value)
        elif kind == "gate":
            self.gate_status_changed.emit(value)
        elif kind == "startup":
            self.startup_changed.emit(value)
