"""The whole on-set flow driven through the real buttons of the real windows.

Each test runs the real demo rig (embedded registry over loopback, registry
client and consent policy, camera worker on the stand-in clip, dlib
recognition, session engine, built-in still gate, signed log) and clicks the
console's and the performer screen's buttons with qtbot, as a technician and a
performer would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.records.keys import load_public_key_file, trusted_keys
from agent.records.verify import verify_log
from agent.session.model import Phase
from gui.app import RigScreens
from registry.demo import DemoEnvironment
from registry.demo.environment import BADGE_CODE, BADGE_PIN, STAND_IN_NAME
from registry.setup import SeedPerformer
from tests.gui.conftest import TECHNICIAN, WAIT_MS, make_stand_in_a_minor, start_screens, stop_screens

Screens = RigScreens
INTENDED_USE = SeedPerformer("x", "x").intended_use_text


def click(qtbot: QtBot, widget: object) -> None:
    """Tap a button like a finger would (left mouse button on its centre)."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def records(screens: RigScreens) -> list[dict[str, object]]:
    """The records in the rig's session log."""
    log_path = screens.rig.config.records.log_path
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]


def capture_files(screens: RigScreens) -> list[Path]:
    """Images the built-in gate wrote."""
    return list(screens.rig.config.gate.capture_root.rglob("*.png"))


def start_and_await_terms(qtbot: QtBot, screens: Screens, *capture_types: str) -> None:
    """Technician ticks capture types and starts; wait until the performer sees the terms."""
    console = screens.console
    for code, chip in console.type_chips.items():
        if chip.isChecked() != (code in capture_types):
            click(qtbot, chip)
    assert console.selected_capture_types() == frozenset(capture_types)
    click(qtbot, console.start_button)
    qtbot.waitUntil(
        lambda: screens.performer.pages.currentWidget() is screens.performer.terms, timeout=WAIT_MS
    )


def test_confirm_unlock_capture_stop_locks(qtbot: QtBot, screens: Screens) -> None:
    console, performer, rig = screens.console, screens.performer, screens.rig
    assert console.banner.word.text() == "LOCKED"
    assert not console.capture_button.isEnabled()

    start_and_await_terms(qtbot, screens, "face", "facs_expressions")
    terms = performer.terms
    assert terms.name.text() == STAND_IN_NAME
    assert terms.use_text.text() == INTENDED_USE  # verbatim
    assert set(terms.scope_buttons) == {"face", "facs_expressions"}
    assert console.banner.word.text() == "AWAITING PERFORMER"
    assert rig.gate.status().locked

    click(qtbot, terms.confirm_button)
    qtbot.waitUntil(lambda: performer.pages.currentWidget() is performer.unlocked, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: console.banner.word.text() == "UNLOCKED", timeout=WAIT_MS)
    assert not rig.gate.status().locked
    assert console.capture_button.isEnabled()
    assert console.banner.timer.text().count(":") == 1  # a running mm:ss countdown

    click(qtbot, console.capture_button)
    qtbot.waitUntil(
        lambda: console.current_snapshot is not None and console.current_snapshot.captures == 1,
        timeout=WAIT_MS,
    )
    assert len(capture_files(screens)) == 1

    clicked_at = time.monotonic()
    click(qtbot, performer.unlocked.stop_button)
    while not rig.gate.status().locked and time.monotonic() - clicked_at < 5:
        time.sleep(0.001)
    lock_latency = time.monotonic() - clicked_at
    assert rig.gate.status().locked
    print(f"STOP locked the gate {lock_latency * 1000:.1f} ms after the tap")
    assert lock_latency < 0.2, f"STOP took {lock_latency * 1000:.0f} ms to lock the gate"

    qtbot.waitUntil(lambda: performer.pages.currentWidget() is performer.receipt, timeout=WAIT_MS)
    assert console.banner.word.text() == "LOCKED"
    assert not console.capture_button.isEnabled()
    (record,) = records(screens)
    assert record["outcome"] == "captured"
    assert "performer_stopped" in record["reason_codes"]  # type: ignore[operator]
    assert performer.receipt.title.text() == "Scan complete"
    public_key = load_public_key_file(rig.config.records.log_path.parent / "rig-public.pem")
    assert verify_log(rig.config.records.log_path, trusted_keys([public_key])).intact


def test_decline_locks_and_records_the_refusal(qtbot: QtBot, screens: Screens) -> None:
    performer, rig = screens.performer, screens.rig
    start_and_await_terms(qtbot, screens, "face")
    click(qtbot, performer.terms.decline_button)
    qtbot.waitUntil(lambda: performer.pages.currentWidget() is performer.receipt, timeout=WAIT_MS)
    assert performer.receipt.title.text() == "You declined"
    assert rig.gate.status().locked
    assert screens.console.banner.word.text() == "LOCKED"
    assert "declined" in screens.console.banner.reason.text()
    (record,) = records(screens)
    assert record["outcome"] == "declined"
    assert record["confirmation"]["decision"] == "declined"  # type: ignore[index]
    assert not capture_files(screens)

    click(qtbot, performer.receipt.done_button)
    assert performer.pages.currentWidget() is performer.info
    assert performer.info.title.text() == "Welcome"

    click(qtbot, screens.console.review_button)  # the console opens the review window on this rig's log
    (review,) = screens.reviews
    qtbot.waitUntil(lambda: not review.jobs.busy and review.model.rowCount() == 1, timeout=WAIT_MS)
    click(qtbot, review.verify_button)
    qtbot.waitUntil(lambda: review.verdict.text() == "VERIFIED — 1 record(s) intact", timeout=WAIT_MS)


def test_narrowing_unticks_a_capture_type_and_unlocks_only_the_rest(qtbot: QtBot, screens: Screens) -> None:
    console, performer, rig = screens.console, screens.performer, screens.rig
    start_and_await_terms(qtbot, screens, "face", "facs_expressions")
    terms = performer.terms
    click(qtbot, terms.scope_buttons["facs_expressions"])
    assert terms.selected() == frozenset({"face"})
    assert terms.confirm_button.text().endswith("CONFIRM 1 OF 2")

    click(qtbot, terms.scope_buttons["face"])  # nothing left: confirm impossible
    assert not terms.confirm_button.isEnabled()
    click(qtbot, terms.scope_buttons["face"])
    assert terms.confirm_button.isEnabled()

    click(qtbot, terms.confirm_button)
    qtbot.waitUntil(lambda: console.banner.word.text() == "UNLOCKED", timeout=WAIT_MS)
    assert console.current_snapshot is not None
    assert console.current_snapshot.confirmed_capture_types == frozenset({"face"})
    assert [b.property("capture_type") for b in console.capture_group.buttons()] == ["face"]
    assert rig.gate.status().capture_types == ("face",)

    click(qtbot, console.end_button)
    qtbot.waitUntil(
        lambda: console.current_snapshot is not None and console.current_snapshot.phase is Phase.IDLE,
        timeout=WAIT_MS,
    )
    (record,) = records(screens)
    assert record["confirmation"]["decision"] == "narrowed"  # type: ignore[index]
    assert record["confirmation"]["capture_types"] == ["face"]  # type: ignore[index]


def test_a_minor_needs_the_guardian_before_confirm(
    qtbot: QtBot, themed_app: QApplication, demo_env: DemoEnvironment
) -> None:
    make_stand_in_a_minor(demo_env)
    screens = start_screens(demo_env)
    try:
        start_and_await_terms(qtbot, screens, "face")
        terms = screens.performer.terms
        assert terms.guardian.isVisible()
        assert "Guardian of" in terms.guardian_text.text()
        assert not terms.confirm_button.isEnabled()
        click(qtbot, terms.guardian)
        assert terms.confirm_button.isEnabled()
        click(qtbot, terms.confirm_button)
        qtbot.waitUntil(lambda: screens.console.banner.word.text() == "UNLOCKED", timeout=WAIT_MS)
        click(qtbot, screens.console.end_button)
        qtbot.waitUntil(lambda: len(records(screens)) == 1, timeout=WAIT_MS)
        (record,) = records(screens)
        assert record["confirmation"]["guardian_co_confirmed"] is True  # type: ignore[index]
    finally:
        stop_screens(screens)


def test_start_without_a_technician_explains_what_to_do(qtbot: QtBot, screens: Screens) -> None:
    console = screens.console
    console.technician.clear()
    click(qtbot, console.start_button)
    assert console.notice.isVisible()
    assert "name" in console.notice.text.text()
    assert console.current_snapshot is not None and console.current_snapshot.phase is Phase.IDLE


@pytest.mark.parametrize("badge_ok", [True, False])
def test_badge_and_pin_fallback_on_the_keypad(qtbot: QtBot, screens: Screens, badge_ok: bool) -> None:
    console, performer = screens.console, screens.performer
    for code, chip in console.type_chips.items():
        if chip.isChecked() != (code == "face"):
            click(qtbot, chip)
    screens.rig.recognition.stop()  # nobody in front of the camera: the technician switches to badge + PIN
    click(qtbot, console.start_button)
    qtbot.waitUntil(console.fallback_button.isEnabled, timeout=WAIT_MS)
    click(qtbot, console.fallback_button)
    fallback = performer.fallback
    qtbot.waitUntil(lambda: performer.pages.currentWidget() is fallback, timeout=WAIT_MS)
    assert fallback.witness.text() == TECHNICIAN
    fallback.badge.setText(BADGE_CODE)
    fallback.pin.setFocus()
    keys = {b.text(): b for b in fallback.findChildren(type(fallback.submit)) if b.property("role") == "key"}
    pin = BADGE_PIN if badge_ok else "1111"
    for digit in pin:
        click(qtbot, keys[digit])
    assert fallback.pin.text() == pin
    click(qtbot, fallback.submit)
    if badge_ok:
        qtbot.waitUntil(lambda: performer.pages.currentWidget() is performer.terms, timeout=WAIT_MS)
        assert console.identity_detail.text().endswith("by badge + PIN")
    else:
        qtbot.waitUntil(lambda: "not accepted" in fallback.error.text(), timeout=WAIT_MS)
        assert fallback.pin.text() == ""
        assert console.notice.isVisible()
        assert console.notice.title.text() == "Badge or PIN not accepted"


def test_the_terms_answer_names_the_session_whose_terms_were_shown(
    qtbot: QtBot, screens: Screens, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = screens.rig.controller
    sent: list[str | None] = []
    confirm = controller.confirm

    def spy(capture_types: frozenset[str], guardian: bool = False, *, session_id: str | None = None) -> None:
        sent.append(session_id)
        confirm(capture_types, guardian, session_id=session_id)

    monkeypatch.setattr(controller, "confirm", spy)
    start_and_await_terms(qtbot, screens, "face")
    shown = screens.console.current_snapshot
    assert shown is not None and shown.session_id is not None
    click(qtbot, screens.performer.terms.confirm_button)
    qtbot.waitUntil(lambda: screens.console.banner.word.text() == "UNLOCKED", timeout=WAIT_MS)
    assert sent == [shown.session_id]  # a late tap on these terms cannot confirm a later session
    click(qtbot, screens.performer.unlocked.stop_button)
    qtbot.waitUntil(lambda: screens.rig.gate.status().locked, timeout=WAIT_MS)


def test_every_window_title_names_scangate_once_at_the_end(qtbot: QtBot, screens: Screens) -> None:
    """Qt on X11/Wayland appends " — ScanGate" unless a title already ends with it: no doubled name."""
    click(qtbot, screens.console.review_button)
    (review,) = screens.reviews
    titles = [screens.console.windowTitle(), screens.performer.windowTitle(), review.windowTitle()]
    for title in titles:
        assert title.endswith(" — ScanGate") and title.count("ScanGate") == 1, title
    assert titles[0].startswith("Technician console — ")
