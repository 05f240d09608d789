"""The pages of the performer touchscreen: terms, STOP, badge + PIN, receipt, information.

Every page uses big type (26 px body, 34-56 px headings) and touch targets of at
least 15 mm (``target`` pixels, from :func:`gui.theme.touch_target_px`). Pages
hold no logic beyond enabling their own buttons; they emit what the performer
tapped and :class:`gui.performer.PerformerWindow` sends it to the controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QScroller,
    QVBoxLayout,
    QWidget,
)

from agent.records.receipt import make_receipt
from agent.session.snapshot import SessionSnapshot
from agent.wire.consent import ConsentRecord
from gui import theme
from gui.glyphs import LockGlyph, OutcomeGlyph, qr_image
from gui.presenters import (
    CAPTURE_TYPE_EXPLAINED,
    CAPTURE_TYPE_FOR_PERFORMER,
    capture_type_label,
    format_window,
    offered_capture_types,
    ordered_capture_types,
    outcome_for_performer,
    permissions,
)
from gui.widgets import button, label


def _page_layout(page: QWidget, margins: int = 48) -> QVBoxLayout:
    layout = QVBoxLayout(page)
    layout.setContentsMargins(margins, 32, margins, 32)
    layout.setSpacing(18)
    return layout


def _card() -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("PerformerCard")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(22, 16, 22, 16)
    layout.setSpacing(10)
    return frame, layout


class InfoPage(QWidget):
    """A padlock, a heading and one or two sentences (waiting, checking, locked, fault)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _page_layout(self, 96)
        layout.addStretch(1)
        self.glyph = LockGlyph(150)
        layout.addWidget(self.glyph, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(12)
        self.title = label("", role="h1", wrap=True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.text = label("", role="muted", wrap=True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addStretch(2)

    def show_info(self, title: str, text: str, tone: str) -> None:
        """Set the texts and the padlock colour."""
        self.title.setText(title)
        self.text.setText(text)
        self.glyph.set_tone(tone)


class TermsPage(QWidget):
    """Who, which production, what will be captured, the verbatim use, permissions, validity.

    The performer can confirm, narrow (untick capture types: only those offered,
    never more) or decline, each with one tap. For a minor, the guardian's
    co-confirmation must be ticked before Confirm is enabled.
    """

    confirmed = pyqtSignal(frozenset, bool)
    declined = pyqtSignal()

    def __init__(self, target: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._target = target
        self._session_id: str | None = None
        self._consent: ConsentRecord | None = None
        layout = _page_layout(self, 40)
        layout.setContentsMargins(40, 16, 40, 14)
        layout.setSpacing(12)

        header = QHBoxLayout()
        header.setSpacing(24)
        who = QVBoxLayout()
        who.setSpacing(0)
        who.addWidget(label("You are identified as", role="muted"))
        self.name = label("", role="name", wrap=True)
        who.addWidget(self.name)
        header.addLayout(who, 1)
        what = QVBoxLayout()
        what.setSpacing(2)
        self.production = label("", role="h2")
        self.production.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.window_text = label("", role="muted")
        self.window_text.setAlignment(Qt.AlignmentFlag.AlignRight)
        what.addStretch(1)
        what.addWidget(self.production)
        what.addWidget(self.window_text)
        header.addLayout(what)
        layout.addLayout(header)

        columns = QHBoxLayout()
        columns.setSpacing(20)
        left_card, left = _card()
        left.addWidget(label("WHAT WILL BE CAPTURED", role="section"))
        self.scope_box = QGridLayout()
        self.scope_box.setSpacing(10)
        left.addLayout(self.scope_box)
        left.addStretch(1)
        self.guardian_text = label("", role="muted", wrap=True)
        left.addWidget(self.guardian_text)
        self.guardian = button("", role="guardian")
        self.guardian.setCheckable(True)
        self.guardian.setMinimumHeight(target)
        self.guardian.toggled.connect(self._update_confirm)
        left.addWidget(self.guardian)
        self.scope_hint = label("Tap a capture type to remove it.", role="muted", wrap=True)
        left.insertWidget(2, self.scope_hint)
        columns.addWidget(left_card, 5)

        right_card, right = _card()
        right.addWidget(label("HOW THE SCANS MAY BE USED", role="section"))
        use_frame = QFrame()
        use_frame.setObjectName("UseText")
        use_layout = QVBoxLayout(use_frame)
        use_layout.setContentsMargins(22, 14, 18, 14)
        self.use_text = label("", wrap=True)
        self.use_text.setTextFormat(Qt.TextFormat.PlainText)
        self.use_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        use_layout.addWidget(self.use_text)
        use_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(use_frame)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.viewport().setAutoFillBackground(False)  # type: ignore[union-attr]
        QScroller.grabGesture(scroll.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture)
        right.addWidget(scroll, 1)
        permissions_box = QFrame()
        permissions_box.setObjectName("Permissions")
        self.permission_grid = QGridLayout(permissions_box)
        self.permission_grid.setContentsMargins(18, 10, 18, 10)
        self.permission_grid.setHorizontalSpacing(18)
        self.permission_grid.setVerticalSpacing(4)
        right.addWidget(permissions_box)
        columns.addWidget(right_card, 7)
        layout.addLayout(columns, 1)

        buttons = QHBoxLayout()
        buttons.setSpacing(24)
        self.decline_button = button("✕  DECLINE", role="decline")
        self.decline_button.setMinimumHeight(target)
        self.decline_button.setMinimumWidth(round(target * 3.2))
        self.decline_button.clicked.connect(self._decline)
        self.confirm_button = button("✓  CONFIRM", role="go")
        self.confirm_button.setMinimumHeight(target)
        self.confirm_button.clicked.connect(self._confirm)
        buttons.addWidget(self.decline_button)
        buttons.addWidget(self.confirm_button, 1)
        layout.addLayout(buttons)
        self.hint = label(
            "Nothing new is signed here: you only re-confirm the consent you agreed before today.",
            role="muted",
            wrap=True,
        )
        self.hint.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.hint)
        self.scope_buttons: dict[str, QPushButton] = {}

    @property
    def session_id(self) -> str | None:
        """The session whose terms the page shows (None before the first)."""
        return self._session_id

    def load(self, snapshot: SessionSnapshot) -> None:
        """Fill the page for this session's consent (all offered types ticked, guardian not yet)."""
        consent = snapshot.consent
        if consent is None:
            return
        if snapshot.session_id == self._session_id and consent == self._consent:
            self._set_busy(False)
            return
        self._session_id = snapshot.session_id
        self._consent = consent
        self.name.setText(snapshot.performer_name or consent.performer.display_name)
        self.production.setText(consent.production.name)
        self.production.setToolTip(consent.production.producer)
        for scope in self.scope_buttons.values():
            self.scope_box.removeWidget(scope)
            scope.deleteLater()
        self.scope_buttons = {}
        offered = offered_capture_types(snapshot)
        columns = 1 if len(offered) <= 3 else 2
        for index, code in enumerate(offered):
            scope = button("", role="scope")
            scope.setCheckable(True)
            scope.setChecked(True)
            scope.setMinimumHeight(self._target)
            scope.setProperty("capture_type", code)
            scope.toggled.connect(self._update_confirm)
            scope.setToolTip(CAPTURE_TYPE_EXPLAINED.get(code, ""))
            self.scope_buttons[code] = scope
            self.scope_box.addWidget(scope, index // columns, index % columns)
        guardian = consent.guardian
        self.guardian.setVisible(consent.minor)
        self.guardian_text.setVisible(consent.minor)
        self.guardian.setChecked(False)
        if guardian is not None:
            self.guardian_text.setText(f"{guardian.name} ({guardian.relationship}) must confirm too:")
        self.use_text.setText(consent.intended_use_text)
        self._fill_permissions(consent)
        self.window_text.setText("Valid " + format_window(consent.valid_from, consent.valid_until))
        self._set_busy(False)

    def selected(self) -> frozenset[str]:
        """Capture types still ticked."""
        return frozenset(code for code, scope in self.scope_buttons.items() if scope.isChecked())

    def _fill_permissions(self, consent: ConsentRecord) -> None:
        while self.permission_grid.count():
            item = self.permission_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row, permission in enumerate(permissions(consent)):
            mark = label("✓  Allowed" if permission.allowed else "✕  Not allowed")
            mark.setProperty("role", "allowed" if permission.allowed else "refused")
            self.permission_grid.addWidget(label(permission.label), row, 0)
            self.permission_grid.addWidget(mark, row, 1, Qt.AlignmentFlag.AlignRight)
        self.permission_grid.setColumnStretch(0, 1)

    def _update_confirm(self) -> None:
        for code, scope in self.scope_buttons.items():
            mark = "✓" if scope.isChecked() else "✕"
            scope.setText(f"{mark}   {CAPTURE_TYPE_FOR_PERFORMER.get(code, capture_type_label(code))}")
        self.guardian.setText(("✓" if self.guardian.isChecked() else "○") + "   Guardian confirms too")
        chosen = self.selected()
        guardian_ok = not (self._consent is not None and self._consent.minor) or self.guardian.isChecked()
        self.confirm_button.setEnabled(bool(chosen) and guardian_ok)
        offered = len(self.scope_buttons)
        if not chosen:
            text = "Tick at least one capture type"
        elif not guardian_ok:
            text = "Guardian must co-confirm"
        elif len(chosen) < offered:
            text = f"✓  CONFIRM {len(chosen)} OF {offered}"
        else:
            text = "✓  CONFIRM"
        self.confirm_button.setText(text)

    def _set_busy(self, busy: bool) -> None:
        self.decline_button.setEnabled(not busy)
        if busy:
            self.confirm_button.setEnabled(False)
        else:
            self._update_confirm()

    def _confirm(self) -> None:
        chosen = self.selected()
        if not chosen:
            return
        self._set_busy(True)
        self.confirm_button.setText("Unlocking…")
        self.confirmed.emit(chosen, self.guardian.isChecked())

    def _decline(self) -> None:
        self._set_busy(True)
        self.declined.emit()


class UnlockedPage(QWidget):
    """Capture is on: what for, time left, and a huge STOP button that is always on screen."""

    stop_requested = pyqtSignal()

    def __init__(self, target: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _page_layout(self, 64)
        top = QHBoxLayout()
        top.setSpacing(24)
        glyph = LockGlyph(96)
        glyph.set_tone("unlocked")
        top.addWidget(glyph, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.setSpacing(4)
        texts.addWidget(label("Scanning is on", role="h1"))
        self.scope = label("", role="muted", wrap=True)
        texts.addWidget(self.scope)
        self.count = label("", role="muted")
        texts.addWidget(self.count)
        top.addLayout(texts, 1)
        time_box = QVBoxLayout()
        time_box.setSpacing(0)
        time_box.addWidget(label("TIME LEFT", role="section"), 0, Qt.AlignmentFlag.AlignRight)
        self.time_left = label("", role="h1")
        time_box.addWidget(self.time_left, 0, Qt.AlignmentFlag.AlignRight)
        time_box.addStretch(1)
        top.addLayout(time_box)
        layout.addLayout(top)
        layout.addStretch(1)
        self.stop_button = QPushButton("STOP")
        self.stop_button.setObjectName("StopButton")
        self.stop_button.setMinimumHeight(max(round(2.6 * target), 240))
        self.stop_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.stop_button.clicked.connect(self.stop_requested)
        layout.addWidget(self.stop_button)
        self.note = label("", role="muted", wrap=True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.reset()

    def reset(self) -> None:
        """Back to the normal note (a new unlock)."""
        self.note.setText("Tap STOP at any moment. Capture locks at once.")

    def show_state(self, snapshot: SessionSnapshot, time_left: str | None) -> None:
        """Capture types, captures so far and countdown."""
        codes = ordered_capture_types(snapshot.confirmed_capture_types)
        self.scope.setText(
            "for " + ", ".join(CAPTURE_TYPE_FOR_PERFORMER.get(c, capture_type_label(c)) for c in codes)
        )
        plural = "s" if snapshot.captures != 1 else ""
        self.count.setText(f"{snapshot.captures} image{plural} captured so far")
        self.time_left.setText(time_left or "")


class FallbackPage(QWidget):
    """Badge code and PIN on a keypad, witnessed by the technician."""

    submitted = pyqtSignal(str, str, str)

    def __init__(self, target: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _page_layout(self, 56)
        layout.addWidget(label("Identify with your badge", role="h1"))
        layout.addWidget(
            label(
                "Your consent does not use face matching. Enter the code on your badge and your PIN."
                " The technician witnesses it.",
                role="muted",
                wrap=True,
            )
        )
        columns = QHBoxLayout()
        columns.setSpacing(32)
        fields = QVBoxLayout()
        fields.setSpacing(10)
        self.badge = QLineEdit()
        self.badge.setPlaceholderText("Badge code (or scan it)")
        self.pin = QLineEdit()
        self.pin.setPlaceholderText("PIN")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.witness = QLineEdit()
        self.witness.setPlaceholderText("Technician (witness)")
        for caption, field in (("BADGE CODE", self.badge), ("PIN", self.pin), ("WITNESS", self.witness)):
            field.setMinimumHeight(round(target * 0.8))
            field.textChanged.connect(self._update_submit)
            fields.addWidget(label(caption, role="section"))
            fields.addWidget(field)
        self.error = label("", role="refused", wrap=True)
        fields.addWidget(self.error)
        fields.addStretch(1)
        columns.addLayout(fields, 1)
        keypad = QGridLayout()
        keypad.setSpacing(12)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "C"]
        for index, key in enumerate(keys):
            key_button = button(key, role="key")
            key_button.setFixedSize(round(target * 1.15), target)
            key_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            key_button.clicked.connect(lambda _checked=False, k=key: self._key(k))
            keypad.addWidget(key_button, index // 3, index % 3)
        columns.addLayout(keypad)
        layout.addLayout(columns, 1)
        self.submit = button("Check my badge", role="go")
        self.submit.setMinimumHeight(target)
        self.submit.clicked.connect(self._submit)
        layout.addWidget(self.submit)
        self._update_submit()

    def reset(self, witness: str) -> None:
        """Empty the fields for a new attempt; the witness defaults to the technician."""
        self.badge.clear()
        self.pin.clear()
        self.error.clear()
        if not self.witness.text():
            self.witness.setText(witness)
        self.pin.setFocus()

    def show_refused(self, message: str) -> None:
        """The code or PIN was not accepted: say so and let them try again."""
        self.pin.clear()
        self.error.setText(message)
        self._update_submit()

    def _key(self, key: str) -> None:
        field = self.badge if self.badge.hasFocus() else self.pin
        if key == "⌫":
            field.backspace()
        elif key == "C":
            field.clear()
        else:
            field.insert(key)

    def _update_submit(self) -> None:
        ready = all(f.text().strip() for f in (self.badge, self.pin, self.witness))
        self.submit.setEnabled(ready)

    def _submit(self) -> None:
        self.error.setText("Checking…")
        self.submit.setEnabled(False)
        self.submitted.emit(self.badge.text().strip(), self.pin.text(), self.witness.text().strip())


class ReceiptPage(QWidget):
    """The outcome and the record's hash with a QR code, to take away."""

    done = pyqtSignal()

    def __init__(self, target: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = _page_layout(self, 72)
        head = QHBoxLayout()
        head.setSpacing(28)
        self.glyph = OutcomeGlyph(104)
        head.addWidget(self.glyph, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.setSpacing(6)
        self.title = label("", role="h1", wrap=True)
        self.text = label("", role="muted", wrap=True)
        texts.addWidget(self.title)
        texts.addWidget(self.text)
        head.addLayout(texts, 1)
        layout.addLayout(head)
        layout.addSpacing(8)
        card, body = _card()
        row = QHBoxLayout()
        row.setSpacing(28)
        self.qr = QLabel()
        self.qr.setFixedSize(232, 232)
        self.qr.setScaledContents(True)
        row.addWidget(self.qr)
        details = QVBoxLayout()
        details.setSpacing(8)
        details.addWidget(label("YOUR SESSION RECORD", role="section"))
        self.record = label("", role="h2", wrap=True)
        self.hash = label("", role="hash")
        self.hash.setFont(theme.mono_font(24))
        self.hash.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details.addWidget(self.record)
        details.addWidget(self.hash)
        details.addWidget(
            label(
                "This code names your record exactly. You, your union or your lawyer can check"
                " at any time that it was never changed.",
                role="muted",
                wrap=True,
            )
        )
        details.addStretch(1)
        row.addLayout(details, 1)
        body.addLayout(row)
        layout.addWidget(card)
        layout.addStretch(1)
        self.done_button = button("Done", role="primary")
        self.done_button.setMinimumHeight(target)
        self.done_button.clicked.connect(self.done)
        layout.addWidget(self.done_button)

    def show_record(self, record: Mapping[str, Any]) -> None:
        """Fill in the receipt of a signed session record."""
        receipt = make_receipt(record)
        view = outcome_for_performer(record)
        self.title.setText(view.title)
        self.text.setText(view.text)
        self.glyph.set_outcome(view.mark, view.tone)
        self.record.setText(f"Record {receipt.sequence} · {receipt.rig_id}")
        digest = receipt.record_hash
        self.hash.setText(
            " ".join(digest[i : i + 8] for i in range(0, 32, 8))
            + "\n"
            + " ".join(digest[i : i + 8] for i in range(32, 64, 8))
        )
        self.hash.setToolTip(f"SHA-256 of the signed record: {digest}")
        self.qr.setPixmap(QPixmap.fromImage(qr_image(receipt.qr_payload())))
