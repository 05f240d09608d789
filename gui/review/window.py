"""The review window (``scangate review``): sessions table, filters, details, verification, exports.

Loading and verifying run on a background thread (:class:`JobRunner`) with a
progress bar, so a large log never freezes the window. A file that cannot be
read, a torn line or a tampered record is reported in plain language and the
affected rows are flagged; nothing raises into the user's face.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PyQt6.QtCore import QDate, QItemSelection, QObject, Qt, pyqtSignal
from PyQt6.QtGui import QFontMetrics
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agent.errors import ScanGateError
from agent.records.keys import load_public_key_file, trusted_keys
from agent.records.verify import Verdict, verify_log
from gui import theme
from gui.review.details import record_html
from gui.review.export import ReportContext, write_csv, write_pdf
from gui.review.rows import (
    LoadedLog,
    SessionRow,
    apply_verdict,
    load_log,
    log_level_problems,
    read_record,
    verdict_summary,
)
from gui.review.table import (
    CELL_PADDING_PX,
    COLUMN_SAMPLES,
    DATE,
    SessionFilter,
    SessionTableModel,
    SortArrowStyle,
)
from gui.widgets import NoticeBar, button, label

OUTCOME_CHOICES = (
    ("All outcomes", None),
    ("Captured", "captured"),
    ("Declined", "declined"),
    ("Refused", "refused"),
    ("Fault", "fault"),
    ("Key rotated", "key_rotated"),
    ("Unreadable", "unreadable"),
)


class JobRunner(QObject):
    """Runs one background job at a time on a Python thread; results come back as queued signals."""

    progress = pyqtSignal(int, int, str)
    loaded = pyqtSignal(object)
    verified = pyqtSignal(object, object)
    failed = pyqtSignal(object, str)
    finished = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._active = False
        self.finished.connect(self._done)  # connected first: runs before any other receiver

    @property
    def busy(self) -> bool:
        """True from :meth:`start` until the job's last signal was delivered on the GUI thread."""
        return self._active

    def start(self, kind: str, work: Callable[[], None]) -> bool:
        """Run ``work`` on a daemon thread; False if a job is already running."""
        if self._active:
            return False
        self._active = True

        def run() -> None:
            try:
                work()
            finally:
                self.finished.emit(kind)

        threading.Thread(target=run, name=f"scangate-review-{kind}", daemon=True).start()
        return True

    def _done(self, _kind: str) -> None:
        self._active = False


class ReviewWindow(QMainWindow):
    """Production manager's view of session logs."""

    def __init__(
        self,
        *,
        keys: dict[str, Ed25519PublicKey] | None = None,
        key_source: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(theme.window_title("Review session logs"))
        self._keys: dict[str, Ed25519PublicKey] = dict(keys or {})
        self._key_source = key_source or ("none" if not self._keys else f"{len(self._keys)} key(s)")
        self._logs: dict[Path, LoadedLog] = {}
        self.jobs = JobRunner(self)
        root = QWidget()
        root.setObjectName("ReviewRoot")
        self.setCentralWidget(root)
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._top_bar())
        body = QVBoxLayout()
        body.setContentsMargins(20, 14, 20, 16)
        body.setSpacing(12)
        outer.addLayout(body, 1)
        self.notice = NoticeBar()
        body.addWidget(self.notice)
        body.addLayout(self._status_row())
        body.addLayout(self._filter_row())
        self.model = SessionTableModel(self)
        self.proxy = SessionFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(DATE, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        vertical = self.table.verticalHeader()
        if vertical is not None:
            vertical.setVisible(False)
            vertical.setDefaultSectionSize(34)
        header = self.table.horizontalHeader()
        if header is not None:
            self._header_style = SortArrowStyle()
            header.setStyle(self._header_style)
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            header.setStretchLastSection(True)
            self.table.ensurePolished()
            metrics = QFontMetrics(self.table.font())
            for column, sample in enumerate(COLUMN_SAMPLES):
                self.table.setColumnWidth(column, metrics.horizontalAdvance(sample) + CELL_PADDING_PX)
        selection = self.table.selectionModel()
        if selection is not None:
            selection.selectionChanged.connect(self._selection_changed)
        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.setHtml(_EMPTY_DETAILS)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([990, 410])
        body.addWidget(splitter, 1)
        self.jobs.progress.connect(self._progress)
        self.jobs.loaded.connect(self._loaded)
        self.jobs.verified.connect(self._verified)
        self.jobs.failed.connect(self._failed)
        self.jobs.finished.connect(self._finished)
        self._show_counts()

    # ---------------------------------------------------------------- layout

    def _top_bar(self) -> QFrame:
        bar = QFrame()
        bar.setObjectName("TopBar")
        bar.setFixedHeight(56)
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(20, 0, 20, 0)
        layout.setSpacing(10)
        layout.addWidget(label(name="WordmarkMark"))
        layout.addWidget(label("ScanGate", name="Wordmark"))
        layout.addSpacing(12)
        layout.addWidget(label("Review session logs", name="TopContext"))
        layout.addStretch(1)
        self.open_button = button("Open logs…", role="quiet")
        self.open_button.clicked.connect(self._ask_open)
        self.key_button = button("Trusted keys…", role="quiet")
        self.key_button.clicked.connect(self._ask_keys)
        self.verify_button = button("Verify all", role="primary")
        self.verify_button.clicked.connect(self.verify_all)
        self.csv_button = button("Export CSV…", role="quiet")
        self.csv_button.clicked.connect(self._ask_csv)
        self.pdf_button = button("Export PDF report…", role="quiet")
        self.pdf_button.clicked.connect(self._ask_pdf)
        for widget in (
            self.open_button,
            self.key_button,
            self.verify_button,
            self.csv_button,
            self.pdf_button,
        ):
            layout.addWidget(widget)
        return bar

    def _status_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(14)
        self.verdict = label("NOT VERIFIED", name="VerdictBadge")
        theme.set_tone(self.verdict, "neutral")
        self.status = label("", role="muted")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(260)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        row.addWidget(self.verdict)
        row.addWidget(self.status, 1)
        row.addWidget(self.progress)
        return row

    def _filter_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search performer, production, technician, record id…")
        self.search.setClearButtonEnabled(True)
        self.outcome = QComboBox()
        for text, value in OUTCOME_CHOICES:
            self.outcome.addItem(text, value)
        self.rig = QComboBox()
        self.rig.addItem("All rigs", None)
        self.use_dates = QCheckBox("From")
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addMonths(-1))
        self.date_until = QDateEdit(today)
        for edit in (self.date_from, self.date_until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.problems_only = QCheckBox("Problems only")
        row.addWidget(self.search, 3)
        row.addWidget(self.outcome, 1)
        row.addWidget(self.rig, 1)
        row.addWidget(self.use_dates)
        row.addWidget(self.date_from)
        row.addWidget(label("to", role="muted"))
        row.addWidget(self.date_until)
        row.addWidget(self.problems_only)
        self.search.textChanged.connect(self._apply_filter)
        self.outcome.currentIndexChanged.connect(self._apply_filter)
        self.rig.currentIndexChanged.connect(self._apply_filter)
        self.use_dates.toggled.connect(self._dates_toggled)
        self.date_from.dateChanged.connect(self._apply_filter)
        self.date_until.dateChanged.connect(self._apply_filter)
        self.problems_only.toggled.connect(self._apply_filter)
        return row

    # ---------------------------------------------------------------- loading

    def open_logs(self, paths: Sequence[Path]) -> None:
        """Load these logs (in the background) in addition to those already open."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        self.notice.hide()
        total = sum(_size(p) for p in paths) or 1
        done: list[int] = [0]

        def work() -> None:
            for path in paths:

                def report(read: int, size: int, base: int = done[0], name: str = path.name) -> None:
                    self.jobs.progress.emit(base + read, total, f"Reading {name}…")

                self.jobs.loaded.emit(load_log(path, report))
                done[0] += _size(path)

        if not self.jobs.start("load", work):
            self.notice.show_notice(
                "Busy", "Wait until the current job finishes, then try again.", "checking"
            )

    def _loaded(self, loaded: LoadedLog) -> None:
        self._logs[loaded.path] = loaded
        self._refresh_rows()
        if loaded.error:
            self.notice.show_notice(
                f"Could not read {loaded.path.name}",
                f"{loaded.error}. Check that the path is a ScanGate session log (sessions.jsonl) and that"
                " you may read it.",
                "locked",
            )
        elif loaded.unreadable_lines:
            self.notice.show_notice(
                f"{loaded.unreadable_lines} line(s) of {loaded.path.name} are not session records",
                "They are listed as Unreadable and flagged. A torn last line comes from an interrupted write;"
                " anything else means the file was edited. Press Verify all for the full verdict.",
                "checking",
            )

    # ---------------------------------------------------------------- verification

    def verify_all(self) -> None:
        """Verify every open log against the trusted keys (in the background)."""
        logs = [path for path, loaded in self._logs.items() if loaded.error is None]
        if not logs:
            self.notice.show_notice("Nothing to verify", "Open a session log first (Open logs…).", "checking")
            return
        if not self._keys:
            self.notice.show_notice(
                "No trusted rig key",
                "Verification needs the public key of the rig that wrote the log. Get it on the rig with"
                " 'scangate keys show --pem', then add it here with Trusted keys….",
                "checking",
            )
            return
        keys = dict(self._keys)

        def work() -> None:
            for index, path in enumerate(logs):
                self.jobs.progress.emit(
                    index, len(logs), f"Verifying {path.name} ({index + 1} of {len(logs)})…"
                )
                try:
                    verdict = verify_log(path, keys)
                except ScanGateError as exc:
                    self.jobs.failed.emit(path, exc.message())
                    continue
                self.jobs.verified.emit(path, verdict)
            self.jobs.progress.emit(len(logs), len(logs), "Verification finished")

        if self.jobs.start("verify", work):
            self.verdict.setText("VERIFYING…")
            theme.set_tone(self.verdict, "checking")
            if len(logs) == 1:
                self.progress.setRange(0, 0)  # one log: busy indicator until its verdict

    def _verified(self, path: Path, verdict: Verdict) -> None:
        loaded = self._logs.get(path)
        if loaded is None:
            return
        apply_verdict(loaded, verdict)
        self._refresh_rows()

    def _failed(self, path: Path, message: str) -> None:
        self.notice.show_notice(f"Could not verify {path.name}", message, "locked")

    def _finished(self, kind: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self._set_busy(False)
        if kind == "verify":
            self._show_overall_verdict()
        self._show_counts()

    def _show_overall_verdict(self) -> None:
        verdicts = [loaded.verdict for loaded in self._logs.values() if loaded.verdict is not None]
        if not verdicts:
            self.verdict.setText("NOT VERIFIED")
            theme.set_tone(self.verdict, "neutral")
            return
        broken = [v for v in verdicts if not v.intact]
        if not broken:
            records = sum(v.records for v in verdicts)
            self.verdict.setText(f"VERIFIED — {records} record(s) intact")
            theme.set_tone(self.verdict, "unlocked")
            return
        problems = sum(sum(v.problem_counts.values()) for v in broken)
        self.verdict.setText(f"NOT INTACT — {problems} problem(s) in {len(broken)} log(s)")
        theme.set_tone(self.verdict, "locked")
        lines = [f"{Path(v.log).name}: {verdict_summary(v)[0]}" for v in broken]
        lines += [message for v in broken for message in log_level_problems(v)][:6]
        self.notice.show_notice(
            "Verification found tampering or damage",
            "\n".join(lines)
            + "\nFlagged rows show what is wrong with each record. Keep the files unchanged as evidence.",
            "locked",
        )

    # ---------------------------------------------------------------- keys

    def add_key_files(self, paths: Sequence[Path]) -> None:
        """Trust the rig public keys in these files."""
        added = 0
        for path in paths:
            try:
                key = load_public_key_file(Path(path))
            except ScanGateError as exc:
                self.notice.show_notice(f"Cannot use {Path(path).name} as a key", exc.message(), "locked")
                continue
            self._keys.update(trusted_keys([key]))
            added += 1
        if added:
            self._key_source = f"{len(self._keys)} key(s), last added from {Path(paths[-1]).name}"
            self._show_counts()

    # ---------------------------------------------------------------- exports

    def export_csv(self, path: Path) -> None:
        """Write the rows shown (filtered, sorted) to a CSV file."""
        try:
            count = write_csv(path, self.proxy.visible_rows())
        except ScanGateError as exc:
            self.notice.show_notice("CSV export failed", exc.message(), "locked")
            return
        self.notice.show_notice("CSV exported", f"{count} session(s) written to {path}.", "unlocked")

    def export_pdf(self, path: Path) -> None:
        """Write a PDF report of the rows shown, with the verification verdicts."""
        context = ReportContext(
            verdicts={p: loaded.verdict for p, loaded in self._logs.items()},
            key_source=self._key_source,
            filter_text=self._filter_description(),
            total_rows=self.model.rowCount(),
        )
        try:
            count = write_pdf(path, self.proxy.visible_rows(), context)
        except ScanGateError as exc:
            self.notice.show_notice("PDF export failed", exc.message(), "locked")
            return
        self.notice.show_notice("PDF report exported", f"{count} session(s) in {path}.", "unlocked")

    # ---------------------------------------------------------------- dialogs

    def _ask_open(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Open session logs", "", "Session logs (*.jsonl);;All files (*)"
        )
        self.open_logs([Path(n) for n in names])

    def _ask_keys(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Trust rig public keys", "", "Public keys (*.pem *.json *.txt);;All files (*)"
        )
        self.add_key_files([Path(n) for n in names])

    def _ask_csv(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export CSV", "scangate-sessions.csv", "CSV (*.csv)")
        if name:
            self.export_csv(Path(name))

    def _ask_pdf(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export PDF report", "scangate-report.pdf", "PDF (*.pdf)")
        if name:
            self.export_pdf(Path(name))

    # ---------------------------------------------------------------- internals

    def _progress(self, done: int, total: int, text: str) -> None:
        self._set_busy(True)
        if self.progress.maximum() != 0 or done >= total:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(min(done, total))
        self.status.setText(text)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.open_button, self.verify_button, self.key_button):
            widget.setEnabled(not busy)

    def _refresh_rows(self) -> None:
        rows = [row for loaded in self._logs.values() for row in loaded.rows]
        self.model.set_rows(rows)
        rigs = sorted({row.rig for row in rows if row.rig})
        current = self.rig.currentData()
        self.rig.blockSignals(True)
        self.rig.clear()
        self.rig.addItem("All rigs", None)
        for rig in rigs:
            self.rig.addItem(rig, rig)
        self.rig.setCurrentIndex(max(0, self.rig.findData(current)))
        self.rig.blockSignals(False)
        self._show_counts()

    def _dates_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_until.setEnabled(on)
        self._apply_filter()

    def _apply_filter(self) -> None:
        use_dates = self.use_dates.isChecked()
        self.proxy.set_criteria(
            text=self.search.text(),
            outcome=self.outcome.currentData(),
            rig=self.rig.currentData(),
            date_from=_date(self.date_from.date()) if use_dates else None,
            date_until=_date(self.date_until.date()) if use_dates else None,
            problems_only=self.problems_only.isChecked(),
        )
        self._show_counts()

    def _filter_description(self) -> str:
        parts = []
        if self.search.text().strip():
            parts.append(f"search '{self.search.text().strip()}'")
        if self.outcome.currentData():
            parts.append(f"outcome {self.outcome.currentText().lower()}")
        if self.rig.currentData():
            parts.append(f"rig {self.rig.currentText()}")
        if self.use_dates.isChecked():
            parts.append(
                f"{self.date_from.date().toString('yyyy-MM-dd')} to {self.date_until.date().toString('yyyy-MM-dd')}"
            )
        if self.problems_only.isChecked():
            parts.append("problems only")
        return "filter: " + ", ".join(parts) if parts else "no filter"

    def _show_counts(self) -> None:
        if self.jobs.busy:
            return
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        flagged = sum(1 for row in self.model.rows() if row.flagged)
        logs = len(self._logs)
        text = f"{shown} of {total} session(s) shown from {logs} log(s)"
        if flagged:
            text += f" · {flagged} flagged"
        text += f" · trusted keys: {self._key_source}"
        self.status.setText(text)

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        row = self.proxy.row_at(indexes[0].row())
        self.show_details(row)

    def show_details(self, row: SessionRow) -> None:
        """Show one record's details in the right-hand pane."""
        self.details.setHtml(record_html(row, read_record(row) if row.readable else None))


_EMPTY_DETAILS = "<p style='color:#9aa6b2'>Select a session to see its record: identification, consent, the performer's answer, gate events, files and verification.</p>"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())
