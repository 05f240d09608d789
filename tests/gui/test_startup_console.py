"""The console is shown before the rig's parts start: honest about it, locked, and loud when a part fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.startup import PartProgress, PartState, StartupFailure, StartupProgress
from gui.app import RigScreens, StartupFailedError, launch_screens, open_starting_screens
from gui.console import ConsoleContext
from registry.demo.launch import LIVENESS, PRODUCTION_ID, RIG_ID, RIG_NAME, DemoLaunch
from tests.gui.conftest import TECHNICIAN, WAIT_MS

CONTEXT = ConsoleContext(
    rig_id=RIG_ID, rig_name=RIG_NAME, production=PRODUCTION_ID, technician=TECHNICIAN, liveness=LIVENESS
)


def _progress(*states: PartState, failure: StartupFailure | None = None) -> StartupProgress:
    labels = ("Demo consent registry (embedded)", "Signed log, capture gate and camera", "Face models")
    return StartupProgress(
        tuple(
            PartProgress(f"p{i}", label, state)
            for i, (label, state) in enumerate(zip(labels, states, strict=True))
        ),
        failure,
    )


@pytest.fixture
def screens(themed_app: QApplication, qtbot: QtBot) -> Iterator[RigScreens]:
    """Both windows, opened in their starting state (no rig yet), closed afterwards."""
    opened = open_starting_screens(CONTEXT, None, technician=TECHNICIAN)
    qtbot.addWidget(opened.console)
    qtbot.addWidget(opened.performer)
    yield opened
    opened.close()


def test_while_starting_nothing_that_needs_the_engine_is_offered(screens: RigScreens, qtbot: QtBot) -> None:
    console = screens.console
    console.show_startup(_progress(PartState.READY, PartState.STARTING, PartState.WAITING))
    screens.show()
    qtbot.waitExposed(console)

    for control in (
        console.start_button,
        console.end_button,
        console.fallback_button,
        console.capture_button,
    ):
        assert not control.isEnabled(), control.text()
    assert not console.review_button.isEnabled()
    assert not any(chip.isEnabled() for chip in console.type_chips.values())
    assert console.banner.word.text() == "LOCKED"
    assert console.windowTitle() == f"Technician console — {RIG_NAME} — starting… — ScanGate"
    assert "Starting: signed log, capture gate and camera." in console.banner.reason.text()
    assert "Capture stays locked" in console.banner.reason.text()
    assert console.startup.isVisible()
    states = {row[1].text(): row[2].text() for row in console.startup.rows.values()}
    assert states == {
        "Demo consent registry (embedded)": "ready",
        "Signed log, capture gate and camera": "starting…",
        "Face models": "waiting",
    }
    assert {pill.text.text() for pill in console.health.pills.values()} == {"starting…"}
    # The keyboard shortcut and the performer's taps reach no engine: nothing to start or confirm.
    assert screens.commands.start_session(TECHNICIAN, frozenset({"face"})) == ""
    assert not screens.attached


def test_a_failed_part_is_named_with_what_to_do_and_capture_stays_locked(screens: RigScreens) -> None:
    console = screens.console
    failure = StartupFailure(
        "Demo consent registry (embedded)", "/x: the database is locked", "close the other demo"
    )
    console.show_startup(_progress(PartState.FAILED, PartState.WAITING, PartState.WAITING, failure=failure))

    assert console.startup_notice.isVisibleTo(console)
    assert (
        console.startup_notice.title.text() == "SCANGATE COULD NOT START — Demo consent registry (embedded)"
    )
    assert "/x: the database is locked" in console.startup_notice.text.text()
    assert "What to do: close the other demo" in console.startup_notice.text.text()
    assert console.banner.property("tone") == "fault"
    assert console.startup.title.text() == "START-UP STOPPED"
    assert console.windowTitle() == f"Technician console — {RIG_NAME} — start-up stopped — ScanGate"
    assert not console.start_button.isEnabled() and not console.capture_button.isEnabled()
    assert {pill.text.text() for pill in console.health.pills.values()} == {"not started"}


def test_started_without_the_face_models_the_console_says_what_that_means(screens: RigScreens) -> None:
    console = screens.console
    models = StartupFailure("Face models", "the identification process could not start", "badge + PIN only")
    console.show_startup(_progress(PartState.READY, PartState.READY, PartState.STARTING))
    assert console.startup.isVisibleTo(console)
    progress = _progress(PartState.READY, PartState.READY, PartState.FAILED)
    console.show_startup(StartupProgress(progress.parts, degraded=(models,)))

    assert not console.startup.isVisibleTo(console)
    assert console.startup_notice.isVisibleTo(console)
    assert console.startup_notice.title.text() == "STARTED WITHOUT — Face models"
    assert (
        console.startup_notice.text.text() == "the identification process could not start.\nbadge + PIN only."
    )
    assert console.windowTitle() == f"Technician console — {RIG_NAME} — ScanGate"


def test_a_registry_that_cannot_start_is_reported_on_the_real_console(
    themed_app: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    """The demo's registry refuses a folder it did not make: the console must say so and stay locked."""
    folder = tmp_path / "someone-elses-folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("not the demo's\n")
    demo = DemoLaunch(folder)
    launched = launch_screens(demo.startup(), CONTEXT, None, technician=TECHNICIAN)
    console = launched.screens.console
    try:
        qtbot.waitUntil(console.startup_notice.isVisible, timeout=WAIT_MS)
        assert "Demo consent registry" in console.startup_notice.title.text()
        assert "was not made by the demo" in console.startup_notice.text.text()
        assert "What to do: give --out an empty or new folder" in console.startup_notice.text.text()
        assert not launched.screens.attached
        assert not console.start_button.isEnabled() and not console.capture_button.isEnabled()
        states = [row[2].text() for row in console.startup.rows.values()]
        assert states == ["failed", "waiting", "waiting", "waiting"]
    finally:
        with pytest.raises(StartupFailedError, match="was not made by the demo"):
            launched.stop()
        demo.close()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_the_real_demo_comes_up_behind_the_console_and_is_attached_once_all_parts_are(
    themed_app: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    demo = DemoLaunch(tmp_path / "demo")
    launched = launch_screens(demo.startup(), CONTEXT, None, technician=TECHNICIAN)
    screens = launched.screens
    try:
        assert not screens.attached
        assert not screens.console.start_button.isEnabled()
        qtbot.waitUntil(lambda: screens.attached, timeout=WAIT_MS * 2)
        assert launched.sequence.progress().ready
        qtbot.waitUntil(screens.console.start_button.isEnabled, timeout=WAIT_MS)
        assert not screens.console.startup.isVisible()
        assert screens.console.review_button.isEnabled()
        assert screens.console.windowTitle() == f"Technician console — {RIG_NAME} — ScanGate"
        assert screens.rig.gate.status().locked
    finally:
        launched.stop()
        demo.close()
