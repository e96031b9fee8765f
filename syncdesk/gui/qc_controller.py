"""File ▸ Export QC report… and Export markers…: ask where, write in a worker, say what was written.

Both judge the analysis against the tolerance chosen in the offset panel, or against core's
``DEFAULT_TOLERANCE`` when none is (the save dialog's title says which). A file that exists is
replaced only when the user said so in the save dialog's overwrite question.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from ..core import DEFAULT_TOLERANCE, TOLERANCES, Analysis, Tolerance
from .workers import Worker, WorkerPool


@dataclass(frozen=True)
class QcExport:
    """One kind of QC file: its menu words, the save dialog's types and how a worker writes it."""

    what: str  # "QC report", "markers"
    tag: str  # the suggested name's: clip.qc.pdf, clip.markers.edl
    suffixes: dict[str, str]  # ".pdf" -> "PDF report": the first is the default
    write: Callable[[Analysis, Path, Tolerance, bool], Any]
    done: Callable[[Any, Path], str]  # the status bar's words for a written file

    @property
    def filter(self) -> str:
        return ";;".join(f"{name} (*{suffix})" for suffix, name in self.suffixes.items())

    def suffix_of(self, selected_filter: str) -> str:
        """The suffix of the type picked in the save dialog (the default one if none is recognised)."""
        return next((suffix for suffix in self.suffixes if f"(*{suffix})" in selected_filter), next(iter(self.suffixes)))


def write_qc_report(analysis: Analysis, path: Path, tolerance: Tolerance, overwrite: bool) -> Path:
    from ..core.report import write_report  # matplotlib and reportlab: loaded in the worker, when first used

    return write_report(analysis, path, tolerance, overwrite=overwrite)


def write_qc_markers(analysis: Analysis, path: Path, tolerance: Tolerance, overwrite: bool) -> list:
    from ..core.markers import write_markers  # OpenTimelineIO: loaded in the worker, when first used

    return write_markers(analysis, path, tolerance, overwrite=overwrite)


def _markers_written(markers: list, path: Path) -> str:
    return f"Wrote {len(markers)} marker{'' if len(markers) == 1 else 's'} to {path}"


REPORT = QcExport("QC report", "qc", {".pdf": "PDF report", ".html": "HTML report"}, write_qc_report,
                  lambda _result, path: f"Wrote the QC report {path}")
MARKERS = QcExport("markers", "markers", {".edl": "EDL (CMX 3600)", ".fcpxml": "Final Cut Pro XML",
                                          ".otio": "OpenTimelineIO", ".csv": "CSV"}, write_qc_markers,
                  _markers_written)


def judged_with(chosen: Optional[Tolerance]) -> tuple[Tolerance, str]:
    """The tolerance an export judges against and how to name it: the chosen one, else the default."""
    if chosen is not None:
        return chosen, chosen.label()
    default = TOLERANCES[DEFAULT_TOLERANCE]
    return default, f"{default.label()}, the default: no tolerance is chosen"


class QcController(QObject):
    failed = Signal(str, str)  # title, message
    message = Signal(str)  # for the status bar
    finished = Signal(object)  # the written file's Path
    running_changed = Signal()  # read ``running``

    def __init__(self, pool: WorkerPool, parent: QWidget) -> None:
        super().__init__(parent)
        self.pool = pool
        self.window = parent
        self.worker: Optional[Worker] = None
        self.dialog: Optional[QProgressDialog] = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def ask_path(self, kind: QcExport, suggested: Path, title: str) -> Optional[tuple[Path, bool]]:
        """Where to write, and whether the user agreed to replace it (the dialog asks when it exists).

        A name typed without a suffix gets the chosen type's; the dialog did not ask about that
        name, so it carries no consent."""
        name, selected = QFileDialog.getSaveFileName(self.window, title, str(suggested), kind.filter)
        if not name:
            return None
        path = Path(name)
        if path.suffix:
            return path, path.exists()
        return path.with_name(path.name + kind.suffix_of(selected)), False

    def export(self, kind: QcExport, analysis: Analysis, chosen: Optional[Tolerance]) -> None:
        """Ask for a name beside the analysed file and write ``kind`` there in a worker."""
        if self.worker is not None:
            return
        tolerance, named = judged_with(chosen)
        source = Path(analysis.source.path)
        suggested = source.with_name(f"{source.stem}.{kind.tag}{next(iter(kind.suffixes))}")
        answer = self.ask_path(kind, suggested, f"Export {kind.what} (judged against {named})")
        if answer is None:
            return
        path, overwrite = answer
        refusal = self._refusal(kind, path, overwrite)
        if refusal:
            self.failed.emit(f"Cannot write the {kind.what}", refusal)
            return
        document = copy.deepcopy(analysis)  # the worker's own copy: the window may move on meanwhile
        worker = Worker(lambda _progress, _cancel: kind.write(document, path, tolerance, overwrite),
                        name=f"Export {kind.what}")
        worker.signals.finished.connect(lambda result: self._finished(kind.done(result, path), path, named))
        worker.signals.failed.connect(lambda message: self.failed.emit(f"Cannot write the {kind.what}", message))
        worker.signals.done.connect(self._done)
        self.dialog = self._progress_dialog(f"Writing {path.name}…", f"Export {kind.what}")
        self.worker = worker
        self.running_changed.emit()
        self.pool.start(worker)

    @staticmethod
    def _refusal(kind: QcExport, path: Path, overwrite: bool) -> str:
        """Why ``path`` is not written (before any work), or "" when it can be."""
        if path.suffix.lower() not in kind.suffixes:
            return f"{path.name}: choose a name ending in {', '.join(kind.suffixes)}."
        if path.exists() and not overwrite:
            return (f"{path.name} exists and was not chosen to be replaced: pick it in the save dialog, "
                    "or give another name.")
        return ""

    def _progress_dialog(self, text: str, title: str) -> QProgressDialog:
        """A busy bar: the writers say nothing until they are done, and cannot be stopped half way."""
        dialog = QProgressDialog(text, "", 0, 0, self.window)
        dialog.setObjectName("qc_progress")
        dialog.setWindowTitle(title)
        dialog.setCancelButton(None)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.show()
        return dialog

    def _finished(self, words: str, path: Path, named: str) -> None:
        self.message.emit(f"{words} (judged against {named}).")
        self.finished.emit(path)

    def _done(self) -> None:
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.hide()
        self.worker = None
        self.running_changed.emit()

