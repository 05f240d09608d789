"""The performer touchscreen (kiosk style): confirm, narrow, decline, STOP, badge + PIN, receipt.

Full-screen on the second screen when there is one. The top strip always shows
the lock state in its colour; the page below follows the session phase. Every
tap becomes one :class:`SessionController` command (which only enqueues), so
the STOP button locks capture as fast as the engine thread can take the input.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QScreen
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot
from gui import theme
from gui.bridge import AgentBridge
from gui.challenge_page import ChallengePage
from gui.performer_pages import FallbackPage, InfoPage, ReceiptPage, TermsPage, UnlockedPage
from gui.ports import SessionCommands
from gui.presenters import format_countdown
from gui.widgets import label

RECEIPT_SECONDS = 120
"""The receipt goes back to the welcome page after this long (or when Done is tapped)."""

FALLBACK_REFUSED_PREFIX = "Badge/PIN refused"

_STATUS_TEXT = {
    Phase.IDLE: "CAPTURE LOCKED",
    Phase.IDENTIFYING: "CAPTURE LOCKED · IDENTIFYING",
    Phase.CHALLENGING: "CAPTURE LOCKED · LIVENESS CHECK",
    Phase.CHECKING_CONSENT: "CAPTURE LOCKED · CHECKING CONSENT",
    Phase.AWAITING_CONFIRMATION: "CAPTURE LOCKED · WAITING FOR YOU",
    Phase.UNLOCKED: "CAPTURE ON",
    Phase.CLOSING: "CAPTURE LOCKED",
    Phase.LOCKED_FAULT: "CAPTURE LOCKED · FAULT",
}


class PerformerWindow(QWidget):
    """The performer's screen. Shows snapshots from the bridge; taps go to the controller."""

    def __init__(
        self,
        bridge: AgentBridge,
        controller: SessionCommands,
        *,
        screen: QScreen | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("PerformerScreen")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setWindowTitle(theme.window_title("Performer"))
        self._controller = controller
        self._snapshot: SessionSnapshot | None = None
        self._dismissed_record: str | None = None
        self._fallback_events_seen = 0
        self._witness = ""
        target = theme.touch_target_px(screen or self.screen())
        self.touch_target = target

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.status = QFrame()
        self.status.setObjectName("PerformerStatus")
        self.status.setFixedHeight(68)
        strip = QHBoxLayout(self.status)
        strip.setContentsMargins(40, 0, 40, 0)
        self.status_text = label("CAPTURE LOCKED")
        self.status_right = label("")
        strip.addWidget(self.status_text)
        strip.addStretch(1)
        strip.addWidget(self.status_right)
        layout.addWidget(self.status)

        self.pages = QStackedWidget()
        self.info = InfoPage()
        self.terms = TermsPage(target)
        self.unlocked = UnlockedPage(target)
        self.fallback = FallbackPage(target)
        self.receipt = ReceiptPage(target)
        self.challenge = ChallengePage(target)
        for page in (self.info, self.terms, self.unlocked, self.fallback, self.receipt, self.challenge):
            self.pages.addWidget(page)
        layout.addWidget(self.pages, 1)

        self.terms.confirmed.connect(self._confirm)
        self.terms.declined.connect(self._decline)
        self.unlocked.stop_requested.connect(self._stop)
        self.fallback.submitted.connect(controller.submit_fallback)
        self.receipt.done.connect(self._dismiss_receipt)
        self.challenge.fallback_requested.connect(controller.request_fallback)
        bridge.snapshot_changed.connect(self.show_snapshot)

        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._receipt_timer = QTimer(self)
        self._receipt_timer.setSingleShot(True)
        self._receipt_timer.setInterval(RECEIPT_SECONDS * 1000)
        self._receipt_timer.timeout.connect(self._dismiss_receipt)
        self._show_welcome()
        if bridge.latest_snapshot is not None:
            self.show_snapshot(bridge.latest_snapshot)

    # ---------------------------------------------------------------- snapshot → page

    def set_witness(self, technician: str) -> None:
        """Default witness name for badge + PIN (the technician at the console)."""
        self._witness = technician

    def show_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Switch to the page of the snapshot's phase."""
        previous = self._snapshot
        self._snapshot = snapshot
        phase = snapshot.phase
        tone = _tone(phase)
        theme.set_tone(self.status, tone)
        self._show_status_text(snapshot)
        consent = snapshot.consent
        on_terms = phase is Phase.AWAITING_CONFIRMATION  # the terms page names the production itself
        self.status_right.setText(consent.production.name if consent is not None and not on_terms else "")
        if phase is Phase.IDLE:
            record = snapshot.last_record
            if record is not None and snapshot.last_record_hash != self._dismissed_record:
                if self.pages.currentWidget() is not self.receipt:
                    self.receipt.show_record(record)
                    self._receipt_timer.start()
                self.pages.setCurrentWidget(self.receipt)
            else:
                self._show_welcome()
        elif phase is Phase.IDENTIFYING:
            if snapshot.fallback_mode:
                self._show_fallback(snapshot, previous)
            else:
                self._info("Please look at the camera", "Face the camera and hold still for a moment.", tone)
        elif phase is Phase.CHALLENGING:
            self.challenge.show_view(snapshot.challenge)
            self.pages.setCurrentWidget(self.challenge)
        elif phase is Phase.CHECKING_CONSENT:
            self._info("One moment", "Checking your consent for this production…", tone)
        elif phase is Phase.AWAITING_CONFIRMATION:
            self.terms.load(snapshot)
            self.pages.setCurrentWidget(self.terms)
        elif phase is Phase.UNLOCKED:
            if previous is None or previous.phase is not Phase.UNLOCKED:
                self.unlocked.reset()
            self.unlocked.show_state(snapshot, self._time_left(snapshot))
            self.pages.setCurrentWidget(self.unlocked)
        elif phase is Phase.CLOSING:
            self._info("Capture locked", "Nothing more is captured. Saving your session record…", tone)
        else:
            self._info(
                "Capture locked",
                "A technical problem stopped the session. Nothing more is captured."
                " The technician will help you.",
                tone,
            )
        if phase is not Phase.IDLE:
            self._receipt_timer.stop()

    def _show_welcome(self) -> None:
        self._info(
            "Welcome",
            "The technician will start your session. Nothing is captured until you confirm on this screen.",
            "locked",
        )

    def _info(self, title: str, text: str, tone: str) -> None:
        self.info.show_info(title, text, tone)
        self.pages.setCurrentWidget(self.info)

    def _show_fallback(self, snapshot: SessionSnapshot, previous: SessionSnapshot | None) -> None:
        entering = previous is None or not (previous.fallback_mode and previous.phase is Phase.IDENTIFYING)
        refusals = sum(1 for _, text in snapshot.events if text.startswith(FALLBACK_REFUSED_PREFIX))
        if entering:
            self.fallback.reset(self._witness)
            self._fallback_events_seen = refusals
        elif refusals > self._fallback_events_seen:
            self._fallback_events_seen = refusals
            self.fallback.show_refused("Code or PIN not accepted. Try again, or ask the technician.")
        self.pages.setCurrentWidget(self.fallback)

    def _time_left(self, snapshot: SessionSnapshot) -> str | None:
        left = snapshot.seconds_left(datetime.now(UTC))
        return format_countdown(left) if left is not None else None

    def _show_status_text(self, snapshot: SessionSnapshot) -> None:
        left = self._time_left(snapshot) if snapshot.capture_unlocked else None
        self.status_text.setText(f"CAPTURE ON · {left} LEFT" if left else _STATUS_TEXT[snapshot.phase])

    def _tick(self) -> None:
        snapshot = self._snapshot
        if snapshot is not None and snapshot.phase is Phase.CHALLENGING:
            self.challenge.update_countdown(datetime.now(UTC))
        if snapshot is not None and snapshot.capture_unlocked:
            self.unlocked.show_state(snapshot, self._time_left(snapshot))
            self._show_status_text(snapshot)

    # ---------------------------------------------------------------- taps

    def _confirm(self, capture_types: frozenset[str], guardian: bool) -> None:
        self._controller.confirm(capture_types, guardian, session_id=self.terms.session_id)

    def _decline(self) -> None:
        self._controller.decline(session_id=self.terms.session_id)

    def _stop(self) -> None:
        self._controller.stop_capture()
        self.unlocked.note.setText("Stopping — capture is being locked.")

    def _dismiss_receipt(self) -> None:
        snapshot = self._snapshot
        if snapshot is not None:
            self._dismissed_record = snapshot.last_record_hash
        self._receipt_timer.stop()
        if snapshot is None or snapshot.phase is Phase.IDLE:
            self._show_welcome()


def _tone(phase: Phase) -> str:
    return {
        Phase.IDENTIFYING: "checking",
        Phase.CHALLENGING: "checking",
        Phase.CHECKING_CONSENT: "checking",
        Phase.AWAITING_CONFIRMATION: "awaiting",
        Phase.UNLOCKED: "unlocked",
        Phase.LOCKED_FAULT: "fault",
    }.get(phase, "locked")
