"""The console names nobody before a session is open (issue 11, finding 4).

The real demo rig and both windows: before the technician starts a session the
preview may box the face in view, but its label, the identity card and the event
list show no name, performer id or match distance; once a session is open the
performer is identified as before.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent.faces.decision import Decision
from agent.session.recognition import RecognitionResult
from gui.app import RigScreens
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME
from tests.gui.conftest import WAIT_MS

FRAMES_OUTSIDE = 4


def test_the_console_names_nobody_before_a_session_and_the_performer_once_one_is_open(
    qtbot: QtBot, screens: RigScreens
) -> None:
    console = screens.console
    delivered: list[RecognitionResult] = []
    labels: list[str] = []

    def seen(result: RecognitionResult) -> None:
        delivered.append(result)
        label = console.preview.box_label()
        if label is not None:
            labels.append(label)

    screens.bridge.recognition_result.connect(seen)
    qtbot.waitUntil(lambda: len(labels) >= FRAMES_OUTSIDE, timeout=WAIT_MS)

    assert set(labels) == {"Face in view"}
    assert all(r.analysis.decision in (Decision.FACE_IN_VIEW, Decision.NO_FACE) for r in delivered)
    assert console.identity_name.text() == "Nobody yet"
    assert "distance" not in console.match_detail.text()
    shown = [item.text() for i in range(console.events.count()) if (item := console.events.item(i))]
    assert not any(STAND_IN_NAME in line or STAND_IN_ID in line for line in shown), shown

    qtbot.mouseClick(console.start_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: console.identity_name.text() == STAND_IN_NAME, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: STAND_IN_NAME in labels[-1], timeout=WAIT_MS)
