"""Painted glyphs: a padlock in the lock state's colour, and a QR code image (no image files)."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QWidget

from gui import theme


class LockGlyph(QWidget):
    """A padlock, closed (locked, checking) or open (unlocked), coloured by tone."""

    def __init__(self, size: int = 120, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tone = "locked"
        self.setFixedSize(QSize(size, size))

    def set_tone(self, tone: str) -> None:
        """Colour (and open/closed shape) for a tone."""
        self._tone = tone
        self.update()

    def paintEvent(self, _event: QPaintEvent | None) -> None:  # noqa: N802 - Qt's name
        colour = QColor(theme.TONE_COLOURS.get(self._tone, theme.TEXT_MUTED))
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = float(self.width()), float(self.height())
        body = QRectF(w * 0.16, h * 0.44, w * 0.68, h * 0.50)
        stroke = w * 0.09
        pen = QPen(colour, stroke)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        shackle = QPainterPath()
        left, right = w * 0.30, w * 0.70
        radius = (right - left) / 2
        opened = self._tone == "unlocked"
        arc_top = h * (0.02 if opened else 0.10)
        shackle.moveTo(left, body.top())
        shackle.lineTo(left, arc_top + radius)
        shackle.arcTo(QRectF(left, arc_top, 2 * radius, 2 * radius), 180, -180)
        shackle.lineTo(right, arc_top + radius + h * 0.08 if opened else body.top())
        painter.drawPath(shackle)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(body, w * 0.08, w * 0.08)
        painter.setBrush(QColor(theme.BACKGROUND))
        hole = QRectF(w * 0.46, body.top() + body.height() * 0.28, w * 0.08, body.height() * 0.40)
        painter.drawRoundedRect(hole, w * 0.04, w * 0.04)
        painter.end()


class OutcomeGlyph(QWidget):
    """A filled circle with a tick (captured), a cross (declined, refused) or '!' (fault)."""

    def __init__(self, size: int = 110, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mark = "tick"
        self._tone = "unlocked"
        self.setFixedSize(QSize(size, size))

    def set_outcome(self, mark: str, tone: str) -> None:
        """``mark`` is 'tick', 'cross' or 'alert'; ``tone`` picks the colour."""
        self._mark, self._tone = mark, tone
        self.update()

    def paintEvent(self, _event: QPaintEvent | None) -> None:  # noqa: N802 - Qt's name
        colour = QColor(theme.TONE_COLOURS.get(self._tone, theme.TEXT_MUTED))
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w = float(self.width())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawEllipse(QRectF(2, 2, w - 4, w - 4))
        pen = QPen(QColor("#ffffff"), w * 0.09)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath()
        if self._mark == "tick":
            path.moveTo(w * 0.28, w * 0.52)
            path.lineTo(w * 0.44, w * 0.67)
            path.lineTo(w * 0.73, w * 0.36)
        elif self._mark == "cross":
            path.moveTo(w * 0.33, w * 0.33)
            path.lineTo(w * 0.67, w * 0.67)
            path.moveTo(w * 0.67, w * 0.33)
            path.lineTo(w * 0.33, w * 0.67)
        else:
            path.moveTo(w * 0.5, w * 0.26)
            path.lineTo(w * 0.5, w * 0.56)
            path.moveTo(w * 0.5, w * 0.72)
            path.lineTo(w * 0.5, w * 0.73)
        painter.drawPath(path)
        painter.end()


def qr_image(payload: str, module_px: int = 8, border: int = 3) -> QImage:
    """A black-on-white QR code of ``payload`` (error correction M) as a QImage."""
    import qrcode  # noqa: PLC0415 - only needed when a receipt is shown

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(payload)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    size = len(matrix) * module_px
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#000000"))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect(x * module_px, y * module_px, module_px, module_px)
    painter.end()
    return image
