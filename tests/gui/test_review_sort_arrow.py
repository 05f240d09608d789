"""The review table's sort arrow points the usual way: ▼ for newest first (descending), ▲ for ascending."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.review.table import DATE
from gui.review.window import ReviewWindow


def _arrow_points_down(window: ReviewWindow) -> bool:
    """Read the drawn arrow from the header's pixels: wider at the top than at the bottom is ▼."""
    header = window.table.horizontalHeader()
    assert header is not None
    image = header.grab().toImage()
    left = header.sectionViewportPosition(DATE) + header.sectionSize(DATE) - 30
    background = image.pixelColor(left, 2).lightness()
    widths = [
        sum(abs(image.pixelColor(x, y).lightness() - background) > 60 for x in range(left, left + 30))
        for y in range(image.height())
    ]
    drawn = [width for width in widths if width]
    assert len(drawn) >= 3, f"no sort arrow found in the Date header: {widths}"
    assert drawn[0] != drawn[-1], f"cannot tell the arrow's direction: {drawn}"
    return drawn[0] > drawn[-1]


@pytest.mark.parametrize(
    ("order", "down"), [(Qt.SortOrder.DescendingOrder, True), (Qt.SortOrder.AscendingOrder, False)]
)
def test_date_sort_arrow_points_the_usual_way(
    qtbot: QtBot, themed_app: QApplication, order: Qt.SortOrder, down: bool
) -> None:
    window = ReviewWindow(keys={}, key_source="none")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    window.show()
    window.table.sortByColumn(DATE, order)
    qtbot.wait(20)
    assert _arrow_points_down(window) is down
