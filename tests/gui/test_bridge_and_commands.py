"""The bridge delivers worker-thread events on the GUI thread; commands load Qt only when they open windows."""

from __future__ import annotations

import subprocess
import sys
import threading

from PyQt6.QtCore import QThread
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.camera.status import CameraState, CameraStatus
from gui.bridge import AgentBridge
from gui.health import HealthItem
from tests.conftest import REPO_ROOT


def test_events_from_a_worker_thread_arrive_on_the_gui_thread(qtbot: QtBot, themed_app: QApplication) -> None:
    bridge = AgentBridge()
    seen: list[tuple[str, bool]] = []
    bridge.health_changed.connect(
        lambda item: seen.append((item.text, QThread.currentThread() is themed_app.thread()))
    )
    status = CameraStatus(CameraState.STREAMING, "streaming from camera 0", "camera 0")
    worker = threading.Thread(target=bridge.post_camera_status, args=(status,))
    worker.start()
    worker.join()
    assert seen == []  # queued: nothing ran on the worker thread
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5000)
    assert seen == [("streaming", True)]
    assert bridge.latest_health["camera"].text == "streaming"


def test_a_closed_bridge_drops_late_events(qtbot: QtBot, themed_app: QApplication) -> None:
    bridge = AgentBridge()
    seen: list[HealthItem] = []
    bridge.health_changed.connect(seen.append)
    bridge.close()
    bridge.post_health(HealthItem("gate", "locked", "fault"))
    qtbot.wait(50)
    assert seen == []


def test_an_unchanged_health_item_is_not_emitted_again(qtbot: QtBot, themed_app: QApplication) -> None:
    bridge = AgentBridge()
    seen: list[HealthItem] = []
    bridge.health_changed.connect(seen.append)
    fault = HealthItem("gate", "locked", "fault")
    for item in (fault, fault, HealthItem("gate", "unlocked", "locked"), fault):
        bridge.post_health(item)
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5000)
    qtbot.wait(50)
    assert [item.text for item in seen] == ["fault", "locked", "fault"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nfrom agent.cli.main import main\n"
        f"status = main({list(args)!r})\n"
        "print('QT-LOADED' if any(m.startswith('PyQt6') for m in sys.modules) else 'NO-QT')\n"
        "sys.exit(status)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_headless_demo_never_loads_qt() -> None:
    result = run_cli("demo", "--headless", "--scenario", "no-such-scenario")
    assert "NO-QT" in result.stdout
    assert "unknown scenario 'no-such-scenario'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode == 2


def test_help_of_the_window_commands_loads_no_qt() -> None:
    for command in ("run", "review", "demo"):
        result = run_cli(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "NO-QT" in result.stdout
