"""Opening the screens on a rig: the QApplication, the bridge, both windows, error reporting.

:func:`open_screens` is what ``scangate run`` and ``scangate demo`` (and the GUI
tests) use to put the console and the performer screen on top of an assembled
:class:`agent.rig.Rig`; :func:`run_screens` adds the event loop.
"""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox, QWidget

from agent.errors import ScanGateError
from agent.rig import Rig
from gui import theme
from gui.bridge import AgentBridge
from gui.console import ConsoleContext, TechnicianConsole
from gui.health import rig_health_items
from gui.performer import PerformerWindow
from gui.screens import ScreenPlacement, plan_screens
from gui.theme import apply_theme

if TYPE_CHECKING:
    from gui.review.window import ReviewWindow

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0


def ensure_app() -> QApplication:
    """The QApplication (created and themed on first use); Ctrl+C in the terminal quits it."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(sys.argv[:1])
    app.setApplicationName(theme.APP_NAME)
    app.setApplicationDisplayName(theme.APP_NAME)
    apply_theme(app)
    _quit_on_interrupt(app)
    return app


def _quit_on_interrupt(app: QApplication) -> None:
    """Let Ctrl+C (SIGINT) close the windows cleanly, so the rig stops and the gate locks.

    Python handles signals only between bytecodes; while Qt's event loop runs, a
    short timer gives it that chance.
    """
    signal.signal(signal.SIGINT, lambda *_args: app.quit())
    timer = QTimer(app)
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()


@dataclass
class RigScreens:
    """The windows opened on one rig, and the bridge feeding them."""

    rig: Rig
    bridge: AgentBridge
    console: TechnicianConsole
    performer: PerformerWindow
    placement: ScreenPlacement
    reviews: list[ReviewWindow] = field(default_factory=list)

    def show(self) -> None:
        """Console on its screen; performer full-screen on the touchscreen (gui.screens says which)."""
        self.placement.show()

    def show_performer(self) -> None:
        """Bring the performer window back (the console's 'Performer screen' button)."""
        self.placement.show_performer_window()

    def open_review(self) -> None:
        """Open the review window on this rig's log, trusting this rig's key."""
        from agent.records.keys import load_retired_public_keys, trusted_keys  # noqa: PLC0415
        from gui.review.window import ReviewWindow  # noqa: PLC0415 - only when asked for

        records = self.rig.config.records
        rig_key = self.rig.recorder.key
        keys: dict[str, Ed25519PublicKey] = trusted_keys(
            [rig_key.public_key, *load_retired_public_keys(records.key_path)]
        )
        window = ReviewWindow(
            keys=keys, key_source=f"this rig's key ({rig_key.location}) and any it rotated away"
        )
        window.resize(1440, 900)
        window.show()
        window.open_logs([records.log_path])
        self.reviews.append(window)

    def close(self) -> None:
        """Stop feeding the windows and close them (the rig is stopped by its owner)."""
        self.bridge.close()
        self.console.preview.stop()
        for window in (self.console, self.performer, *self.reviews):
            window.close()


def open_screens(rig: Rig, *, technician: str = "") -> RigScreens:
    """Build the bridge and both windows on ``rig`` (started or not) and wire them together."""
    ensure_app()
    config = rig.config
    bridge = AgentBridge()
    bridge.connect_controller(rig.controller)
    bridge.connect_recognition(rig.recognition)
    bridge.connect_gate(rig.gate)
    bridge.start_health_probe(lambda: rig_health_items(rig.health()), HEALTH_INTERVAL_S)
    context = ConsoleContext(
        rig_id=config.rig.rig_id,
        rig_name=config.rig.name,
        production=config.rig.production_id,
        technician=technician,
        liveness=rig.liveness_method,
    )
    console = TechnicianConsole(bridge, rig.controller, context, rig.camera)
    touchscreen = plan_screens(config.screens.performer_output).performer
    performer = PerformerWindow(bridge, rig.controller, screen=touchscreen)  # sizes its touch targets
    performer.set_witness(technician)
    placement = ScreenPlacement(console, performer, console.screen_notice, config.screens.performer_output)
    screens = RigScreens(rig, bridge, console, performer, placement)
    console.technician_changed.connect(performer.set_witness)
    console.performer_screen_requested.connect(screens.show_performer)
    console.review_requested.connect(screens.open_review)
    return screens


def run_screens(make_rig: Callable[[], Rig], *, technician: str = "") -> int:
    """Assemble and start a rig, show the screens, run the event loop; the rig stops on exit.

    Raises:
        ScanGateError: the rig could not be assembled or started (after telling the user in a dialog).
    """
    app = ensure_app()
    try:
        rig = make_rig()
    except ScanGateError as exc:
        show_error("ScanGate cannot start", exc)
        raise
    screens: RigScreens | None = None
    try:
        rig.start()
        screens = open_screens(rig, technician=technician)
        install_exception_hook(screens.console)
        screens.show()
        return app.exec()
    except ScanGateError as exc:
        show_error("ScanGate stopped", exc)
        raise
    finally:
        if screens is not None:
            screens.close()
        rig.stop()


def show_error(title: str, exc: ScanGateError, parent: QWidget | None = None) -> None:
    """A dialog saying what happened, where, and what to do (never a traceback)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(exc.what + (f"\n\n{exc.where}" if exc.where else ""))
    box.setInformativeText(f"What to do: {exc.hint}" if exc.hint else "Capture stays locked.")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.exec()


def install_exception_hook(parent: QWidget) -> None:
    """Turn an unexpected exception in a Qt slot into a logged error and one plain dialog.

    PyQt aborts the process on an exception escaping a slot; the capture gate would
    then lock by itself (lease), but the technician would lose the console. Instead
    the traceback goes to the log and the technician sees what to do.
    """
    shown: list[bool] = []

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unexpected error in the screens:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        if shown:
            return
        shown.append(True)
        QMessageBox.warning(
            parent,
            "ScanGate: unexpected error",
            f"Something went wrong in the screens ({type(exc).__name__}: {exc}).\n\n"
            "Capture stays locked unless the session engine unlocks it. End the session, restart"
            " ScanGate, and report the error (the details are in the log; run with -v).",
        )

    sys.excepthook = hook


def default_log_paths(config_log: Path, logs: tuple[Path, ...]) -> list[Path]:
    """The logs to review: those given, else this rig's own log."""
    return list(logs) if logs else [config_log]
