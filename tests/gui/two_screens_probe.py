"""Child process of tests/gui/test_performer_output.py: the real windows on two named screens.

Run with ``QT_QPA_PLATFORM=offscreen:configfile=SCREENS.json`` (Qt's offscreen platform with
several named screens): ``python -m tests.gui.two_screens_probe DEMO_DIR OUTPUT``. Prepares a
demo rig configured with ``[screens] performer_output = OUTPUT``, opens the console and the
performer screen, then tells Qt the touchscreen went away and came back (the signals Qt emits
on hot-plug, with the real screen object). Prints one JSON line: where the windows were after
each step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QApplication, QWidget

from agent.rig import Rig
from gui.app import RigScreens, ensure_app, open_screens
from registry.demo import prepare_demo


def _screen_name(window: QWidget) -> str:
    handle = window.windowHandle()
    screen = handle.screen() if handle is not None else None
    return screen.name() if screen is not None else ""


def _state(screens: RigScreens) -> dict[str, object]:
    QApplication.processEvents()
    performer, notice = screens.performer, screens.console.screen_notice
    geometry = performer.geometry()
    return {
        "performer_visible": performer.isVisible(),
        "performer_fullscreen": performer.isVisible() and performer.isFullScreen(),
        "performer_screen": _screen_name(performer),
        "performer_geometry": [geometry.x(), geometry.y(), geometry.width(), geometry.height()],
        "console_screen": _screen_name(screens.console),
        "notice_visible": notice.isVisible(),
        "notice_title": notice.title.text(),
    }


def main(demo_dir: Path, output: str) -> None:
    """Open the screens with ``output`` as the touchscreen and print where the windows went."""
    app = ensure_app()
    environment = prepare_demo(demo_dir)
    try:
        config = environment.config
        config = config.model_copy(
            update={"screens": config.screens.model_copy(update={"performer_output": output})}
        )
        rig = Rig.from_config(config, synthetic_liveness=True)
        screens = open_screens(rig)
        try:
            screens.show()
            states: dict[str, object] = {
                "screens": [screen.name() for screen in QGuiApplication.screens()],
                "started": _state(screens),
            }
            touchscreen = next(screen for screen in QGuiApplication.screens() if screen.name() == output)
            app.screenRemoved.emit(touchscreen)
            states["touchscreen_removed"] = _state(screens)
            app.screenAdded.emit(touchscreen)
            states["touchscreen_added"] = _state(screens)
        finally:
            screens.close()
            rig.stop()
    finally:
        environment.close()
    print(json.dumps(states))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
