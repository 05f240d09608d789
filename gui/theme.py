"""The look of every ScanGate window: palette, fonts, the shipped QSS stylesheet, touch sizes.

Colours carry meaning and nothing else does: deep red is locked, amber is
checking / waiting for the performer, green is unlocked. The stylesheet
(``style.qss``, package data) selects on object names and on a ``tone``
dynamic property; :func:`set_tone` changes it and re-polishes the widget.
"""

from __future__ import annotations

import math
from importlib import resources

from PyQt6.QtGui import QColor, QFont, QGuiApplication, QPalette, QScreen
from PyQt6.QtWidgets import QApplication, QWidget

# Palette (also used by code that paints: the preview's face box, QR codes, PDF report).
BACKGROUND = "#0e1116"
SURFACE = "#161b22"
SURFACE_RAISED = "#1e252e"
BORDER = "#2b3440"
TEXT = "#eef2f6"
TEXT_MUTED = "#9aa6b2"
ACCENT = "#4c9aff"
RED = "#b3261e"
RED_DEEP = "#8c1d18"
AMBER = "#f2a900"
GREEN = "#1f9d55"

TONE_COLOURS: dict[str, str] = {
    "locked": RED,
    "fault": RED_DEEP,
    "checking": AMBER,
    "awaiting": AMBER,
    "unlocked": GREEN,
    "neutral": TEXT_MUTED,
}

FONT_FAMILIES = ["Inter", "Segoe UI", "Noto Sans", "DejaVu Sans", "Arial"]
MONO_FAMILIES = ["JetBrains Mono", "Consolas", "DejaVu Sans Mono", "Courier New"]

TOUCH_TARGET_MM = 15.0
MIN_TOUCH_TARGET_PX = 90
"""Never smaller than this, even on a low-dpi panel (90 px = 24 mm at 96 dpi)."""


def stylesheet() -> str:
    """The QSS stylesheet shipped in this package."""
    return resources.files("gui").joinpath("style.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication) -> None:
    """Fusion style, ScanGate fonts, a dark palette and the stylesheet, for the whole app."""
    app.setStyle("Fusion")
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPixelSize(15)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    app.setFont(font)
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.Base: SURFACE,
        QPalette.ColorRole.AlternateBase: SURFACE_RAISED,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Button: SURFACE_RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: SURFACE_RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.PlaceholderText: TEXT_MUTED,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet())


def mono_font(pixel_size: int = 13) -> QFont:
    """A monospace font for hashes and ids."""
    font = QFont()
    font.setFamilies(MONO_FAMILIES)
    font.setPixelSize(pixel_size)
    return font


def set_tone(widget: QWidget, tone: str) -> None:
    """Set the ``tone`` property the stylesheet colours by, and re-apply the style."""
    if widget.property("tone") == tone:
        return
    widget.setProperty("tone", tone)
    style = widget.style()
    if style is not None:
        style.unpolish(widget)
        style.polish(widget)
    widget.update()


def touch_target_px(screen: QScreen | None = None) -> int:
    """Logical pixels for a 15 mm touch target on ``screen`` (the primary screen by default), at least 90.

    Widget sizes are in device-independent pixels, so the physical dots per inch
    are divided by the screen's device pixel ratio.
    """
    screen = screen or QGuiApplication.primaryScreen()
    dpi = screen.physicalDotsPerInch() if screen is not None else 96.0
    ratio = screen.devicePixelRatio() if screen is not None else 1.0
    if not dpi or math.isnan(dpi):  # a display that does not report its size
        dpi = 96.0
    return max(MIN_TOUCH_TARGET_PX, round(TOUCH_TARGET_MM / 25.4 * dpi / max(ratio, 1.0)))


APP_NAME = "ScanGate"


def window_title(*parts: str) -> str:
    """``parts`` joined by em dashes, ending with the application's name.

    Qt on X11 and Wayland appends " — <application display name>" to a window title
    unless it already ends with it; ending with it here gives one title everywhere
    (Windows appends nothing) instead of "ScanGate — … — ScanGate".
    """
    return " — ".join([*parts, APP_NAME])
