"""``[screens] performer_output``: the performer screen goes full-screen on the touchscreen named in the config.

The absent-output case runs in this process (offscreen: one unnamed screen). Two named
outputs need their own Qt platform, so that case runs :mod:`tests.gui.two_screens_probe` in a
child process under Qt's offscreen platform configured with two screens ("eDP-1" for the
console, "HDMI-2" for the touchscreen), with the same real demo rig and windows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent.rig import Rig
from gui.app import open_screens
from registry.demo import DemoEnvironment
from tests.conftest import REPO_ROOT


def test_an_absent_touchscreen_output_is_said_on_the_console_and_the_performer_screen_stays_hidden(
    qtbot: QtBot, themed_app: object, demo_env: DemoEnvironment, tmp_path: Path
) -> None:
    config = demo_env.config
    config = config.model_copy(
        update={"screens": config.screens.model_copy(update={"performer_output": "HDMI-2"})}
    )
    rig = Rig.from_config(config)
    opened = open_screens(rig)
    try:
        opened.show()
        notice = opened.console.screen_notice
        assert opened.console.isVisible()
        assert notice.isVisible()
        assert "PERFORMER TOUCHSCREEN NOT FOUND" in notice.title.text()
        assert "“HDMI-2”" in notice.title.text()
        assert "connected now: an unnamed screen (" in notice.text.text()
        assert "capture stays locked" in notice.text.text()
        assert not opened.performer.isVisible(), "no performer screen over the console, nor hidden behind it"
        opened.console.grab().save(str(tmp_path / "console-touchscreen-missing.png"))

        qtbot.mouseClick(opened.console.performer_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
        assert opened.performer.isVisible()
        assert not opened.performer.isFullScreen(), "asked for by hand: an ordinary window on this screen"
        assert notice.isVisible(), "the touchscreen is still missing"
    finally:
        opened.close()
        rig.stop()


def test_without_the_setting_one_screen_shows_the_performer_screen_as_a_window(
    qtbot: QtBot, themed_app: object, demo_env: DemoEnvironment
) -> None:
    rig = Rig.from_config(demo_env.config)
    opened = open_screens(rig)
    try:
        opened.show()
        assert opened.performer.isVisible() and not opened.performer.isFullScreen()
        assert not opened.console.screen_notice.isVisible()
    finally:
        opened.close()
        rig.stop()


def test_the_performer_screen_goes_full_screen_on_the_configured_output_and_follows_it(
    tmp_path: Path,
) -> None:
    screens = tmp_path / "screens.json"
    screens.write_text(
        json.dumps(
            {
                "screens": [
                    {"name": "HDMI-2", "x": 1280, "y": 0, "width": 1024, "height": 600},
                    {"name": "eDP-1", "x": 0, "y": 0, "width": 1280, "height": 800},
                ]
            }
        ),
        encoding="utf-8",
    )
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={screens}", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "tests.gui.two_screens_probe", str(tmp_path / "demo"), "HDMI-2"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    states = json.loads(result.stdout.splitlines()[-1])
    assert sorted(states["screens"]) == ["HDMI-2", "eDP-1"]

    started = states["started"]
    assert started["performer_fullscreen"] and started["performer_screen"] == "HDMI-2"
    assert started["performer_geometry"] == [1280, 0, 1024, 600]
    assert started["console_screen"] == "eDP-1", "the console is not under the performer screen"
    assert not started["notice_visible"]

    unplugged = states["touchscreen_removed"]
    assert not unplugged["performer_visible"], "not moved full-screen over the console"
    assert unplugged["notice_visible"] and "“HDMI-2”" in unplugged["notice_title"]

    plugged = states["touchscreen_added"]
    assert plugged["performer_fullscreen"] and plugged["performer_screen"] == "HDMI-2"
    assert not plugged["notice_visible"]
