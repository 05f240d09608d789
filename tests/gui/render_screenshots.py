"""Render docs/screenshots/ offscreen by driving the real windows of the demo rig through sessions.

    QT_QPA_PLATFORM=offscreen python -m tests.gui.render_screenshots [OUT_DIR]

Uses exactly what ``scangate demo`` runs (embedded registry, stand-in camera,
:class:`agent.rig.Rig`, :func:`gui.app.open_screens`), presses the real
buttons, and saves ``widget.grab()`` of each window in each main state as a
palette-reduced PNG under 300 KB. Then opens the review window on the logs,
verifies them, and does the same with a copy of a log in which one record was
edited.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PyQt6.QtCore import QBuffer, QIODevice
from PyQt6.QtWidgets import QApplication, QWidget

from agent.records.keys import load_public_key_file, trusted_keys
from agent.rig import Rig
from agent.session.model import Phase
from gui.app import RigScreens, ensure_app, open_screens
from gui.review.window import ReviewWindow
from registry.demo import DemoEnvironment, prepare_demo
from tests.gui.conftest import TECHNICIAN, make_stand_in_a_minor

MAX_BYTES = 300_000


def wait_until(app: QApplication, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Run the event loop until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the screens did not reach the expected state")
        app.processEvents()
        time.sleep(0.005)


def settle(app: QApplication, seconds: float = 0.8) -> None:
    """Let the preview show a few frames and the face box catch up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)


def save(widget: QWidget, path: Path) -> None:
    """Grab ``widget`` and save it as a small PNG (adaptive palette)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    image = Image.open(io.BytesIO(buffer.data().data())).convert("RGB")
    out = io.BytesIO()
    for colours in (256, 128, 64):
        out = io.BytesIO()
        image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out, "PNG", optimize=True
        )
        if out.tell() <= MAX_BYTES:
            break
    path.write_bytes(out.getvalue())
    print(f"{path.name}: {widget.width()}x{widget.height()}, {out.tell() // 1024} KB")


def phase_is(screens: RigScreens, phase: Phase) -> Callable[[], bool]:
    console = screens.console
    return lambda: console.current_snapshot is not None and console.current_snapshot.phase is phase


def captured_at_least(screens: RigScreens, count: int) -> Callable[[], bool]:
    console = screens.console
    return lambda: console.current_snapshot is not None and console.current_snapshot.captures >= count


def on_a_challenge_step(screens: RigScreens) -> Callable[[], bool]:
    console = screens.console
    return lambda: console.current_snapshot is not None and console.current_snapshot.challenge is not None


def open_demo(app: QApplication, environment: DemoEnvironment) -> RigScreens:
    rig = Rig.from_config(environment.config, synthetic_liveness=True)
    rig.start()
    screens = open_screens(rig, technician=TECHNICIAN)
    screens.show()
    settle(app, 1.5)
    return screens


def choose_types(screens: RigScreens, *codes: str) -> None:
    for code, chip in screens.console.type_chips.items():
        chip.setChecked(code in codes)


def session_flow(app: QApplication, environment: DemoEnvironment, out: Path) -> None:
    screens = open_demo(app, environment)
    console, performer = screens.console, screens.performer
    try:
        choose_types(screens, "face", "facs_expressions")
        save(console, out / "console-locked-idle.png")
        save(performer, out / "performer-welcome.png")
        console.start_button.click()
        wait_until(app, on_a_challenge_step(screens))
        settle(app, 0.25)  # a synthetic step passes after 1.5 s: grab while it is still on screen
        save(performer, out / "performer-challenge.png")
        save(console, out / "console-challenge.png")
        wait_until(app, phase_is(screens, Phase.AWAITING_CONFIRMATION))
        settle(app)
        save(console, out / "console-awaiting-performer.png")
        save(performer, out / "performer-terms.png")
        performer.terms.scope_buttons["facs_expressions"].click()
        settle(app, 0.2)
        save(performer, out / "performer-terms-narrowed.png")
        performer.terms.decline_button.click()
        wait_until(app, lambda: performer.pages.currentWidget() is performer.receipt)
        settle(app, 0.3)
        save(performer, out / "performer-receipt-declined.png")
        performer.receipt.done_button.click()

        console.start_button.click()
        wait_until(app, phase_is(screens, Phase.AWAITING_CONFIRMATION))
        performer.terms.confirm_button.click()
        wait_until(app, phase_is(screens, Phase.UNLOCKED))
        for expected in (1, 2):
            console.capture_button.click()
            wait_until(app, captured_at_least(screens, expected))
        settle(app, 1.5)
        save(console, out / "console-unlocked.png")
        save(performer, out / "performer-unlocked-stop.png")
        performer.unlocked.stop_button.click()
        wait_until(app, lambda: performer.pages.currentWidget() is performer.receipt)
        settle(app)
        save(console, out / "console-locked-after-stop.png")
        save(performer, out / "performer-receipt.png")

        console.start_button.click()
        wait_until(app, phase_is(screens, Phase.AWAITING_CONFIRMATION))
        screens.rig.controller.on_fault(
            "camera", "no frames from the rig camera for 2.0 s (cable unplugged?)"
        )
        wait_until(app, phase_is(screens, Phase.LOCKED_FAULT))
        settle(app)
        save(console, out / "console-fault.png")
        console.end_button.click()
        wait_until(app, phase_is(screens, Phase.IDLE))
    finally:
        screens.close()
        screens.rig.stop()


def minor_and_fallback(app: QApplication, environment: DemoEnvironment, out: Path) -> None:
    make_stand_in_a_minor(environment)
    screens = open_demo(app, environment)
    console, performer = screens.console, screens.performer
    try:
        choose_types(screens, "face", "facs_expressions")
        console.start_button.click()
        wait_until(app, phase_is(screens, Phase.AWAITING_CONFIRMATION))
        settle(app, 0.3)
        save(performer, out / "performer-terms-minor.png")
        performer.terms.guardian.click()
        performer.terms.confirm_button.click()
        wait_until(app, phase_is(screens, Phase.UNLOCKED))
        console.end_button.click()
        wait_until(app, phase_is(screens, Phase.IDLE))
        screens.rig.recognition.stop()  # nobody in front of the camera: badge + PIN instead
        performer.receipt.done_button.click()
        console.start_button.click()
        wait_until(app, phase_is(screens, Phase.IDENTIFYING))
        settle(app, 1.2)
        save(console, out / "console-identifying.png")
        console.fallback_button.click()
        wait_until(app, lambda: performer.pages.currentWidget() is performer.fallback)
        performer.fallback.badge.setText("BADGE-0042")
        performer.fallback.pin.setText("24")
        settle(app, 0.3)
        save(performer, out / "performer-badge-pin.png")
        console.end_button.click()
        wait_until(app, phase_is(screens, Phase.IDLE))
    finally:
        screens.close()
        screens.rig.stop()


def review(app: QApplication, environments: list[DemoEnvironment], scratch: Path, out: Path) -> None:
    keys = trusted_keys([load_public_key_file(env.out_dir / "rig-public.pem") for env in environments])
    logs = [env.config.records.log_path for env in environments]
    window = ReviewWindow(keys=keys, key_source="the demo rigs' public keys (rig-public.pem)")
    window.resize(1440, 900)
    window.show()
    window.open_logs(logs)
    wait_until(app, lambda: not window.jobs.busy and window.model.rowCount() > 0)
    window.verify_all()
    wait_until(app, lambda: not window.jobs.busy and window.verdict.text().startswith(("VERIFIED", "NOT")))
    settle(app, 0.3)
    window.table.selectRow(1)
    settle(app, 0.3)
    save(window, out / "review-verified.png")
    window.close()

    tampered = scratch / "tampered" / "sessions.jsonl"
    tampered.parent.mkdir()
    lines = logs[0].read_text(encoding="utf-8").splitlines(keepends=True)
    edited = next(i for i, line in enumerate(lines) if '"outcome":"declined"' in line)
    lines[edited] = lines[edited].replace('"outcome":"declined"', '"outcome":"captured"')
    tampered.write_text("".join(lines), encoding="utf-8")
    window = ReviewWindow(keys=keys, key_source="the demo rig's public key (rig-public.pem)")
    window.resize(1440, 900)
    window.show()
    window.open_logs([tampered])
    wait_until(app, lambda: not window.jobs.busy and window.model.rowCount() > 0)
    window.verify_all()
    wait_until(app, lambda: not window.jobs.busy and window.verdict.text().startswith(("VERIFIED", "NOT")))
    window.problems_only.setChecked(True)
    settle(app, 0.2)
    window.table.selectRow(0)
    settle(app, 0.3)
    save(window, out / "review-tampered.png")
    window.close()


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        first = prepare_demo(scratch / "demo-1")
        try:
            session_flow(app, first, out_dir)
        finally:
            first.close()
        second = prepare_demo(scratch / "demo-2")
        try:
            minor_and_fallback(app, second, out_dir)
        finally:
            second.close()
        review(app, [first, second], scratch, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")))
