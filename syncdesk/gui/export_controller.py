"""Apply offset: ask where, refuse to replace the original, write in a worker with a progress
dialog, then say what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from ..core import ExportResult, SyncOverTime, same_file
from .jobs import export_worker
from .workers import Worker, WorkerPool

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.m4v *.mxf *.webm *.mpg *.mpeg *.ts *.mts);;All files (*)"


class ExportController(QObject):
    finished = Signal(object)  # ExportResult
    failed = Signal(str, str)  # title, message
    message = Signal(str)  # for the status bar
    running_changed = Signal()  # read ``running`` (a bool argument leaks references in PySide 6.12)

    def __init__(self, pool: WorkerPool, parent: QWidget, show_box: Callable[[QMessageBox], None]) -> None:
        super().__init__(parent)
        self.pool = pool
        self.window = parent
        self.show_box = show_box
        self.worker: Optional[Worker] = None
        self.dialog: Optional[QProgressDialog] = None  # the running (or last) export's progress

    @property
    def running(self) -> bool:
        return self.worker is not None

    def ask_path(self, suggested: Path) -> Optional[Path]:
        name, _ = QFileDialog.getSaveFileName(self.window, "Apply offset: save the fixed copy as", str(suggested),
                                              VIDEO_FILTER)
        return Path(name) if name else None

    def export(self, source: Path, shift_ms: float, over_time: Optional[SyncOverTime] = None) -> None:
        """Ask for a name beside ``source`` and write the fixed copy there: shifted by ``shift_ms``,
        or corrected along the file by ``over_time`` (a drift or steps model) when given."""
        if self.worker is not None:
            return
        target = self.ask_path(source.with_name(f"{source.stem}.synced{source.suffix}"))
        if target is None:
            return
        if same_file(target, source):
            self.failed.emit("Choose another name", "The fixed copy cannot replace the original: "
                             "syncdesk never overwrites the file it reads.")
            return
        worker = export_worker(source, target, shift_ms, over_time)
        dialog = QProgressDialog(f"Writing {target.name}…", "Cancel", 0, 1000, self.window)
        dialog.setObjectName("export_progress")
        dialog.setWindowTitle("Apply offset")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.canceled.connect(worker.cancel)
        worker.signals.progress.connect(lambda _stage, fraction: dialog.setValue(int(1000 * fraction)))
        worker.signals.finished.connect(lambda result: self._finished(result, target))
        worker.signals.failed.connect(lambda message: self.failed.emit("Export failed", message))
        worker.signals.cancelled.connect(lambda: self.message.emit("Export cancelled; nothing was written."))
        worker.signals.done.connect(lambda: self._done(dialog))
        self.dialog = dialog
        self.worker = worker
        self.running_changed.emit()
        dialog.show()
        self.pool.start(worker)

    def _done(self, dialog: QProgressDialog) -> None:
        dialog.reset()
        dialog.hide()
        self.worker = None
        self.running_changed.emit()

    def _finished(self, result: ExportResult, target: Path) -> None:
        self.message.emit(f"Wrote {target.name}: {result.describe()}")
        box = QMessageBox(QMessageBox.Icon.Information, "Offset applied", f"Wrote {target.name}",
                          QMessageBox.StandardButton.Close, self.window)
        box.setInformativeText(result.describe())
        box.setObjectName("export_done")
        show = box.addButton("Show in folder", QMessageBox.ButtonRole.ActionRole)
        show.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(target.parent))))
        self.show_box(box)
        self.finished.emit(result)
