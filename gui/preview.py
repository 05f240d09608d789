"""The live camera preview with the face box, painted on the GUI thread without blocking it.

A precise QTimer (every 16 ms) asks the camera worker for a frame newer than the
last one shown, with ``timeout=0``: it never waits. A new frame is wrapped in a
QImage that shares the numpy buffer (no per-pixel copy) and Qt scales it while
painting. The newest recognition result (from the bridge) is drawn on top, and
dropped once it is older than :data:`BOX_STALE_S`, so a stale box never lingers.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Protocol, cast

from PyQt6.QtCore import QLineF, QRectF, Qt, QTimer
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from agent.camera.status import CameraState, CameraStatus
from agent.faces.decision import Decision
from gui import theme

if TYPE_CHECKING:  # the console paints before the camera and recognition are imported
    from agent.camera.frame import Frame
    from agent.session.recognition import RecognitionResult

POLL_INTERVAL_MS = 16
BOX_STALE_S = 1.0
STALE_FRAME_S = 1.0
"""With no new frame for this long, the preview asks the camera worker for its status."""


class FrameFeed(Protocol):
    """What the preview needs from the camera worker."""

    def latest(self, after_sequence: int | None = None, timeout: float | None = None) -> Frame | None:
        """The newest frame after ``after_sequence`` (``timeout=0``: do not wait)."""
        ...

    def status(self) -> CameraStatus:
        """The camera's current health."""
        ...


class PreviewWidget(QWidget):
    """Shows the newest camera frame, scaled to fit, with the face box and a status line."""

    def __init__(self, feed: FrameFeed | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Preview")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 270)
        self._feed = feed
        self._frame: Frame | None = None
        self._image: QImage | None = None
        self._result: RecognitionResult | None = None
        self._result_at = 0.0
        self._session_performer: str | None = None
        self._status_text = "Waiting for the camera…"
        self._not_started: str | None = None
        self._camera_ok = True
        self._shown_at: deque[float] = deque(maxlen=90)
        self._last_frame_at = time.monotonic()
        self._status_checked_at = 0.0
        self.frames_shown = 0
        """How many distinct camera frames were painted (benchmarks read this)."""
        self.paint_seconds: deque[float] = deque(maxlen=2000)
        """Time spent in each paint (benchmarks read this)."""
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self._poll)
        if feed is not None:
            self._timer.start()

    # ---------------------------------------------------------------- inputs

    def set_feed(self, feed: FrameFeed) -> None:
        """Show frames from ``feed`` from now on."""
        self._feed = feed
        self._timer.start()

    def show_not_started(self, detail: str) -> None:
        """Start-up stopped before the camera started: say so instead of "Starting the camera…"."""
        self._not_started = detail
        self.update()

    def stop(self) -> None:
        """Stop polling the camera."""
        self._timer.stop()

    def set_recognition(self, result: RecognitionResult) -> None:
        """The newest analysed frame (face box, decision); from the bridge."""
        self._result = result
        self._result_at = time.monotonic()
        self.update()

    def set_session_performer(self, performer_id: str | None) -> None:
        """Whom the session identified: their box is green, anyone else's red."""
        self._session_performer = performer_id

    def set_camera_status(self, status: CameraStatus) -> None:
        """Camera health, shown when there is no picture."""
        self._camera_ok = status.state is CameraState.STREAMING
        self._status_text = status.detail
        if not self._camera_ok:
            self._frame = None
            self._image = None
        self.update()

    def fps(self) -> float:
        """Frames painted per second over the last ~3 seconds."""
        stamps = self._shown_at
        if len(stamps) < 2:
            return 0.0
        span = stamps[-1] - stamps[0]
        return (len(stamps) - 1) / span if span > 0 else 0.0

    # ---------------------------------------------------------------- polling

    def _poll(self) -> None:
        feed = self._feed
        if feed is None:
            return
        last = self._frame.sequence if self._frame is not None else None
        frame = feed.latest(after_sequence=last, timeout=0)
        now = time.monotonic()
        if frame is None:
            if self._result is not None and now - self._result_at > BOX_STALE_S:
                self._result = None
                self.update()
            if now - self._last_frame_at > STALE_FRAME_S and now - self._status_checked_at > STALE_FRAME_S:
                # No picture for a while: ask the worker why (a cheap, non-blocking read).
                self._status_checked_at = now
                status = feed.status()
                if status.state is not CameraState.STREAMING:
                    self.set_camera_status(status)
            return
        self._last_frame_at = now
        image = frame.image
        height, width = image.shape[:2]
        # Shares the frame's buffer; self._frame keeps the array alive while the QImage is used.
        buffer = cast(bytes, image.data)  # a memoryview: PyQt takes any buffer, the stubs say bytes
        self._image = QImage(buffer, width, height, image.strides[0], QImage.Format.Format_RGB888)
        self._frame = frame
        self._camera_ok = True
        self.frames_shown += 1
        self._shown_at.append(now)
        self.update()

    # ---------------------------------------------------------------- painting

    def paintEvent(self, _event: QPaintEvent | None) -> None:  # noqa: N802 - Qt's name
        started = time.perf_counter()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        bounds = QRectF(self.rect())
        painter.fillRect(bounds, QColor(theme.BACKGROUND))  # the corners outside the rounded clip
        clip = QPainterPath()
        clip.addRoundedRect(bounds, 12, 12)
        painter.setClipPath(clip)
        painter.fillRect(bounds, QColor("#000000"))
        image = self._image
        if image is None:
            self._paint_no_picture(painter, bounds)
        else:
            target = _fit(image.width(), image.height(), bounds)
            painter.drawImage(target, image)
            self._paint_face(painter, target, image.width(), image.height())
            self._paint_hud(painter, bounds)
        painter.end()
        self.paint_seconds.append(time.perf_counter() - started)

    def _paint_no_picture(self, painter: QPainter, bounds: QRectF) -> None:
        painter.setPen(QColor(theme.TEXT))
        font = QFont(self.font())
        font.setPixelSize(24)
        font.setBold(True)
        painter.setFont(font)
        title = "No picture from the camera" if not self._camera_ok else "Starting the camera…"
        if self._not_started is not None:
            title = "Camera not started"
        painter.drawText(bounds.adjusted(24, -30, -24, -30), Qt.AlignmentFlag.AlignCenter, title)
        font.setPixelSize(15)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(QColor(theme.TEXT_MUTED))
        detail = self._status_text if self._not_started is None else self._not_started
        if not self._camera_ok and self._not_started is None:
            detail += (
                "\nCapture stays locked. Check the camera's cable and power; ScanGate reconnects by itself."
            )
        painter.drawText(
            bounds.adjusted(48, 40, -48, 40),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            detail,
        )

    def _paint_hud(self, painter: QPainter, bounds: QRectF) -> None:
        label = self._frame.source_label if self._frame is not None else ""
        text = f"LIVE   {label}   {self.fps():.0f} fps"
        font = QFont(self.font())
        font.setPixelSize(12)
        font.setBold(True)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 34
        pill = QRectF(bounds.left() + 14, bounds.top() + 14, width, 26)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(pill, 13, 13)
        painter.setBrush(QColor("#ff4d42"))
        painter.drawEllipse(QRectF(pill.left() + 11, pill.center().y() - 4, 8, 8))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(pill.adjusted(26, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def box_label(self) -> str | None:
        """The text on the face box as painted now (None while no box is shown)."""
        result = self._result
        if result is None or result.analysis.box is None or time.monotonic() - self._result_at > BOX_STALE_S:
            return None
        return self._box_style(result)[1]

    def _paint_face(self, painter: QPainter, target: QRectF, width: int, height: int) -> None:
        result = self._result
        if result is None or time.monotonic() - self._result_at > BOX_STALE_S:
            return
        analysis = result.analysis
        box = analysis.box
        if box is None:
            return
        frame_w, frame_h = result.frame_size
        sx = target.width() / max(1, frame_w)
        sy = target.height() / max(1, frame_h)
        rect = QRectF(
            target.left() + box.left * sx,
            target.top() + box.top * sy,
            box.width * sx,
            box.height * sy,
        ).adjusted(-6, -6, 6, 6)
        colour, label = self._box_style(result)
        _draw_brackets(painter, rect, colour)
        font = QFont(self.font())
        font.setPixelSize(14)
        font.setBold(True)
        painter.setFont(font)
        text_width = painter.fontMetrics().horizontalAdvance(label) + 20
        tag = QRectF(rect.left(), rect.top() - 32, text_width, 26)
        if tag.top() < target.top():
            tag.moveTop(rect.bottom() + 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(tag, 6, 6)
        painter.setPen(QColor("#101010") if colour == QColor(theme.AMBER) else QColor("#ffffff"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    def _box_style(self, result: RecognitionResult) -> tuple[QColor, str]:
        analysis = result.analysis
        decision = analysis.decision
        if decision is Decision.TRACKED:  # followed from a frame that matched, not matched itself
            name = analysis.display_name or analysis.performer_id or "face"
            colour = theme.GREEN if analysis.performer_id == self._session_performer else theme.AMBER
            return QColor(colour), f"{name} · following"
        if decision is Decision.MATCH:
            name = analysis.display_name or analysis.performer_id or "match"
            if self._session_performer is None:
                return QColor(theme.ACCENT), name
            if analysis.performer_id == self._session_performer:
                return QColor(theme.GREEN), name
            return QColor(theme.RED), f"Different person: {name}"
        if decision is Decision.FACE_IN_VIEW:  # no session: the agent located the face, named nobody
            return QColor(theme.ACCENT), "Face in view"
        if decision is Decision.UNKNOWN:
            return QColor(theme.RED), "Not on the roster"
        if decision is Decision.MULTIPLE_FACES:
            return QColor(theme.AMBER), "More than one face"
        return QColor(theme.AMBER), "Face unclear — come closer, hold still"


def _fit(width: int, height: int, bounds: QRectF) -> QRectF:
    """The largest rectangle of ``width``:``height`` aspect centred in ``bounds``."""
    scale = min(bounds.width() / max(1, width), bounds.height() / max(1, height))
    w, h = width * scale, height * scale
    return QRectF(bounds.center().x() - w / 2, bounds.center().y() - h / 2, w, h)


def _draw_brackets(painter: QPainter, rect: QRectF, colour: QColor) -> None:
    """A thin box with heavy corner brackets (reads well over any picture)."""
    faint = QColor(colour)
    faint.setAlpha(110)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(faint, 1.5))
    painter.drawRect(rect)
    arm = max(10.0, min(rect.width(), rect.height()) * 0.22)
    pen = QPen(colour, 4)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
    for x, y, dx, dy in (
        (left, top, 1, 1),
        (right, top, -1, 1),
        (left, bottom, 1, -1),
        (right, bottom, -1, -1),
    ):
        painter.drawLine(QLineF(x, y, x + dx * arm, y))
        painter.drawLine(QLineF(x, y, x, y + dy * arm))
