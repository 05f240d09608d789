"""Which screen each window goes on: the performer's touchscreen is named in the config.

``[screens] performer_output`` (:class:`agent.config.ScreenSettings`) names the display
output of the touchscreen, as Qt names the screen (:meth:`QScreen.name`: on X11 the RandR
output or monitor, e.g. ``HDMI-2``). The performer screen goes full-screen there and the
console on another screen. When that output is not connected, a full-screen performer
window would land on the console's screen, or a technician could confirm in the
performer's place: so the performer window is not shown, the console says so (naming the
outputs it did find) and capture stays locked for want of a confirmation. Hot-plug is
followed: the touchscreen appearing puts the performer screen there; it disappearing
hides the performer screen and brings the notice back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QGuiApplication, QScreen
from PyQt6.QtWidgets import QWidget

from gui.widgets import StandingNotice

CONSOLE_SIZE = (1440, 900)
PERFORMER_WINDOW_SIZE = (1280, 800)
"""The performer window's size when it is an ordinary window (one screen, or asked for by hand)."""


@dataclass(frozen=True)
class ScreenPlan:
    """Where the windows go on the screens connected now."""

    console: QScreen | None
    """The console's screen: the primary one, unless that is the performer's touchscreen."""
    performer: QScreen | None
    """The performer window goes full-screen here; None: not full-screen anywhere."""
    missing_output: str | None
    """The configured touchscreen output when it is not connected (the performer window stays hidden)."""


def plan_screens(performer_output: str | None) -> ScreenPlan:
    """Choose the console's and the performer's screen among those connected now."""
    screens = QGuiApplication.screens()
    primary = QGuiApplication.primaryScreen()
    if performer_output is None:
        others = [screen for screen in screens if screen is not primary]
        return ScreenPlan(primary, others[0] if others else None, None)
    touchscreen = next((screen for screen in screens if screen.name() == performer_output), None)
    if touchscreen is None:
        return ScreenPlan(primary, None, performer_output)
    others = [screen for screen in screens if screen is not touchscreen]
    return ScreenPlan(
        primary if primary is not touchscreen else next(iter(others), primary), touchscreen, None
    )


def describe_screens(screens: Sequence[QScreen]) -> str:
    """The connected screens as a technician compares them with the config: name and size."""
    if not screens:
        return "no screen at all"
    return ", ".join(
        f"{_name(screen)} ({screen.geometry().width()}×{screen.geometry().height()})" for screen in screens
    )


def missing_output_notice(output: str, screens: Sequence[QScreen]) -> tuple[str, str]:
    """Title and text of the console's notice when the configured touchscreen output is absent."""
    return (
        f"PERFORMER TOUCHSCREEN NOT FOUND — no screen on output “{output}”",
        f"The configuration ([screens] performer_output) puts the performer screen on “{output}”;"
        f" connected now: {describe_screens(screens)}. The performer screen is not shown, so nobody"
        " can confirm and capture stays locked. Check the touchscreen's cable and power, or correct"
        " the output name in the configuration (xrandr --listmonitors lists them) and restart"
        f" ScanGate. It moves there by itself when “{output}” appears; meanwhile 'Performer screen'"
        " opens it here as a window.",
    )


def _name(screen: QScreen) -> str:
    return f"“{screen.name()}”" if screen.name() else "an unnamed screen"


class ScreenPlacement(QObject):
    """Puts the console and the performer window on their screens, and follows screens coming and going."""

    def __init__(
        self, console: QWidget, performer: QWidget, notice: StandingNotice, performer_output: str | None
    ) -> None:
        super().__init__(console)
        self._console = console
        self._performer = performer
        self._notice = notice
        self._output = performer_output
        self.plan = plan_screens(performer_output)
        """Where the windows are (or go on :meth:`show`); follows screens being connected or removed."""
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenAdded.connect(self._screen_added)
            app.screenRemoved.connect(self._screen_removed)

    def show(self) -> None:
        """Show the console on its screen and the performer window where the plan says."""
        self._console.resize(*CONSOLE_SIZE)
        if self.plan.console is not None:
            self._console.move(self.plan.console.availableGeometry().topLeft())
        self._console.show()
        self._place_performer()

    def show_performer_window(self) -> None:
        """The console's 'Performer screen' button: bring the performer window back, wherever it belongs."""
        if self.plan.performer is None and self.plan.missing_output is not None:
            self._performer.showNormal()
            self._performer.resize(*PERFORMER_WINDOW_SIZE)
            self._performer.move(self._console.geometry().topLeft())
        self._performer.show()
        self._performer.raise_()
        self._performer.activateWindow()

    def _place_performer(self) -> None:
        screen = self.plan.performer
        if screen is not None:
            self._notice.hide()
            self._performer.setGeometry(screen.geometry())
            self._performer.showFullScreen()
        elif self.plan.missing_output is not None:
            self._performer.hide()
            self._notice.show_notice(
                *missing_output_notice(self.plan.missing_output, QGuiApplication.screens()), "locked"
            )
        else:
            self._performer.showNormal()
            self._performer.resize(*PERFORMER_WINDOW_SIZE)
            self._performer.show()

    def _screen_added(self, screen: QScreen) -> None:
        if self._output is not None and self.plan.performer is None and screen.name() == self._output:
            self.plan = ScreenPlan(self.plan.console, screen, None)
            self._place_performer()

    def _screen_removed(self, screen: QScreen) -> None:
        if screen is not self.plan.performer:
            return
        # Qt would move a full-screen window to a remaining screen: over the console.
        self._performer.showNormal()
        if self._output is not None:
            self.plan = ScreenPlan(self.plan.console, None, self._output)
            self._performer.hide()
            remaining = [other for other in QGuiApplication.screens() if other is not screen]
            self._notice.show_notice(*missing_output_notice(self._output, remaining), "locked")
        else:
            self.plan = ScreenPlan(self.plan.console, None, None)
            self._place_performer()
