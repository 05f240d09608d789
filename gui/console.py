"""The technician console (``scangate run``): preview, lock state, session controls, health, events.

Holds no business logic: it shows :class:`SessionSnapshot` values from the bridge
and turns button presses into :class:`SessionController` commands, which only
enqueue and return at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent.session.model import ACTIVE_PHASES, Phase
from agent.session.snapshot import SessionSnapshot
from agent.startup import StartupProgress
from agent.wire.consent import CaptureType
from gui import theme
from gui.bridge import AgentBridge
from gui.health import HealthItem
from gui.ports import SessionCommands
from gui.presenters import (
    capture_type_label,
    capture_type_short,
    liveness_mode_view,
    lock_view,
    match_view,
    ordered_capture_types,
)
from gui.preview import FrameFeed, PreviewWidget
from gui.startup_panel import StartupPanel, startup_health_items, startup_lock_view, startup_notice
from gui.widgets import (
    Card,
    EventList,
    HealthStrip,
    LockBanner,
    NoticeBar,
    StandingNotice,
    button,
    label,
)

CHIP_COLUMNS = 3
_ANNOUNCED = (
    ("Capture refused", "Capture refused", "Nothing was captured; check the camera and the lock state."),
    (
        "Consent refused",
        "Consent refused",
        "Capture stays locked; the performer's consent does not allow this.",
    ),
    ("Badge/PIN refused", "Badge or PIN not accepted", "The performer can try again on the touchscreen."),
)
_ACTIVE = ACTIVE_PHASES


@dataclass(frozen=True)
class ConsoleContext:
    """Facts about the rig the console shows (from the configuration)."""

    rig_id: str
    rig_name: str
    production: str
    capture_types: Sequence[str] = field(default_factory=lambda: [t.value for t in CaptureType])
    technician: str = ""
    liveness: str = "challenge"
    """How the rig establishes liveness: 'challenge', 'synthetic' (the demo) or 'off' (configuration)."""


class TechnicianConsole(QMainWindow):
    """Main window for the rig operator."""

    review_requested = pyqtSignal()
    performer_screen_requested = pyqtSignal()
    technician_changed = pyqtSignal(str)

    def __init__(
        self,
        bridge: AgentBridge,
        controller: SessionCommands,
        context: ConsoleContext,
        camera: FrameFeed | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(theme.window_title("Technician console", context.rig_name))
        self._controller = controller
        self._context = context
        self._snapshot: SessionSnapshot | None = None
        root = QWidget()
        root.setObjectName("ConsoleRoot")
        self.setCentralWidget(root)
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._top_bar(context))
        body = QHBoxLayout()
        body.setContentsMargins(20, 16, 20, 16)
        body.setSpacing(18)
        outer.addLayout(body, 1)

        left = QVBoxLayout()
        left.setSpacing(14)
        # Above the preview, which gives up the height: the window still fits 1440 x 900.
        self.liveness_mode = StandingNotice()
        self.show_liveness_mode(context.liveness)
        left.addWidget(self.liveness_mode)
        self.screen_notice = StandingNotice()  # the performer's touchscreen is missing (gui.screens)
        left.addWidget(self.screen_notice)
        self.notice = NoticeBar()
        left.addWidget(self.notice)
        self.startup_notice = StandingNotice()  # a part that failed to start: what, and what to do
        left.addWidget(self.startup_notice)
        self.startup = StartupPanel()
        self.startup.hide()
        left.addWidget(self.startup)
        self.preview = PreviewWidget(camera)
        left.addWidget(self.preview, 1)
        left.addWidget(self._identity_card())
        self.health = HealthStrip()
        left.addWidget(self.health)
        body.addLayout(left, 1)

        right = QVBoxLayout()
        right.setSpacing(14)
        self.banner = LockBanner()
        right.addWidget(self.banner)
        right.addWidget(self._session_card(context))
        right.addWidget(self._capture_card())
        events = Card("Session events")
        self.events = EventList()
        events.body.addWidget(self.events, 1)
        right.addWidget(events, 1)
        side = QWidget()
        side.setLayout(right)
        side.setFixedWidth(470)
        body.addWidget(side)

        bridge.snapshot_changed.connect(self.show_snapshot)
        bridge.recognition_result.connect(self.preview.set_recognition)
        bridge.camera_status_changed.connect(self.preview.set_camera_status)
        bridge.health_changed.connect(self._show_health)
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._tick()  # the clock on the first paint, not a quarter second later
        QShortcut(QKeySequence("Ctrl+Return"), self).activated.connect(self._start)
        QShortcut(QKeySequence("Space"), self).activated.connect(self._capture)
        for item in bridge.latest_health.values():
            self.health.show_item(item)
        if bridge.latest_snapshot is not None:
            self.show_snapshot(bridge.latest_snapshot)
        else:  # no session engine heard from yet: nothing to start, end or capture
            self._disable_controls()

    # ---------------------------------------------------------------- layout

    def _top_bar(self, context: ConsoleContext) -> QFrame:
        bar = QFrame()
        bar.setObjectName("TopBar")
        bar.setFixedHeight(56)
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(20, 0, 20, 0)
        layout.setSpacing(12)
        layout.addWidget(label(name="WordmarkMark"))
        layout.addWidget(label("ScanGate", name="Wordmark"))
        layout.addSpacing(16)
        self.context_label = label(f"{context.rig_name}  ·  {context.production}", name="TopContext")
        layout.addWidget(self.context_label)
        layout.addStretch(1)
        self.clock = label("", name="Clock")
        layout.addWidget(self.clock)
        layout.addSpacing(12)
        self.performer_button = button("Performer screen", role="quiet")
        self.performer_button.clicked.connect(self.performer_screen_requested)
        self.review_button = button("Review logs", role="quiet")
        self.review_button.clicked.connect(self.review_requested)
        layout.addWidget(self.performer_button)
        layout.addWidget(self.review_button)
        return bar

    def _identity_card(self) -> Card:
        card = Card()
        row = QHBoxLayout()
        row.setSpacing(24)
        who = QVBoxLayout()
        who.setSpacing(2)
        who.addWidget(label("IDENTIFIED AS", name="CardTitle"))
        self.identity_name = label("Nobody yet", name="IdentityName")
        self.identity_detail = label("Start a session; the performer faces the camera.", role="caption")
        who.addWidget(self.identity_name)
        who.addWidget(self.identity_detail)
        quality = QVBoxLayout()
        quality.setSpacing(2)
        quality.addWidget(label("MATCH QUALITY", name="CardTitle"))
        self.match_quality = label("—", name="MatchQuality")
        theme.set_tone(self.match_quality, "neutral")
        self.match_detail = label("no match yet", role="caption")
        quality.addWidget(self.match_quality)
        quality.addWidget(self.match_detail)
        consent = QVBoxLayout()
        consent.setSpacing(2)
        consent.addWidget(label("CONSENT", name="CardTitle"))
        self.consent_value = label("—", role="value")
        self.consent_detail = label("", role="caption")
        consent.addWidget(self.consent_value)
        consent.addWidget(self.consent_detail)
        row.addLayout(who, 3)
        row.addLayout(quality, 2)
        row.addLayout(consent, 2)
        card.body.addLayout(row)
        return card

    def _session_card(self, context: ConsoleContext) -> Card:
        card = Card("Session · technician and capture types")
        self.technician = QLineEdit(context.technician)
        self.technician.setPlaceholderText("Technician name or badge")
        self.technician.textChanged.connect(self.technician_changed)
        card.body.addWidget(self.technician)
        chips = QGridLayout()
        chips.setSpacing(8)
        self.type_chips: dict[str, QPushButton] = {}
        for index, code in enumerate(ordered_capture_types(list(context.capture_types))):
            chip = _capture_type_chip(code, checked=code == "face")
            self.type_chips[code] = chip
            chips.addWidget(chip, index // CHIP_COLUMNS, index % CHIP_COLUMNS)
        card.body.addLayout(chips)
        row = QHBoxLayout()
        row.setSpacing(10)
        self.start_button = button("Start session", role="primary")
        self.start_button.setMinimumHeight(46)
        self.start_button.clicked.connect(self._start)
        self.end_button = button("End session", role="danger")
        self.end_button.setMinimumHeight(46)
        self.end_button.clicked.connect(self._controller_end)
        row.addWidget(self.start_button, 1)
        row.addWidget(self.end_button, 1)
        card.body.addLayout(row)
        self.fallback_button = button("Identify by badge + PIN instead", role="quiet")
        self.fallback_button.setToolTip(
            "For performers who did not consent to face matching: badge code and PIN on the"
            " touchscreen, witnessed by you."
        )
        self.fallback_button.clicked.connect(self._fallback)
        card.body.addWidget(self.fallback_button)
        return card

    def _capture_card(self) -> Card:
        card = Card("Capture")
        row = QWidget()
        row.setFixedHeight(38)
        self.capture_type_row = QHBoxLayout(row)
        self.capture_type_row.setContentsMargins(0, 0, 0, 0)
        self.capture_type_row.setSpacing(8)
        self.capture_group = QButtonGroup(self)
        self.capture_group.setExclusive(True)
        card.body.addWidget(row)
        self.capture_button = button("CAPTURE", role="go", name="CaptureButton")
        self.capture_button.clicked.connect(self._capture)
        card.body.addWidget(self.capture_button)
        self.capture_info = label("", role="caption")
        card.body.addWidget(self.capture_info)
        return card

    # ---------------------------------------------------------------- start-up

    def show_startup(self, progress: StartupProgress) -> None:
        """While the rig's parts start (before any snapshot): what is starting, or what failed.

        Every control that needs the session engine stays disabled; the lock banner and
        the health pills say why. When every part is up the panel goes; the first
        snapshot then enables the controls.
        """
        title = ["Technician console", self._context.rig_name]
        if progress.ready:
            self.setWindowTitle(theme.window_title(*title))
            self.startup.hide()
            if (degraded := startup_notice(progress)) is not None:  # e.g. no face models: badge + PIN only
                self.startup_notice.show_notice(*degraded, "locked")
            return
        stopped = progress.failure is not None
        self.setWindowTitle(theme.window_title(*title, "start-up stopped" if stopped else "starting…"))
        self._disable_controls()
        self.review_button.setEnabled(False)
        self.review_button.setToolTip("Available once ScanGate has started (it reads this rig's log).")
        self.banner.show_view(startup_lock_view(progress))
        self.startup.show_progress(progress)
        self.startup.show()
        for item in startup_health_items(progress):
            self.health.show_item(item)
        notice = startup_notice(progress)
        if notice is not None and progress.failure is not None:
            self.startup_notice.show_notice(*notice, "locked")
            self.preview.show_not_started(f"Start-up stopped: {progress.failure.part} failed (see above).")
            self.capture_info.setText("Locked: ScanGate did not start.")
        else:
            self.capture_info.setText("Locked: ScanGate is starting.")

    def show_liveness_mode(self, method: str) -> None:
        """The standing notice for how liveness is established ('synthetic' and 'off' are shown)."""
        mode = liveness_mode_view(method)
        if mode is None:
            self.liveness_mode.hide()
        else:
            self.liveness_mode.show_notice(mode.title, mode.text, mode.tone)

    def attach_camera(self, camera: FrameFeed) -> None:
        """Show the rig's camera in the preview (once the rig has started)."""
        self.preview.set_feed(camera)
        self.review_button.setEnabled(True)
        self.review_button.setToolTip("")

    def _disable_controls(self) -> None:
        for control in (self.start_button, self.end_button, self.fallback_button, self.capture_button):
            control.setEnabled(False)
        for chip in self.type_chips.values():
            chip.setEnabled(False)

    # ---------------------------------------------------------------- snapshot → screen

    def show_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Show a session snapshot (called on the GUI thread via the bridge)."""
        previous = self._snapshot
        self._snapshot = snapshot
        phase = snapshot.phase
        self.banner.show_view(lock_view(snapshot, datetime.now(UTC)))
        idle = phase is Phase.IDLE
        self.start_button.setEnabled(idle)
        self.end_button.setEnabled(phase in _ACTIVE or phase is Phase.LOCKED_FAULT)
        self.end_button.setText("Acknowledge fault" if phase is Phase.LOCKED_FAULT else "End session")
        for chip in self.type_chips.values():
            chip.setEnabled(idle)
        self.technician.setEnabled(idle)
        self.fallback_button.setEnabled(
            phase in (Phase.IDENTIFYING, Phase.CHECKING_CONSENT) and not snapshot.fallback_mode
        )
        self._show_identity(snapshot)
        self._show_capture(snapshot, previous)
        self.events.show_events(snapshot.events)
        self._announce_new_events(snapshot, previous)
        self.preview.set_session_performer(snapshot.performer_id)

    def _show_identity(self, snapshot: SessionSnapshot) -> None:
        if snapshot.performer_id is None:
            self.identity_name.setText("Nobody yet")
            waiting = {
                Phase.IDENTIFYING: "Badge + PIN on the touchscreen, witnessed by you."
                if snapshot.fallback_mode
                else "Waiting for the performer to face the camera.",
            }
            self.identity_detail.setText(
                waiting.get(snapshot.phase, "Start a session; the performer faces the camera.")
            )
        else:
            self.identity_name.setText(snapshot.performer_name or snapshot.performer_id)
            method = "badge + PIN" if snapshot.identification_method == "fallback_badge_pin" else "face"
            self.identity_detail.setText(f"{snapshot.performer_id} · by {method}")
        view = match_view(snapshot.match_distance, snapshot.match_margin, snapshot.identification_method)
        self.match_quality.setText(view.quality)
        self.match_detail.setText(view.detail)
        theme.set_tone(self.match_quality, view.tone)
        consent = snapshot.consent
        if consent is not None:
            self.context_label.setText(f"{self._context.rig_name}  ·  {consent.production.name}")
        if consent is None:
            self.consent_value.setText("—")
            self.consent_detail.setText("checked when the performer is identified")
        else:
            self.consent_value.setText(f"{consent.consent_id} v{consent.version}")
            self.consent_detail.setText(f"{consent.production.name} · until {consent.valid_until:%d %b %Y}")

    def _show_capture(self, snapshot: SessionSnapshot, previous: SessionSnapshot | None) -> None:
        unlocked = snapshot.capture_unlocked
        types = ordered_capture_types(snapshot.confirmed_capture_types) if unlocked else []
        if (
            previous is None
            or previous.confirmed_capture_types != snapshot.confirmed_capture_types
            or (previous.capture_unlocked != unlocked)
        ):
            self._rebuild_capture_types(types)
        self.capture_button.setEnabled(unlocked)
        if unlocked:
            self.capture_info.setText(f"{snapshot.captures} capture(s) this session · space bar captures too")
        elif snapshot.phase is Phase.IDLE:
            self.capture_info.setText("Locked: no session.")
        elif snapshot.phase is Phase.LOCKED_FAULT:
            self.capture_info.setText("Locked by a fault: see above, then acknowledge it.")
        elif snapshot.phase is Phase.CLOSING:
            self.capture_info.setText("Locked: the session is closing.")
        else:
            self.capture_info.setText("Locked until the performer confirms.")

    def _rebuild_capture_types(self, types: list[str]) -> None:
        while self.capture_type_row.count():
            item = self.capture_type_row.takeAt(0)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QPushButton):
                self.capture_group.removeButton(widget)
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        if not types:
            self.capture_type_row.addWidget(label("No capture type unlocked.", role="caption"))
        for index, code in enumerate(types):
            chip = _capture_type_chip(code, checked=index == 0)
            chip.setProperty("capture_type", code)
            self.capture_group.addButton(chip)
            self.capture_type_row.addWidget(chip)
        self.capture_type_row.addStretch(1)

    def _announce_new_events(self, snapshot: SessionSnapshot, previous: SessionSnapshot | None) -> None:
        """Refusals the technician must not miss are also shown in the notice bar."""
        seen = previous.events[-1][0] if previous is not None and previous.events else None
        for at, text in snapshot.events:
            if seen is not None and at <= seen:
                continue
            for prefix, title, advice in _ANNOUNCED:
                if text.startswith(prefix):
                    self.notice.show_notice(
                        title, f"{text[len(prefix) :].lstrip(': ')}. {advice}", "checking"
                    )

    def _show_health(self, item: HealthItem) -> None:
        self.health.show_item(item)

    def _tick(self) -> None:
        self.clock.setText(datetime.now().astimezone().strftime("%H:%M:%S"))
        snapshot = self._snapshot
        if snapshot is not None and (snapshot.capture_unlocked or snapshot.challenge is not None):
            self.banner.show_view(lock_view(snapshot, datetime.now(UTC)))

    # ---------------------------------------------------------------- commands

    def selected_capture_types(self) -> frozenset[str]:
        """Capture types ticked for the next session."""
        return frozenset(code for code, chip in self.type_chips.items() if chip.isChecked())

    def _start(self) -> None:
        if self._snapshot is not None and self._snapshot.phase is not Phase.IDLE:
            return
        technician = self.technician.text().strip()
        types = self.selected_capture_types()
        if not technician:
            self.notice.show_notice(
                "Who is operating the rig?",
                "Type your name or badge in the Session panel, then start.",
                "checking",
            )
            self.technician.setFocus()
            return
        if not types:
            self.notice.show_notice(
                "No capture type chosen", "Tick at least one capture type for this session.", "checking"
            )
            return
        self.notice.hide()
        self._controller.start_session(technician, types)

    def _controller_end(self) -> None:
        self._controller.end_session()

    def _fallback(self) -> None:
        self._controller.request_fallback()

    def _capture(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or not snapshot.capture_unlocked:
            return
        chosen = self.capture_group.checkedButton()
        code = chosen.property("capture_type") if chosen is not None else None
        if not code:
            code = ordered_capture_types(snapshot.confirmed_capture_types)[0]
        self._controller.capture(str(code))

    def closeEvent(self, event: QCloseEvent | None) -> None:  # noqa: N802 - Qt's name
        self._ticker.stop()
        self.preview.stop()
        super().closeEvent(event)

    # ---------------------------------------------------------------- for tests

    @property
    def current_snapshot(self) -> SessionSnapshot | None:
        """The snapshot on screen."""
        return self._snapshot


def _capture_type_chip(code: str, *, checked: bool) -> QPushButton:
    """A checkable chip naming a capture type (short name, full name in the tooltip)."""
    chip = button(capture_type_short(code), role="chip")
    chip.setToolTip(capture_type_label(code))
    chip.setCheckable(True)
    chip.setChecked(checked)
    return chip
