"""The console while ScanGate starts: which parts are up, which are starting, what failed.

The console is painted before the rig's parts start (:mod:`agent.startup`); this
panel lists them with their state, and the presenters below turn a
:class:`~agent.startup.StartupProgress` into the lock banner, the health pills and,
when a part fails, the standing notice that says what failed and what to do.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QLabel

from agent.startup import PartState, StartupProgress
from gui import theme
from gui.health import COMPONENTS, HealthItem
from gui.presenters import LockView
from gui.widgets import Card, label

_STATE_TEXT = {
    PartState.WAITING: ("waiting", "neutral"),
    PartState.STARTING: ("starting…", "checking"),
    PartState.READY: ("ready", "unlocked"),
    PartState.FAILED: ("failed", "locked"),
}


def startup_lock_view(progress: StartupProgress) -> LockView:
    """The lock banner while starting: locked, and why (what is still starting, or what failed)."""
    if progress.failure is not None:
        return LockView(
            "LOCKED",
            "fault",
            f"ScanGate could not start: {progress.failure.part} failed. Capture stays locked.",
        )
    pending = progress.pending()
    now = f"Starting: {pending[0][0].lower()}{pending[0][1:]}." if pending else "Opening the screens."
    return LockView("LOCKED", "locked", f"{now} Capture stays locked until every part is up.")


def startup_notice(progress: StartupProgress) -> tuple[str, str] | None:
    """Title and text of the console's standing notice when a part failed (else None).

    A failure that stopped the start-up says so; a part the rig can run without (the
    face models) is named with what that means and what to do.
    """
    failure = progress.failure
    if failure is None:
        if not progress.degraded:
            return None
        parts = " · ".join(part.part for part in progress.degraded)
        text = "\n".join(f"{part.what}.\n{part.hint}." for part in progress.degraded)
        return f"STARTED WITHOUT — {parts}", text
    return (
        f"SCANGATE COULD NOT START — {failure.part}",
        f"{failure.what}.\nWhat to do: {failure.hint}. Capture stays locked; close ScanGate, fix this"
        " and start it again.",
    )


def startup_health_items(progress: StartupProgress) -> list[HealthItem]:
    """The health pills while starting: 'starting…' for every component, 'not started' after a failure."""
    if progress.failure is not None:
        return [
            HealthItem(c, "locked", "not started", f"start-up stopped: {progress.failure.part} failed")
            for c in COMPONENTS
        ]
    return [HealthItem(c, "checking", "starting…", "ScanGate is starting its parts") for c in COMPONENTS]


class StartupPanel(Card):
    """One row per part: a coloured dot, the part's name and its state."""

    def __init__(self) -> None:
        super().__init__()
        self.title = label("STARTING SCANGATE", name="CardTitle")
        self.body.addWidget(self.title)
        self._grid = QGridLayout()
        self._grid.setHorizontalSpacing(12)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(1, 1)
        self.body.addLayout(self._grid)
        self.rows: dict[str, tuple[QLabel, QLabel, QLabel]] = {}

    def show_progress(self, progress: StartupProgress) -> None:
        """Show every part's state (rows are made on first sight of a part)."""
        self.title.setText("START-UP STOPPED" if progress.failure is not None else "STARTING SCANGATE")
        for part in progress.parts:
            row = self.rows.get(part.key)
            if row is None:
                index = len(self.rows)
                row = (label(name="HealthDot"), label(part.label, role="value"), label("", role="caption"))
                for column, widget in enumerate(row):
                    self._grid.addWidget(widget, index, column, Qt.AlignmentFlag.AlignVCenter)
                self.rows[part.key] = row
            dot, _name, state = row
            text, tone = _STATE_TEXT[part.state]
            state.setText(text)
            theme.set_tone(dot, tone)
            theme.set_tone(state, tone)
