"""Small building blocks shared by the windows: cards, the lock banner, health pills, notices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont, QFontMetrics, QResizeEvent
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.health import COMPONENTS, TITLES, HealthItem, unknown
from gui.presenters import LockView

WORD_MAX_PX = 56
WORD_MIN_PX = 30


def label(text: str = "", *, role: str | None = None, name: str | None = None, wrap: bool = False) -> QLabel:
    """A QLabel with a stylesheet role and/or object name."""
    widget = QLabel(text)
    if role:
        widget.setProperty("role", role)
    if name:
        widget.setObjectName(name)
    widget.setWordWrap(wrap)
    return widget


def button(text: str, *, role: str | None = None, name: str | None = None) -> QPushButton:
    """A QPushButton with a stylesheet role and/or object name (no focus rectangle on touch)."""
    widget = QPushButton(text)
    if role:
        widget.setProperty("role", role)
    if name:
        widget.setObjectName(name)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    return widget


class Card(QFrame):
    """A rounded panel with a small uppercase title."""

    def __init__(self, title: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(16, 12, 16, 14)
        self.body.setSpacing(8)
        if title:
            self.body.addWidget(label(title.upper(), name="CardTitle"))


class LockBanner(QFrame):
    """The unmistakable lock state: one huge word, colour-coded, with time left and the reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LockBanner")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 12, 22, 14)
        layout.setSpacing(0)
        top = QHBoxLayout()
        self.caption = label("CAPTURE", name="LockCaption")
        self.timer = label("", name="LockTimer")
        self.timer.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.caption, 1, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.timer)
        self.word = label("LOCKED", name="LockWord")
        self.word.setFont(self._word_font(WORD_MAX_PX))
        self.word.setMinimumWidth(1)  # the text shrinks to fit instead of widening the column
        self.reason = label("", name="LockReason", wrap=True)
        self.reason.setMinimumHeight(40)
        self.reason.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(top)
        layout.addWidget(self.word)
        layout.addSpacing(4)
        layout.addWidget(self.reason)
        theme.set_tone(self, "locked")

    def show_view(self, view: LockView) -> None:
        """Display a lock view (word, colour, reason, time left)."""
        theme.set_tone(self, view.tone)
        if view.word != self.word.text():
            self.word.setText(view.word)
            self._fit_word()
        self.reason.setText(view.reason)
        self.timer.setText(view.time_left or "")
        self.caption.setText("CAPTURE · FAULT" if view.tone == "fault" else "CAPTURE")
        self.timer.setToolTip(view.timer_hint if view.time_left else "")

    def resizeEvent(self, event: QResizeEvent | None) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_word()

    def _word_font(self, pixel_size: int) -> QFont:
        font = QFont(self.font())
        font.setFamilies(theme.FONT_FAMILIES)
        font.setPixelSize(pixel_size)
        font.setWeight(QFont.Weight.Black)
        return font

    def _fit_word(self) -> None:
        """The largest size (56 px down to 30 px) at which the word fits on one line."""
        available = self.contentsRect().width() - 48
        size = WORD_MAX_PX
        while (
            size > WORD_MIN_PX
            and QFontMetrics(self._word_font(size)).horizontalAdvance(self.word.text()) > available
        ):
            size -= 2
        self.word.setFont(self._word_font(size))
        self.word.setFixedHeight(QFontMetrics(self._word_font(WORD_MAX_PX)).height())


class HealthPill(QFrame):
    """One component's health: coloured dot, name, short status; details in the tooltip."""

    def __init__(self, component: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("HealthPill")
        self.component = component
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 14, 8)
        layout.setSpacing(10)
        self.dot = label(name="HealthDot")
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self.name = label(TITLES.get(component, component.upper()), name="HealthName")
        self.text = label("", name="HealthText")
        texts.addWidget(self.name)
        texts.addWidget(self.text)
        layout.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(texts, 1)
        self.show_item(unknown(component))

    def show_item(self, item: HealthItem) -> None:
        """Display a health item."""
        self.text.setText(item.text)
        self.setToolTip(item.detail or item.text)
        theme.set_tone(self.dot, item.tone)
        theme.set_tone(self, item.tone)
        self.item = item


class HealthStrip(QWidget):
    """The four health pills in a row: camera, registry, gate, upload queue."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        self.pills = {component: HealthPill(component) for component in COMPONENTS}
        for pill in self.pills.values():
            layout.addWidget(pill, 1)

    def show_item(self, item: HealthItem) -> None:
        """Update the pill of ``item.component`` (unknown components are ignored)."""
        pill = self.pills.get(item.component)
        if pill is not None:
            pill.show_item(item)


class EventList(QListWidget):
    """The session's event lines, newest first, each with its local time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("EventList")
        self.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.setWordWrap(True)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(48)
        self._shown: tuple[tuple[datetime, str], ...] = ()

    def show_events(self, events: Sequence[tuple[datetime, str]]) -> None:
        """Show ``events`` (oldest first as the controller keeps them), if they changed."""
        events = tuple(events)
        if events == self._shown:
            return
        self._shown = events
        self.clear()
        for at, text in reversed(events):
            item = QListWidgetItem(f"{at.astimezone().strftime('%H:%M:%S')}   {text}")
            item.setToolTip(text)
            self.addItem(item)


class StandingNotice(QFrame):
    """A warning about how the rig is set up: shown for as long as it holds, never dismissable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Notice")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(2)
        self.title = label("", name="NoticeTitle", wrap=True)
        self.text = label("", name="NoticeText", wrap=True)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        self.hide()

    def show_notice(self, title: str, text: str, tone: str) -> None:
        """Show the warning in ``tone`` (locked = red, checking = amber)."""
        theme.set_tone(self, tone)
        self.title.setText(title)
        self.text.setText(text)
        self.show()


class NoticeBar(QFrame):
    """An inline message: what happened and what to do, dismissable. Never a traceback."""

    dismissed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Notice")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 12, 12, 12)
        layout.setSpacing(14)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        self.title = label("", name="NoticeTitle", wrap=True)
        self.text = label("", name="NoticeText", wrap=True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        texts.addWidget(self.title)
        texts.addWidget(self.text)
        close = button("Dismiss", role="quiet")
        close.clicked.connect(self._dismiss)
        layout.addLayout(texts, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_notice(self, title: str, text: str, tone: str = "locked") -> None:
        """Show a message; ``tone`` colours it (locked = problem, checking = warning, unlocked = ok)."""
        theme.set_tone(self, tone)
        self.title.setText(title)
        self.text.setText(text)
        self.show()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
