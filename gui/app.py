"""Opening the screens on a rig: the QApplication, the bridge, both windows, error reporting.

:func:`open_screens` puts the console and the performer screen on top of an
assembled :class:`agent.rig.Rig` (the GUI tests use it). :func:`run_screens` is
what ``scangate run`` and ``scangate demo`` use: it paints the console first, in
its "starting" state, then starts the rig's parts on a worker thread
(:mod:`agent.startup`) and attaches the rig to the windows once every part is up.
The rig (and the registry, NumPy, OpenCV, dlib) is imported only then.
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

from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox, QWidget

from agent.errors import ScanGateError
from agent.startup import RigStartup, StartupProgress, StartupSequence
from gui import theme
from gui.bridge import AgentBridge
from gui.console import ConsoleContext, TechnicianConsole
from gui.performer import PerformerWindow
from gui.ports import DeferredCommands
from gui.screens import ScreenPlacement, plan_screens
from gui.theme import apply_theme

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.rig import Rig
    from gui.review.window import ReviewWindow

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
FIRST_PAINT_WAIT_MS = 1500
"""Start the parts after the console's first paint, or after this long if no paint comes (hidden screen)."""
STARTUP_STOP_WAIT_S = 60.0
"""On close during start-up: how long to let the part starting now finish before stopping the rest."""


class StartupFailedError(ScanGateError):
    """A part of the rig did not start; the console said so until it was closed."""


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
    """The windows opened on one rig, and the bridge feeding them (the rig attaches once started)."""

    bridge: AgentBridge
    console: TechnicianConsole
    performer: PerformerWindow
    placement: ScreenPlacement
    commands: DeferredCommands
    reviews: list[ReviewWindow] = field(default_factory=list)
    _rig: Rig | None = None

    @property
    def rig(self) -> Rig:
        """The attached rig; RuntimeError while ScanGate is still starting."""
        if self._rig is None:
            raise RuntimeError("no rig is attached to the screens yet")
        return self._rig

    @property
    def attached(self) -> bool:
        """Whether the rig is attached (its engine receives the windows' commands)."""
        return self._rig is not None

    def attach(self, rig: Rig) -> None:
        """Feed the windows from ``rig`` and send their commands to its session engine."""
        from gui.health import rig_health_items  # noqa: PLC0415 - imports the rig's parts

        self._rig = rig
        self.bridge.connect_controller(rig.controller)
        self.bridge.connect_recognition(rig.recognition)
        self.bridge.connect_gate(rig.gate)
        self.bridge.start_health_probe(lambda: rig_health_items(rig.health()), HEALTH_INTERVAL_S)
        self.commands.attach(rig.controller)
        self.console.show_liveness_mode(rig.liveness_method)
        self.console.attach_camera(rig.camera)

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

        if self._rig is None:
            return  # the button is disabled until the rig has started
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


def open_starting_screens(
    context: ConsoleContext, performer_output: str | None, *, technician: str = ""
) -> RigScreens:
    """Both windows before the rig exists: every control that needs it disabled, capture locked."""
    ensure_app()
    bridge = AgentBridge()
    commands = DeferredCommands()
    console = TechnicianConsole(bridge, commands, context)
    touchscreen = plan_screens(performer_output).performer
    performer = PerformerWindow(bridge, commands, screen=touchscreen)  # sizes its touch targets
    performer.set_witness(technician)
    placement = ScreenPlacement(console, performer, console.screen_notice, performer_output)
    screens = RigScreens(bridge, console, performer, placement, commands)
    bridge.startup_changed.connect(console.show_startup)
    console.technician_changed.connect(performer.set_witness)
    console.performer_screen_requested.connect(screens.show_performer)
    console.review_requested.connect(screens.open_review)
    return screens


def rig_console_context(rig: Rig, technician: str = "") -> ConsoleContext:
    """What the console shows about ``rig`` (from its configuration)."""
    config = rig.config
    return ConsoleContext(
        rig_id=config.rig.rig_id,
        rig_name=config.rig.name,
        production=config.rig.production_id,
        technician=technician,
        liveness=rig.liveness_method,
    )


def open_screens(rig: Rig, *, technician: str = "") -> RigScreens:
    """Build the bridge and both windows on ``rig`` (started or not) and wire them together."""
    screens = open_starting_screens(
        rig_console_context(rig, technician), rig.config.screens.performer_output, technician=technician
    )
    screens.attach(rig)
    return screens


@dataclass
class LaunchedScreens:
    """Screens shown in their starting state, and the start-up bringing the rig up behind them."""

    screens: RigScreens
    sequence: StartupSequence
    startup: RigStartup

    def stop(self) -> None:
        """Close the windows, let a part still starting finish, stop everything started.

        Raises:
            StartupFailedError: a part had failed to start (the console said so meanwhile).
        """
        self.sequence.cancel()
        self.screens.close()
        if not self.sequence.wait(STARTUP_STOP_WAIT_S):
            log.error("a part was still starting after %g s; stopping the rest anyway", STARTUP_STOP_WAIT_S)
        self.startup.close()
        failure = self.sequence.progress().failure
        if failure is not None:
            raise StartupFailedError(f"{failure.part} did not start: {failure.what}", hint=failure.hint)


def launch_screens(
    startup: RigStartup, context: ConsoleContext, performer_output: str | None, *, technician: str = ""
) -> LaunchedScreens:
    """Show both windows at once (starting, capture locked), start the rig's parts after the first paint.

    The rig is attached to the windows, on the GUI thread, once every part is up; a part
    that fails stops the start-up and the console says what failed and what to do.
    """
    screens = open_starting_screens(context, performer_output, technician=technician)
    sequence = StartupSequence(startup.steps(), screens.bridge.post_startup)
    screens.console.show_startup(sequence.progress())

    def on_progress(progress: StartupProgress) -> None:  # GUI thread
        rig = startup.rig
        if progress.ready and not screens.attached and rig is not None:
            screens.attach(rig)

    screens.bridge.startup_changed.connect(on_progress)
    screens.show()
    after_first_paint(screens.console, sequence.start)
    return LaunchedScreens(screens, sequence, startup)


def run_screens(
    startup: RigStartup, context: ConsoleContext, performer_output: str | None, *, technician: str = ""
) -> int:
    """:func:`launch_screens`, then the event loop; everything stops when the windows close.

    Raises:
        StartupFailedError: a part did not start (the console said what and what to do until closed).
    """
    app = ensure_app()
    launched = launch_screens(startup, context, performer_output, technician=technician)
    install_exception_hook(launched.screens.console)
    try:
        status = app.exec()
    finally:
        launched.stop()
    return status


class _FirstPaint(QObject):
    """Calls back once, on the watched widget's first paint (or after a timeout)."""

    def __init__(self, widget: QWidget, callback: Callable[[], None], timeout_ms: int) -> None:
        super().__init__(widget)
        self._callback: Callable[[], None] | None = callback
        widget.installEventFilter(self)
        QTimer.singleShot(timeout_ms, self._fire)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802 - Qt's name
        if event is not None and event.type() == QEvent.Type.Paint and self._callback is not None:
            QTimer.singleShot(0, self._fire)  # after this paint has reached the screen
        return False

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()


def after_first_paint(
    widget: QWidget, callback: Callable[[], None], timeout_ms: int = FIRST_PAINT_WAIT_MS
) -> None:
    """Run ``callback`` on the GUI thread once ``widget`` has painted (at most ``timeout_ms`` later)."""
    _FirstPaint(widget, callback, timeout_ms)


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
