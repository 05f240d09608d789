"""The sessions table: a Qt model over :class:`SessionRow` values and the filter in front of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import ClassVar

from PyQt6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PyQt6.QtGui import QBrush, QColor, QPainter
from PyQt6.QtWidgets import QProxyStyle, QStyle, QStyleOption, QStyleOptionHeader, QWidget

from gui import theme
from gui.review.rows import VERIFIED, SessionRow

COLUMNS = ("Date", "Performer", "Outcome", "Verification", "Production", "Rig", "Record", "Capture types")
DATE, PERFORMER, OUTCOME, VERIFICATION, PRODUCTION, RIG, RECORD, TYPES = range(len(COLUMNS))
COLUMN_SAMPLES = (
    "2026-12-31 23:59",
    "Ana Performer",
    "Captured · SYNTHETIC liveness",
    "TAMPERED: changed",
    "Production",
    "rig-1",
    "#9999",
)
"""Typical contents that set the starting widths; the last column (capture types) stretches."""
CELL_PADDING_PX = 34

SORT_ROLE = Qt.ItemDataRole.UserRole
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

_LIVENESS_FLAG_COLOUR = "#ffc83d"
_OUTCOME_COLOURS = {"captured": "#3ccf7b", "declined": "#ffc83d", "refused": "#ff8a80", "fault": "#ff6b62"}

ModelIndex = QModelIndex | QPersistentModelIndex


def _display_date(row: SessionRow) -> str:
    return row.started_at.astimezone().strftime("%Y-%m-%d %H:%M") if row.started_at else "—"


class SessionTableModel(QAbstractTableModel):
    """Rows of one or more logs."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[SessionRow] = []

    def set_rows(self, rows: Sequence[SessionRow]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[SessionRow]:
        """All rows, in load order."""
        return list(self._rows)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 - Qt's name
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].upper()
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._colour(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == VERIFICATION and row.problems:
                return "\n".join(row.problems)
            if column == OUTCOME and row.readable:
                notes = [flag.message for flag in (row.liveness_flag,) if flag is not None]
                if row.past_destroy_by is not None:
                    notes.append(row.past_destroy_by.message())
                if notes:
                    return "\n".join([row.outcome_label, *notes])
            return self._display(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == RECORD:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: SessionRow, column: int) -> str:
        if not row.readable:
            texts = {DATE: "—", PERFORMER: f"line {row.line} of {row.log.name}", OUTCOME: "Unreadable"}
            if column == VERIFICATION:
                return (
                    row.verification
                    if row.verification != "not verified"
                    else (row.problems or ("unreadable",))[0]
                )
            return texts.get(column, "")
        values = {
            DATE: _display_date(row),
            PERFORMER: row.performer,
            PRODUCTION: row.production,
            RIG: row.rig,
            OUTCOME: row.outcome_label,
            TYPES: row.capture_types,
            VERIFICATION: row.verification,
            RECORD: f"#{row.sequence}" if row.sequence is not None else "",
        }
        return values[column]

    @staticmethod
    def _sort_key(row: SessionRow, column: int) -> object:
        if column == DATE:
            return row.started_at.timestamp() if row.started_at else 0.0
        if column == RECORD:
            return row.sequence or 0
        return SessionTableModel._display(row, column).lower()

    @staticmethod
    def _colour(row: SessionRow, column: int) -> QBrush | None:
        if column == VERIFICATION:
            if row.flagged:
                return QBrush(QColor("#ff8a80"))
            return QBrush(QColor("#3ccf7b" if row.verification == VERIFIED else theme.TEXT_MUTED))
        if column == OUTCOME:
            if row.readable and (
                row.liveness_flag is not None or row.past_destroy_by is not None
            ):  # never green: the identity was not shown to be live, or the scans are overdue for destruction
                return QBrush(QColor(_LIVENESS_FLAG_COLOUR))
            colour = _OUTCOME_COLOURS.get(row.outcome) if row.readable else "#ff8a80"
            return QBrush(QColor(colour)) if colour else None
        return None


class SortArrowStyle(QProxyStyle):
    """Draws a header's sort arrow the usual way round: ▼ for descending (newest first), ▲ ascending.

    Qt asks the style for its "sort up" arrow on a descending column, and Fusion draws
    that as ▲, the opposite of what file managers and spreadsheets show.
    """

    _SWAPPED: ClassVar[dict[QStyleOptionHeader.SortIndicator, QStyleOptionHeader.SortIndicator]] = {
        QStyleOptionHeader.SortIndicator.SortUp: QStyleOptionHeader.SortIndicator.SortDown,
        QStyleOptionHeader.SortIndicator.SortDown: QStyleOptionHeader.SortIndicator.SortUp,
    }

    def drawPrimitive(  # noqa: N802 - Qt's name
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption | None,
        painter: QPainter | None,
        widget: QWidget | None = None,
    ) -> None:
        """Swap the sort indicator before the base style draws a header arrow."""
        if element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow and isinstance(
            option, QStyleOptionHeader
        ):
            swapped = QStyleOptionHeader(option)
            swapped.sortIndicator = self._SWAPPED.get(option.sortIndicator, option.sortIndicator)
            option = swapped
        super().drawPrimitive(element, option, painter, widget)


class SessionFilter(QSortFilterProxyModel):
    """Filters by text (performer, production, record id), outcome, rig, date range and problems."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._text = ""
        self._outcome: str | None = None
        self._rig: str | None = None
        self._from: date | None = None
        self._until: date | None = None
        self._problems_only = False

    def set_criteria(
        self,
        *,
        text: str = "",
        outcome: str | None = None,
        rig: str | None = None,
        date_from: date | None = None,
        date_until: date | None = None,
        problems_only: bool = False,
    ) -> None:
        """Show only rows matching every given criterion (None: any)."""
        self._text = text.strip().lower()
        self._outcome = outcome
        self._rig = rig
        self._from = date_from
        self._until = date_until
        self._problems_only = problems_only
        self.invalidateFilter()

    def row_at(self, proxy_row: int) -> SessionRow:
        """The row shown at ``proxy_row``."""
        value = self.data(self.index(proxy_row, 0), ROW_ROLE)
        assert isinstance(value, SessionRow)
        return value

    def visible_rows(self) -> list[SessionRow]:
        """Rows that pass the filter, in the current sort order."""
        return [self.row_at(i) for i in range(self.rowCount())]

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:  # noqa: N802 - Qt's name
        model = self.sourceModel()
        if model is None:
            return False
        parent = (
            QModelIndex(source_parent) if isinstance(source_parent, QPersistentModelIndex) else source_parent
        )
        row = model.data(model.index(source_row, 0, parent), ROW_ROLE)
        if not isinstance(row, SessionRow):
            return False
        if self._problems_only and not row.flagged:
            return False
        if self._outcome is not None and (row.outcome if row.readable else "unreadable") != self._outcome:
            return False
        if self._rig is not None and row.rig != self._rig:
            return False
        if self._from is not None or self._until is not None:
            day = _local_day(row.started_at)
            if day is None or (self._from and day < self._from) or (self._until and day > self._until):
                return False
        if self._text:
            haystack = " ".join(
                (row.performer, row.production, row.record_id, row.technician, row.reasons)
            ).lower()
            return self._text in haystack
        return True


def _local_day(moment: datetime | None) -> date | None:
    return moment.astimezone().date() if moment is not None else None
