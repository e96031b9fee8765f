"""The batch panel: queue folders or files, watch the jobs finish, pause, resume, cancel, change
the preset (re-classified from stored results, nothing re-analysed), export the report. With a
broadcast tolerance chosen (the main window's, shared through :meth:`BatchPanel.set_tolerance`), a
column says whether each file is within it, and the report carries it.

The queue and the process pool are the engine's (``core/batch``, the same as ``syncdesk batch``);
this panel runs one batch at a time in a pool thread and shows its updates. A job's analysis is in
the analysis cache, so double-clicking a finished row opens it in the main view at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.batch import (DONE, QUEUED, RUNNING, Batch, BatchRunner, Job, JobStore, JobUpdate, Row, job_row,
                          prepare, rows, write_report)
from ..core import (
    DEFAULT_PRESET, PRESETS, AnalysisOptions, CancelToken, ProgressCallback, SyncdeskError, Tolerance,
)
from .workers import Worker, WorkerPool

COLUMNS = ("File", "Status", "Progress", "Offset", "Confidence", "Tolerance", "Verdict")
TOLERANCE_COLUMN = COLUMNS.index("Tolerance")
STATUS_COLOURS = {"good": "#009E73", "poor": "#D55E00", "error": "#D55E00", "skipped": "#8A8F96",
                  "within": "#009E73", "outside": "#D55E00", "unknown": "#8A8F96"}


class _Updates(QObject):
    """Carries the batch thread's news to the GUI thread."""

    queued = Signal(object)  # Batch
    job = Signal(object)  # JobUpdate


class BatchPanel(QWidget):
    open_requested = Signal(Path)  # double-click on a finished job
    finished = Signal()  # a run ended: done, paused or cancelled

    def __init__(self, pool: WorkerPool, options: AnalysisOptions, parent: Optional[QWidget] = None,
                 workers: Optional[int] = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.options = options
        self.workers = workers
        self.paths: list[Path] = []  # what the user queued, in order
        self.jobs: dict[Path, Job] = {}
        self.batch: Optional[Batch] = None
        self.tolerance: Optional[Tolerance] = None  # judged against it too, when set
        self.last_error: Optional[str] = None
        self._runners: list[BatchRunner] = []  # the running batch's runner, once its thread made it
        self._worker: Optional[Worker] = None
        self._forget_pending = False  # Cancel: drop the unanalysed jobs when the run ends
        self._updates = _Updates(self)
        self._updates.queued.connect(self._queued)
        self._updates.job.connect(self._job_update)

        self.add_folder_button = QPushButton("Add folder…", objectName="add_folder")
        self.add_folder_button.clicked.connect(self._ask_folder)
        self.add_files_button = QPushButton("Add files…", objectName="add_files")
        self.add_files_button.clicked.connect(self._ask_files)
        self.start_button = QPushButton("Start", objectName="start")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause", objectName="pause")
        self.pause_button.setToolTip("Stop after putting the running jobs back in the queue; Start resumes")
        self.pause_button.clicked.connect(self.pause)
        self.cancel_button = QPushButton("Cancel", objectName="cancel")
        self.cancel_button.setToolTip("Stop and forget the jobs not analysed yet")
        self.cancel_button.clicked.connect(self.cancel)
        self.preset = QComboBox(objectName="batch_preset")
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.preset.setCurrentIndex(list(PRESETS).index(DEFAULT_PRESET))
        self.preset.currentIndexChanged.connect(self._reclassify)
        self.export_button = QPushButton("Export report…", objectName="export_report")
        self.export_button.clicked.connect(self._ask_report_folder)
        self.summary = QLabel("Add a folder or files to check many clips at once.", objectName="batch_summary")

        self.table = QTableWidget(0, len(COLUMNS), objectName="jobs")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)  # the verdict or the error
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.setColumnHidden(TOLERANCE_COLUMN, True)

        buttons = QHBoxLayout()
        for widget in (self.add_folder_button, self.add_files_button, self.start_button, self.pause_button,
                       self.cancel_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Preset:"))
        buttons.addWidget(self.preset)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self._update_buttons()

    # ------------------------------------------------------------------ queue
    @property
    def running(self) -> bool:
        return self._worker is not None

    def add(self, paths: list[Path], start: bool = True) -> None:
        """Queue files or folders (folders are searched recursively) and start if idle."""
        self.paths.extend(path for path in paths if path not in self.paths)
        if start and not self.running:
            self.start()

    def start(self) -> None:
        """Scan what was added, queue what is not analysed with these settings, analyse it."""
        if self.running or not self.paths:
            return
        paths, options, updates = list(self.paths), self.options, self._updates
        runners: list[BatchRunner] = []

        def job(progress: ProgressCallback, cancel: CancelToken) -> None:
            with JobStore() as store:  # sqlite connections belong to the thread that opens them
                batch = prepare(paths, options, store)
                updates.queued.emit(batch)
                runner = BatchRunner(store, options, self.workers, on_update=updates.job.emit)
                runners.append(runner)
                if cancel.cancelled:
                    return
                runner.run(batch.pending())
                updates.queued.emit(batch.refreshed(store))

        worker = Worker(job, name="batch")
        worker.signals.failed.connect(self._failed)
        worker.signals.done.connect(self._done)
        self._runners = runners
        self._worker = worker
        self.last_error = None
        self.summary.setText("Scanning…")
        self._update_buttons()
        self.pool.start(worker)

    def pause(self) -> None:
        """Stop; running jobs go back to the queue (Start resumes them, finished ones stay done)."""
        if self._worker is not None:
            self._worker.cancel()
            for runner in self._runners:
                runner.stop()
            self.summary.setText("Pausing…")

    def cancel(self) -> None:
        """Stop and forget the jobs not analysed yet (finished rows stay)."""
        self.pause()
        self.paths.clear()
        self._forget_pending = True

    # ---------------------------------------------------------------- updates
    def _queued(self, batch: Batch) -> None:
        self.batch = batch
        for found in batch.jobs:
            self.jobs[found.path] = found
        self._fill()

    def _job_update(self, update: JobUpdate) -> None:
        self.jobs[update.job.path] = update.job
        row = self._row_of(update.job.path)
        if row is None:
            return
        self._show_row(row, update.job, update)
        self._show_summary()

    def _failed(self, message: str) -> None:
        self.last_error = message
        self.summary.setText(f"Batch stopped: {message}")

    def _done(self) -> None:
        self._worker = None
        if self._forget_pending:
            self._forget_pending = False
            self.jobs = {path: job for path, job in self.jobs.items() if job.state not in (QUEUED, RUNNING)}
            self._fill()
        if self.last_error is None:
            self._show_summary()
        self._update_buttons()
        self.finished.emit()

    # ---------------------------------------------------------------- display
    def _fill(self) -> None:
        self.table.setRowCount(0)
        for job in self.jobs.values():
            row = self.table.rowCount()
            self.table.insertRow(row)
            self._show_row(row, job, None)
        if self.batch is not None:
            for skipped in self.batch.skipped:
                row = self.table.rowCount()
                self.table.insertRow(row)
                self._set(row, 0, skipped.path.name, str(skipped.path))
                self._set(row, 1, "skipped", skipped.reason, STATUS_COLOURS["skipped"])
                for column in range(2, len(COLUMNS)):
                    self._set(row, column, skipped.reason if column == len(COLUMNS) - 1 else "")
        self._show_summary()

    def _show_row(self, row: int, job: Job, update: Optional[JobUpdate]) -> None:
        result = job_row(job, PRESETS[self.preset.currentData()], self.tolerance)
        state = update.state if update is not None else job.state
        status = result.status if state == DONE else state
        self._set(row, 0, job.path.name, str(job.path))
        self._set(row, 1, status, result.error or "", STATUS_COLOURS.get(status))
        fraction = 1.0 if state == DONE else (update.fraction if update is not None and state == RUNNING else 0.0)
        self._set(row, 2, f"{100 * fraction:.0f}%" if state in (RUNNING, DONE) else "")
        self._set(row, 3, f"{result.offset:+d} ({result.offset_ms:+.0f} ms)" if result.offset is not None else "")
        self._set(row, 4, f"{result.confidence:.2f}" if result.confidence is not None else "")
        self._show_tolerance_cell(row, result)
        verdict = {"good": "passes the preset", "poor": "fails the preset"}.get(status, result.error or "")
        self._set(row, len(COLUMNS) - 1, verdict, result.error or "")

    def _show_tolerance_cell(self, row: int, result: Row) -> None:
        """``within (+12 ms)``, ``outside (+160 ms)`` or ``unknown``: the judgement and its worst offset."""
        judged = result.tolerance
        if judged is None or self.tolerance is None:
            self._set(row, TOLERANCE_COLUMN, "")
            return
        worst = f" ({result.worst_ms:+.0f} ms)" if result.worst_ms is not None else ""
        self._set(row, TOLERANCE_COLUMN, f"{judged}{worst}", f"{judged} {self.tolerance.label()}",
                  STATUS_COLOURS[judged])

    def _set(self, row: int, column: int, text: str, tip: str = "", colour: Optional[str] = None) -> None:
        item = QTableWidgetItem(text)
        item.setToolTip(tip or text)
        if colour:
            item.setForeground(QColor(colour))
        if column == 0:
            item.setData(Qt.ItemDataRole.UserRole, tip)
        self.table.setItem(row, column, item)

    def _row_of(self, path: Path) -> Optional[int]:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == str(path):
                return row
        return None

    def report_rows(self) -> list[Row]:
        return rows(self.jobs.values(), self.batch.skipped if self.batch else [], PRESETS[self.preset.currentData()],
                    self.tolerance)

    def _show_summary(self) -> None:
        report = self.report_rows()
        tally = {status: sum(row.status == status for row in report)
                 for status in ("good", "poor", "error", "skipped", QUEUED, RUNNING)}
        done = tally["good"] + tally["poor"] + tally["error"]
        outside = "" if self.tolerance is None else (
            f", {sum(row.tolerance == 'outside' for row in report)} outside {self.tolerance.title}")
        self.summary.setText(f"{done} of {done + tally[QUEUED] + tally[RUNNING]} analysed: {tally['good']} good, "
                             f"{tally['poor']} poor, {tally['error']} errors, {tally['skipped']} skipped{outside}"
                             + (" (running)" if self.running else ""))

    def _reclassify(self) -> None:
        """A new preset: every finished row is judged again from its stored result."""
        self._fill()

    def set_tolerance(self, tolerance: Optional[Tolerance]) -> None:
        """Judge against ``tolerance`` too (None: the preset alone), re-judging every finished row."""
        self.tolerance = tolerance
        self.table.setColumnHidden(TOLERANCE_COLUMN, tolerance is None)
        header = self.table.horizontalHeaderItem(TOLERANCE_COLUMN)
        header.setToolTip(tolerance.label() if tolerance is not None else "")
        self._fill()

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(bool(self.jobs))

    # ---------------------------------------------------------------- actions
    def _double_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        path = Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        if path is not None and path in self.jobs and self.jobs[path].state == DONE:
            self.open_requested.emit(path)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the batch")
        if folder:
            self.add([Path(folder)])

    def _ask_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add files to the batch")
        if names:
            self.add([Path(name) for name in names])

    def _ask_report_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write report.json and report.csv into")
        if folder:
            self.export_report(Path(folder))

    def export_report(self, folder: Path) -> bool:
        """Write report.json and report.csv into ``folder``; False (and the reason shown) if it cannot."""
        preset = PRESETS[self.preset.currentData()]
        settings = self.batch.settings.fields if self.batch is not None else {}
        try:
            write_report(folder, self.report_rows(), preset, settings, self.tolerance)
        except SyncdeskError as exc:
            self.last_error = str(exc)
            self.summary.setText(f"No report written: {exc}")
            return False
        self.summary.setText(f"Report written to {folder}")
        return True
