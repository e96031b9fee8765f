"""First run: the SyncNet weights are missing; download them (progress, cancel, retry) or pick a file.

The download and the check of a chosen file run in the worker pool: the dialog stays responsive
and only ever shows one-line messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core import CancelToken, ProgressCallback, WeightsError
from .. import core
from .workers import Job, Worker, WorkerPool

class _Bytes(QObject):
    """Carries ``(done, total_or_None)`` from the download thread to the dialog (queued)."""

    changed = Signal(object, object)


class WeightsDialog(QDialog):
    """Get SyncNet weights: download the published file, or choose a local one. Accepts when ready."""

    def __init__(self, pool: WorkerPool, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SyncNet weights needed")
        self.pool = pool
        self._worker: Optional[Worker] = None
        self._path = core.model_path("syncnet")
        spec = core.MODELS["syncnet"]

        title = QLabel("<b>syncdesk needs the SyncNet weights</b>")
        intro = QLabel(self._explanation(spec), objectName="intro")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)

        self.progress = QProgressBar(objectName="progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status = QLabel(objectName="status")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.hide()
        self.error = QLabel(objectName="error")
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # messages hold paths and URLs, not markup
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()

        self.download_button = QPushButton("Download", objectName="download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.start_download)
        self.choose_button = QPushButton("Choose file…", objectName="choose")
        self.choose_button.clicked.connect(self._browse)
        self.cancel_button = QPushButton("Cancel download", objectName="cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.hide()
        self.quit_button = QPushButton("Quit", objectName="quit")
        self.quit_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.setMinimumWidth(520)

    @staticmethod
    def needed(explicit: Optional[Path]) -> bool:
        """True when ``locate("syncnet", explicit)`` would fail (missing or mismatching file)."""
        try:
            core.locate("syncnet", explicit)
        except WeightsError:
            return True
        return False

    def weights_path(self) -> Path:
        """The manager's copy after a download, or the file the user chose."""
        return self._path

    @staticmethod
    def _explanation(spec: core.ModelSpec) -> str:
        host = urlsplit(core.model_url("syncnet")).hostname or "the authors' site"
        where = core.model_path("syncnet")
        state = ("The copy in syncdesk's model folder does not match the published file."
                 if where.is_file() else "They are not on this computer yet.")
        return (f"syncdesk measures lip sync with SyncNet, a neural network published by its authors "
                f"(Chung & Zisserman, 2016). {state}\n\n"
                f"Download them once (about {spec.size / core.MB:.0f} MB from {host}; the file is checked "
                f"before it is used), or choose a syncnet_v2.model file you already have.")

    # ---------------------------------------------------------------- states

    def _busy(self, busy: bool, downloading: bool = False) -> None:
        self.download_button.setEnabled(not busy)
        self.choose_button.setEnabled(not busy)
        self.cancel_button.setVisible(downloading)
        self.cancel_button.setEnabled(downloading)
        self.progress.setVisible(downloading)

    def _say(self, message: str, error: bool = False) -> None:
        self.status.setVisible(bool(message) and not error)
        self.status.setText("" if error else message)
        self.error.setVisible(error)
        self.error.setText(message if error else "")
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow or shrink to the wrapped text's height (Qt's minimum size ignores word wrap)."""
        if not self.isVisible():
            return  # the first show sizes it from the hint
        self.layout().activate()
        self.resize(self.width(), max(self.heightForWidth(self.width()), self.minimumSizeHint().height()))

    def _run(self, job: Job, name: str) -> Worker:
        worker = Worker(job, name)
        worker.signals.done.connect(self._done)
        self._worker = worker
        self.pool.start(worker)
        return worker

    def _done(self) -> None:
        self._worker = None

    # ---------------------------------------------------------------- download

    def start_download(self) -> None:
        if self._worker is not None:
            return
        bytes_signal = _Bytes()
        bytes_signal.changed.connect(self._bytes)

        def job(progress: ProgressCallback, cancel: CancelToken) -> Path:
            return core.download_model("syncnet", progress=bytes_signal.changed.emit, cancel=cancel)

        self.progress.setRange(0, 0)  # busy until the first answer gives a size
        self.progress.setFormat("connecting…")
        self._busy(True, downloading=True)
        self._say("Downloading the SyncNet weights…")
        worker = self._run(job, "download")
        worker.signals.finished.connect(self._downloaded)
        worker.signals.cancelled.connect(self._download_cancelled)
        worker.signals.failed.connect(self._download_failed)
        worker.signals.done.connect(bytes_signal.deleteLater)

    def cancel_download(self) -> None:
        if self._worker is not None:
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…")
            self._worker.cancel()

    def _bytes(self, done: int, total: Optional[int]) -> None:
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))
            self.progress.setFormat(f"{core.human_size(done)} of {core.human_size(total)}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(core.human_size(done))

    def _downloaded(self, path: Path) -> None:
        self._path = Path(path)
        self._busy(False)
        self.accept()

    def _download_cancelled(self) -> None:
        core.discard_partial("syncnet")  # leave no partial file, unless another process is writing it
        self._busy(False)
        self._say("Download cancelled.")

    def _download_failed(self, message: str) -> None:
        self._busy(False)
        self.download_button.setText("Retry")
        self._say(message, error=True)

    # ---------------------------------------------------------------- local file

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose SyncNet weights", str(Path.home()),
                                              "SyncNet weights (*.model *.pth *.pt);;All files (*)")
        if path:
            self.choose_file(Path(path))

    def choose_file(self, path: Path) -> None:
        """Check ``path`` by loading it as SyncNet on the CPU (in the pool); accept if it loads."""
        if self._worker is not None:
            return

        def job(progress: ProgressCallback, cancel: CancelToken) -> Path:
            from ..core import load_syncnet  # torch: only when a file is checked

            try:
                load_syncnet(path, "cpu")
            except WeightsError:
                raise
            except Exception as exc:  # torch's unpickler lets some errors through for odd files
                raise WeightsError(f"{path.name} is not a PyTorch weights file "
                                   "(damaged, or some other kind of file)") from exc
            return path

        self._busy(True)
        self._say(f"Checking {path.name}…")
        worker = self._run(job, "checking the weights")
        worker.signals.finished.connect(self._chosen)
        worker.signals.failed.connect(self._choose_failed)

    def _chosen(self, path: Path) -> None:
        self._path = Path(path)
        self._busy(False)
        self.accept()

    def _choose_failed(self, message: str) -> None:
        self._busy(False)
        self._say(message, error=True)

    def reject(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        super().reject()
