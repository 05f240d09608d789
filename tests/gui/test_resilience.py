"""The screens survive a camera unplug and the loss of the registry, and say what to do."""

from __future__ import annotations

import threading

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.camera.frame import RgbImage
from agent.camera.settings import CameraSettings
from agent.camera.worker import CameraWorker
from agent.errors import CameraError
from agent.session.model import Phase
from gui.app import RigScreens
from gui.bridge import AgentBridge
from gui.preview import PreviewWidget
from gui.widgets import HealthStrip
from registry.demo import DemoEnvironment
from tests.gui.conftest import WAIT_MS


class UnpluggableCamera:
    """A stand-in for a USB camera whose cable can be pulled (the one piece of hardware not here)."""

    label = "usb camera (stand-in)"
    frame_interval_s = 0.02

    def __init__(self) -> None:
        self.plugged = threading.Event()
        self.plugged.set()
        self._closed = threading.Event()
        self._image: RgbImage = np.full((360, 640, 3), 90, np.uint8)

    def open(self) -> None:
        if not self.plugged.is_set():
            raise CameraError("no camera on the USB bus", where=self.label, hint="check the cable")
        self._closed.clear()

    def read(self) -> RgbImage | None:
        if self._closed.wait(self.frame_interval_s):
            return None
        if not self.plugged.is_set():
            raise CameraError("the camera stopped answering", where=self.label, hint="check the cable")
        return self._image.copy()

    def close(self) -> None:
        self._closed.set()


def test_camera_unplug_shows_no_picture_and_recovers(qtbot: QtBot, themed_app: QApplication) -> None:
    camera = UnpluggableCamera()
    bridge = AgentBridge()
    settings = CameraSettings(reconnect_initial_delay_s=0.1, reconnect_max_delay_s=0.3, frame_timeout_s=0.5)

    def reopen() -> UnpluggableCamera:
        camera.open()
        return camera

    worker = CameraWorker(reopen, settings, bridge.post_camera_status, label=camera.label)
    preview = PreviewWidget(worker)
    health = HealthStrip()
    bridge.health_changed.connect(health.show_item)
    bridge.camera_status_changed.connect(preview.set_camera_status)
    for widget in (preview, health):
        qtbot.addWidget(widget)
        widget.show()
    worker.start()
    try:
        qtbot.waitUntil(lambda: preview.frames_shown > 3, timeout=WAIT_MS)
        assert health.pills["camera"].text.text() == "streaming"

        camera.plugged.clear()
        qtbot.waitUntil(lambda: health.pills["camera"].item.tone == "locked", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: preview._image is None, timeout=WAIT_MS)
        assert "Check the camera cable" in health.pills["camera"].toolTip()
        shown = preview.frames_shown

        camera.plugged.set()
        qtbot.waitUntil(lambda: preview.frames_shown > shown + 3, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: health.pills["camera"].text.text() == "streaming", timeout=WAIT_MS)
    finally:
        bridge.close()
        preview.stop()
        worker.stop()


def test_registry_loss_locks_with_a_reason_and_the_console_keeps_working(
    qtbot: QtBot, demo_env: DemoEnvironment, screens: RigScreens
) -> None:
    console, performer, rig = screens.console, screens.performer, screens.rig
    registry_pill = console.health.pills["registry"]
    qtbot.waitUntil(lambda: registry_pill.item.tone == "unlocked", timeout=WAIT_MS)

    demo_env.registry.stop()
    qtbot.waitUntil(lambda: registry_pill.item.tone == "locked", timeout=WAIT_MS)
    assert registry_pill.text.text() == "unreachable"

    qtbot.mouseClick(console.start_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(
        lambda: console.current_snapshot is not None and console.current_snapshot.phase is Phase.LOCKED_FAULT,
        timeout=WAIT_MS,
    )
    assert console.banner.word.text() == "LOCKED"
    assert "registry" in console.banner.reason.text().lower()
    assert rig.gate.status().locked
    assert performer.pages.currentWidget() is performer.info
    assert performer.info.title.text() == "Capture locked"

    qtbot.mouseClick(console.end_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(console.start_button.isEnabled, timeout=WAIT_MS)
