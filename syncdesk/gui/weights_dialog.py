"""First run: the SyncNet weights are missing; download them (progress, cancel, retry) or pick a file.

Download fetches SyncNet, then the published S3FD face detector (unless it is already there), as
``syncdesk models download`` does. SyncNet is what the app needs: when S3FD fails or is cancelled
after SyncNet arrived, the dialog says so and goes on with SyncNet (analyses use the bundled
detector; ``syncdesk models download s3fd`` or Retry fetches S3FD later).

The downloads and the check of a chosen file run in the worker pool, one at a time: the dialog
stays responsive and only ever shows one-line messages.
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


#: what the dialog calls each file it downloads
_WHAT = {"syncnet": "the SyncNet weights", "s3fd": "the S3FD face detector"}
#: :meth:`WeightsDialog.notice` when the dialog accepts with SyncNet but without S3FD
_S3FD_LATER = ("The S3FD face detector was not downloaded: analyses use the bundled detector; "
               "run `syncdesk models download s3fd` to fetch it later.")


class WeightsDialog(QDialog):
    """Get SyncNet weights: download the published file (and S3FD), or choose a local one. Accepts
    when SyncNet is ready."""

    def __init__(self, pool: WorkerPool, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SyncNet weights needed")
        self.pool = pool
        self._worker: Optional[Worker] = None
        self._path = core.model_path("syncnet")
        self._syncnet_ready = False  # downloaded in this dialog: only S3FD is left to fetch
        self._queue: list[str] = []  # models still to download in this run, in order
        self._current = "syncnet"  # the model being downloaded
        self._run_size = 0  # how many this run downloads (for "1 of 2")
        self._notice = ""
        self._with_s3fd = core.verify_model("s3fd", quick=True).status != "ok"
        spec = core.MODELS["syncnet"]

        title = QLabel("<b>syncdesk needs the SyncNet weights</b>")
        intro = QLabel(self._explanation(spec, self._with_s3fd), objectName="intro")
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
        self.continue_button = QPushButton("Continue", objectName="continue")
        self.continue_button.clicked.connect(self.accept)
        self.continue_button.hide()

        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        buttons.addWidget(self.continue_button)

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

    def notice(self) -> str:
        """After an accepted download: why S3FD was not fetched and how to get it later ("" if it was)."""
        return self._notice

    @staticmethod
    def _explanation(spec: core.ModelSpec, with_s3fd: bool) -> str:
        host = urlsplit(core.model_url("syncnet")).hostname or "the authors' site"
        where = core.model_path("syncnet")
        state = ("The copy in syncdesk's model folder does not match the published file."
                 if where.is_file() else "They are not on this computer yet.")
        text = (f"syncdesk measures lip sync with SyncNet, a neural network published by its authors "
                f"(Chung & Zisserman, 2016). {state}\n\n"
                f"Download them once (about {spec.size / core.MB:.0f} MB from {host}; the file is checked "
                f"before it is used), or choose a syncnet_v2.model file you already have.")
        if with_s3fd:
            s3fd = core.MODELS["s3fd"]
            text += (f"\n\nDownload also fetches the S3FD face detector (about {s3fd.size / core.MB:.0f} MB), "
                     "which finds the small and turned faces the bundled detector misses. SyncNet comes "
                     "first: without S3FD, analyses still work, with the bundled detector.")
        return text

    # ---------------------------------------------------------------- states

    def _busy(self, busy: bool, downloading: bool = False) -> None:
        ready = self._syncnet_ready  # only S3FD is left: no other SyncNet file, no quitting without it
        self.download_button.setEnabled(not busy)
        self.choose_button.setEnabled(not busy)
        self.choose_button.setVisible(not ready)
        self.cancel_button.setVisible(downloading)
        self.cancel_button.setEnabled(downloading)
        self.progress.setVisible(downloading)
        self.quit_button.setVisible(not ready)
        self.continue_button.setVisible(ready and not busy)
        if ready and not busy:
            self.continue_button.setDefault(True)
            self.continue_button.setFocus()

    def _say(self, message: str, error: bool = False) -> None:
        self._show(message if not error else "", message if error else "")

    def _show(self, status: str, error: str) -> None:
        """``status`` in plain text and ``error`` in red, each shown only when not empty."""
        self.status.setVisible(bool(status))
        self.status.setText(status)
        self.error.setVisible(bool(error))
        self.error.setText(error)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow or shrink to the wrapped text's height (Qt's minimum size ignores word wrap)."""
        if not self.isVisible():
            return  # the first show sizes it from the hint
        self.layout().activate()
        self.resize(self.width(), max(self.heightForWidth(self.width()), self.minimumSizeHint().height()))

    def _run(self, job: Job, name: str) -> Worker:
        worker = Worker(job, name)
        worker.signals.done.connect(lambda: self._done(worker))
        self._worker = worker
        self.pool.start(worker)
        return worker

    def _done(self, worker: Worker) -> None:
        if self._worker is not worker:  # its failure was already handled, and a retry may be running
            return
        self._worker = None
        if self._queue:  # the previous download finished: the next one starts once its worker is done
            self._next_download()

    def _settle(self) -> None:
        """A job failed or was cancelled: the buttons come back now, so the user's next press (Retry,
        Choose file) must not be refused while the worker's last signal is still on its way."""
        self._worker = None
        self._busy(False)

    # ---------------------------------------------------------------- download

    def start_download(self) -> None:
        """Download SyncNet, then S3FD unless it is there (only S3FD when SyncNet is already ready)."""
        if self._worker is not None:
            return
        self._queue = [] if self._syncnet_ready else ["syncnet"]
        if self._with_s3fd:
            self._queue.append("s3fd")
        self._run_size = len(self._queue)
        self._notice = ""
        self._next_download()

    def _next_download(self) -> None:
        name = self._current = self._queue.pop(0)
        bytes_signal = _Bytes()
        bytes_signal.changed.connect(self._bytes)

        def job(progress: ProgressCallback, cancel: CancelToken) -> Path:
            return core.download_model(name, progress=bytes_signal.changed.emit, cancel=cancel)

        self.progress.setRange(0, 0)  # busy until the first answer gives a size
        self.progress.setValue(0)
        self.progress.setFormat("connecting…")
        self._busy(True, downloading=True)
        step = self._run_size - len(self._queue)
        count = f" ({step} of {self._run_size})" if self._run_size > 1 else ""
        ready = "SyncNet is ready. " if self._syncnet_ready else ""
        self._say(f"{ready}Downloading {_WHAT[name]}{count}…")
        worker = self._run(job, f"downloading {name}")
        worker.signals.finished.connect(self._downloaded)
        worker.signals.cancelled.connect(self._download_cancelled)
        worker.signals.failed.connect(self._download_failed)
        worker.signals.done.connect(bytes_signal.deleteLater)

    def cancel_download(self) -> None:
        if self._worker is not None:
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…")
            self._queue = []
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
        if self._current == "syncnet":
            self._path = Path(path)
            self._syncnet_ready = True
        else:
            self._with_s3fd = False
        if self._queue:
            return  # the next download starts when this worker is done
        self._busy(False)
        if self._with_s3fd:  # Cancel came as SyncNet finished, before S3FD started
            self._s3fd_missing("the download was cancelled")
        else:
            self.accept()

    def _download_cancelled(self) -> None:
        self._queue = []
        core.discard_partial(self._current)  # leave no partial file, unless another process is writing it
        self._settle()
        if self._current == "s3fd" and self._syncnet_ready:
            self._s3fd_missing("the download was cancelled")
        else:
            self._say("Download cancelled.")

    def _download_failed(self, message: str) -> None:
        self._queue = []
        self._settle()
        if self._current == "s3fd" and self._syncnet_ready:
            self._s3fd_missing(message)
            return
        self.download_button.setText("Retry")
        self._say(message, error=True)

    def _s3fd_missing(self, reason: str) -> None:
        """SyncNet arrived, S3FD did not: say so, offer Continue (with SyncNet) or Retry (S3FD)."""
        self.download_button.setText("Retry S3FD")
        self._notice = _S3FD_LATER
        self._show("SyncNet is ready: analyses work, with the bundled face detector. The S3FD face "
                   "detector, which finds small and turned faces, was not downloaded; retry now, or "
                   "fetch it later with `syncdesk models download s3fd`.",
                   f"S3FD: {reason}")

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
        self._settle()
        self._say(message, error=True)

    def reject(self) -> None:
        """Quit, Escape or the window's close button: stop a download; once SyncNet is ready (only
        S3FD was left), closing goes on with SyncNet, as Continue does."""
        if self._worker is not None:
            self._queue = []
            self._worker.cancel()
        if self._syncnet_ready:
            if self._with_s3fd:
                self._notice = _S3FD_LATER
            self.accept()
            return
        super().reject()
