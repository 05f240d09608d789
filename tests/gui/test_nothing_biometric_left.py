"""After a whole GUI session: no face data in the logs, none at rest outside the captures.

The GUI demo runs the real rig (embedded registry, stand-in camera, identification
process, gate, signed log). Every log record any module emits during a session
that identifies, confirms and captures is collected at DEBUG level and must not
carry the performer's name, a match distance or a face encoding; after the
windows close and the rig stops, the demo's folder and the user's data folders
must hold no face template and no frame outside the capture folder.
"""

from __future__ import annotations

import logging
import re

import pytest
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from registry.demo import DemoEnvironment
from registry.demo.environment import STAND_IN_NAME
from tests.biometric_scan import demo_leftovers
from tests.gui.conftest import WAIT_MS, start_screens, stop_screens
from tests.gui.test_session_flow import click, start_and_await_terms

_VECTOR = re.compile(r"(-?\d\.\d{3,}\s*,\s*){8,}")


def test_a_whole_session_logs_nothing_biometric_and_leaves_nothing_biometric_on_disk(
    qtbot: QtBot, themed_app: QApplication, demo_env: DemoEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    screens = start_screens(demo_env)
    try:
        start_and_await_terms(qtbot, screens, "face")
        snapshot = screens.console.current_snapshot
        assert snapshot is not None
        click(qtbot, screens.performer.terms.confirm_button)
        qtbot.waitUntil(screens.console.capture_button.isEnabled, timeout=WAIT_MS)
        click(qtbot, screens.console.capture_button)
        qtbot.waitUntil(
            lambda: (
                screens.console.current_snapshot is not None
                and screens.console.current_snapshot.captures == 1
            ),
            timeout=WAIT_MS,
        )
        click(qtbot, screens.console.end_button)
        qtbot.waitUntil(lambda: screens.rig.gate.status().locked, timeout=WAIT_MS)
    finally:
        stop_screens(screens)
        demo_env.close()

    record = next(line for line in demo_env.config.records.log_path.read_text().splitlines())
    distance = re.search(r'"distance":([0-9.]+)', record)
    assert distance is not None, "the record keeps the match distance (and nothing else of the face)"
    messages = [r.getMessage() for r in caplog.records]
    assert messages, "the session logged nothing at all: the check would prove nothing"
    for message in messages:
        assert STAND_IN_NAME not in message, message
        assert distance.group(1) not in message, message
        assert not _VECTOR.search(message), message

    out_dir = demo_env.out_dir
    found = demo_leftovers(out_dir)
    assert found == [], "\n".join(map(str, found))
    assert list((out_dir / "captures").rglob("*.png")), "the capture itself is kept"
