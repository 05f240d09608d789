"""The performer's liveness challenge page: one big prompt, an animated cue, a countdown.

The page only shows what the snapshot says (which step, until when, which attempt) and
offers the way out to badge + PIN; judging the frames is the session engine's work.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from agent.session.liveness_checks import ChallengeView
from gui.presenters import challenge_prompt
from gui.widgets import button, label

CUE_FRAME_MS = 40
"""The cue moves at 25 frames per second."""
CUE_TRAVEL_PX = 90


class ChallengePage(QWidget):
    """Step k of n: what to do, a moving arrow (or a closing eye) showing it, seconds left."""

    fallback_requested = pyqtSignal()

    def __init__(self, target: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 32, 64, 32)
        layout.setSpacing(18)
        top = QHBoxLayout()
        self.step_count = label("", role="section")
        self.attempt = label("", role="muted")
        top.addWidget(self.step_count)
        top.addStretch(1)
        top.addWidget(self.attempt)
        layout.addLayout(top)
        self.synthetic = label(
            "SYNTHETIC liveness (demo) — the stand-in camera cannot do this; it is not evidence",
            name="SyntheticBanner",
            wrap=True,
        )
        self.synthetic.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.synthetic)
        layout.addStretch(1)
        self.cue = label("", name="ChallengeCue")
        self.cue.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.cue.setMinimumHeight(180)
        layout.addWidget(self.cue)
        self.title = label("", name="ChallengePrompt", wrap=True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.title)
        self.hint = label("", role="muted", wrap=True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.hint)
        self.countdown = label("", name="ChallengeCountdown")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.countdown)
        layout.addStretch(1)
        self.fallback_button = button("I can't do this — use my badge and PIN", role="primary")
        self.fallback_button.setMinimumHeight(target)
        self.fallback_button.clicked.connect(self.fallback_requested)
        layout.addWidget(self.fallback_button)
        self._view: ChallengeView | None = None
        self._phase = 0.0
        self._animation = QTimer(self)
        self._animation.setInterval(CUE_FRAME_MS)
        self._animation.timeout.connect(self._animate)

    @property
    def view(self) -> ChallengeView | None:
        """The step on screen."""
        return self._view

    def show_view(self, view: ChallengeView | None) -> None:
        """Show the current step (None: the engine has not drawn one yet)."""
        self._view = view
        if view is None:
            self.step_count.setText("LIVENESS CHECK")
            self.attempt.setText("")
            self.title.setText("Look at the camera")
            self.hint.setText("Your first step appears in a moment.")
            self.cue.setText("")
            self.countdown.setText("")
            self.synthetic.hide()
            self._animation.stop()
            return
        prompt = challenge_prompt(view.step.value)
        self.step_count.setText(f"STEP {view.step_number} OF {view.steps_total}")
        self.attempt.setText(f"Try {view.attempt}" if view.attempt > 1 else "")
        self.title.setText(prompt.title)
        self.hint.setText(prompt.hint)
        self.synthetic.setVisible(view.method == "synthetic")
        self.update_countdown(datetime.now(UTC))
        self._animate()
        if not self._animation.isActive():
            self._animation.start()

    def update_countdown(self, now: datetime) -> None:
        """Seconds left for the step on screen."""
        if self._view is None:
            return
        left = max(0.0, (self._view.deadline - now).total_seconds())
        self.countdown.setText(f"{math.ceil(left)} s")

    def hideEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        """No animation while the page is not shown."""
        self._animation.stop()
        super().hideEvent(event)  # type: ignore[arg-type]

    def _animate(self) -> None:
        view = self._view
        if view is None:
            return
        self._phase = (self._phase + CUE_FRAME_MS / 1400) % 1.0
        prompt = challenge_prompt(view.step.value)
        if prompt.direction == 0:  # blink: the eye closes once a second
            self.cue.setText(prompt.glyph_closed if self._phase % 1.0 > 0.8 else prompt.glyph)
            return
        travel = round(CUE_TRAVEL_PX * math.sin(math.pi * self._phase))
        margin = max(0, travel) if prompt.direction > 0 else 0
        other = max(0, travel) if prompt.direction < 0 else 0
        self.cue.setContentsMargins(margin, 0, other, 0)
        self.cue.setText(prompt.glyph)
