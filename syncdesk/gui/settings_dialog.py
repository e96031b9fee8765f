"""The settings dialog: analysis options, the user's own model folder, and the analysis cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .. import core
from ..core import (
    DEFAULT_CACHE_BYTES, DEVICES, MB, MIN_FACE_RANGE, MIN_TRACK_RANGE, MODELS, VSHIFT_RANGE, AnalysisCache,
    AnalysisOptions, CacheInfo, SyncdeskError,
)
from .workers import Worker, WorkerPool

DEVICE_NAMES = {"auto": "Automatic", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}
DETECTOR_NAMES = {
    "auto": "Automatic",
    "s3fd": "S3FD (published detector, most accurate)",
    "haar": "Haar cascade (bundled, fast)",
    "whole-frame": "Whole frame (the clip is already a face crop)",
}


PRECISION_NAMES = {"auto": "Automatic", "float32": "float32", "bfloat16": "bfloat16 (fast on CPUs that have it)"}


def auto_precision(device: str) -> str:
    """The arithmetic ``auto`` picks for the fast mode on ``device`` (``?`` if it is not there)."""
    from ..core import precision_in_use

    try:
        return precision_in_use(AnalysisOptions(device=device))
    except SyncdeskError:
        return "?"


def available_devices() -> tuple[dict[str, bool], str]:
    """Which devices this machine has, and the one ``auto`` picks."""
    import torch  # loaded by the app for analysis anyway; kept out of this module's import time

    from ..core import resolve_device

    present = {"auto": True, "cpu": True, "cuda": torch.cuda.is_available(),
               "mps": torch.backends.mps.is_available()}
    return present, resolve_device("auto").type




_CACHE_JOBS: Optional[WorkerPool] = None


def cache_jobs() -> WorkerPool:
    """The pool for cache work; it outlives the dialog, whose OK may leave a prune running."""
    global _CACHE_JOBS
    if _CACHE_JOBS is None:
        _CACHE_JOBS = WorkerPool()
    return _CACHE_JOBS


class SettingsDialog(QDialog):
    """Edit a copy of ``options`` and the model folder; the input object is never changed. The
    cache line clears the analysis cache at once; its size limit is saved on OK."""

    def __init__(self, options: AnalysisOptions, models_folder: Optional[Path],
                 parent: Optional[QWidget] = None, cache: Optional[AnalysisCache] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._input = options
        self._input_folder = models_folder
        self.cache = cache if cache is not None else AnalysisCache()

        self.device = QComboBox(objectName="device")
        self._fill_devices()
        self.detector = QComboBox(objectName="detector")
        self._fill_detectors()
        self.vshift = self._spin("vshift", VSHIFT_RANGE, " frames",
                                 "How far (in 25 fps frames) the search for the offset goes either way")
        self.min_face_size = self._spin("min_face_size", MIN_FACE_RANGE, " px",
                                        "Faces smaller than this (in source pixels) are ignored")
        self.min_track = self._spin("min_track", MIN_TRACK_RANGE, " frames",
                                    "Face tracks shorter than this are not scored")
        self.exact = QCheckBox("Score every window (slower)", objectName="exact")
        self.exact.setToolTip("The published demo's exact maths; the default scores every 5th window, "
                              "which has been shown to keep the verdict")
        self.precision = QComboBox(objectName="precision")
        for name in core.PRECISIONS:
            self.precision.addItem(PRECISION_NAMES[name], name)
        self.device.currentIndexChanged.connect(self._label_auto_precision)
        self.precision.setToolTip("The fast mode's arithmetic (SyncNet and S3FD): bfloat16 is used automatically "
                                  "where the CPU computes it natively; exact mode is always float32")
        self.exact.toggled.connect(lambda exact: self.precision.setEnabled(not exact))

        self.models_folder_edit = QLineEdit(objectName="models_folder")
        self.models_folder_edit.setPlaceholderText("none: use the downloaded models")
        self.models_folder_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…", objectName="browse")
        browse.clicked.connect(self._browse)
        self.folder_status = QLabel(objectName="folder_status")
        self.folder_status.setWordWrap(True)
        self.models_folder_edit.textChanged.connect(self._update_folder_status)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.models_folder_edit, 1)
        folder_row.addWidget(browse)

        self.cache_status = QLabel(objectName="cache_status")
        self.cache_limit = QSpinBox(objectName="cache_limit")
        self.cache_limit.setRange(0, 1_000_000)
        self.cache_limit.setSuffix(" MB limit")
        self.cache_limit.setToolTip("Beyond this size the least recently used analyses are deleted")
        self.cache_limit.setValue(self.cache.max_bytes // MB)
        self.clear_cache_button = QPushButton("Clear cache", objectName="clear_cache")
        self.clear_cache_button.clicked.connect(self.clear_cache)
        cache_row = QHBoxLayout()
        cache_row.addWidget(self.cache_status, 1)
        cache_row.addWidget(self.cache_limit)
        cache_row.addWidget(self.clear_cache_button)
        self._update_cache_status()

        self.error = QLabel(objectName="error")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.addRow("Device:", self.device)
        form.addRow("Face detector:", self.detector)
        form.addRow("Offset search range:", self.vshift)
        form.addRow("Minimum face size:", self.min_face_size)
        form.addRow("Minimum track length:", self.min_track)
        form.addRow("Exact mode:", self.exact)
        form.addRow("Arithmetic:", self.precision)
        form.addRow("Model folder:", folder_row)
        form.addRow("", self.folder_status)
        form.addRow("Analysis cache:", cache_row)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        self.buttons = buttons

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

        self._show(options, models_folder)
        self.setMinimumWidth(520)

    # ---------------------------------------------------------------- building

    def _spin(self, name: str, limits: tuple[int, int], suffix: str, tip: str) -> QSpinBox:
        spin = QSpinBox(objectName=name)
        spin.setRange(*limits)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        return spin

    def _fill_devices(self) -> None:
        present, auto = available_devices()
        model = self.device.model()
        assert isinstance(model, QStandardItemModel)
        for name in DEVICES:
            label = DEVICE_NAMES[name]
            if name == "auto":
                label += f" (uses {DEVICE_NAMES.get(auto, auto)})"
            elif not present[name]:
                label += " — not available"
            self.device.addItem(label, name)
            item = model.item(self.device.count() - 1)
            item.setEnabled(present[name])
        self.device.setToolTip("Where the network runs; the result is the same on every device")

    def _label_auto_precision(self) -> None:
        """"Automatic (uses ...)" for the device now chosen: bfloat16 on some CPUs, float32 elsewhere."""
        index = self.precision.findData("auto")
        uses = auto_precision(str(self.device.currentData()))
        self.precision.setItemText(index, f"{PRECISION_NAMES['auto']} (uses {uses})")

    def _fill_detectors(self) -> None:
        try:
            auto = core.resolve_detector("auto")
        except SyncdeskError:
            auto = "haar"
        for name in core.DETECTORS:  # read now: the engine's list may grow
            label = DETECTOR_NAMES.get(name, name)
            if name == "auto":
                label += f" (uses {DETECTOR_NAMES.get(auto, auto).split(' (')[0]})"
            self.detector.addItem(label, name)
        self.detector.setToolTip("How faces are found; Automatic uses S3FD once its weights are downloaded")

    def _show(self, options: AnalysisOptions, folder: Optional[Path]) -> None:
        self._select(self.device, options.device)
        self._select(self.detector, options.detector)
        self.vshift.setValue(options.vshift)
        self.min_face_size.setValue(options.min_face_size)
        self.min_track.setValue(options.min_track)
        self.exact.setChecked(options.exact)
        self._select(self.precision, options.precision)
        self._label_auto_precision()
        self.precision.setEnabled(not options.exact)
        self.models_folder_edit.setText(str(folder) if folder else "")
        self._update_folder_status()

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index < 0:  # a value from another machine or version: keep it visible
            combo.addItem(value, value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    # ---------------------------------------------------------------- slots

    def _browse(self) -> None:
        start = self.models_folder_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the model folder", start)
        if folder:
            self.models_folder_edit.setText(folder)

    def _update_folder_status(self) -> None:
        self.error.hide()
        text = self.models_folder_edit.text().strip()
        filename = MODELS["syncnet"].filename
        if not text:
            message = "SyncNet weights come from the download manager."
        elif not Path(text).expanduser().is_dir():
            message = "This folder does not exist."
        elif (Path(text).expanduser() / filename).is_file():
            message = f"Uses {filename} from this folder."
        else:
            message = f"No {filename} here: the downloaded copy is used."
        self.folder_status.setText(message)
        self._fit_height()

    def _update_cache_status(self) -> None:
        """Measure the cache in a worker (thousands of files to stat) and show it when known."""
        self._cache_job("Measuring…", lambda: self.cache.info())

    def clear_cache(self) -> None:
        """Delete every cached analysis now (not on OK: there is nothing to undo), in a worker."""
        cache = self.cache
        self._cache_job("Clearing…", lambda: (cache.clear(), cache.info())[1])

    def _cache_job(self, busy: str, job: Callable[[], CacheInfo]) -> None:
        self.cache_status.setText(busy)
        self.clear_cache_button.setEnabled(False)
        worker = Worker(lambda _progress, _cancel: job(), name="cache")
        worker.signals.finished.connect(self._show_cache_info)
        worker.signals.failed.connect(self.cache_status.setText)
        cache_jobs().start(worker)

    def _show_cache_info(self, info: CacheInfo) -> None:
        self.cache_status.setText(f"{info.size / MB:.1f} MB in {info.entries} "
                                  f"{'analysis' if info.entries == 1 else 'analyses'}")
        self.cache_status.setToolTip(str(info.root))
        self.clear_cache_button.setEnabled(info.entries > 0)

    def restore_defaults(self) -> None:
        self._show(AnalysisOptions(), None)
        self.cache_limit.setValue(DEFAULT_CACHE_BYTES // MB)

    def accept(self) -> None:
        text = self.models_folder_edit.text().strip()
        if text and not Path(text).expanduser().is_dir():
            self.error.setText(f"The model folder {text} does not exist.")
            self.error.show()
            self._fit_height()
            return
        limit = self.cache_limit.value() * MB
        if limit != self.cache.max_bytes:
            try:
                self.cache.set_max_bytes(limit, prune=False)  # one small file; the deleting goes to a worker
            except SyncdeskError as exc:
                self.error.setText(f"The cache limit was not saved: {exc}")
                self.error.show()
                self._fit_height()
                return
            cache = self.cache
            cache_jobs().start(Worker(lambda _progress, _cancel: cache.prune(), name="cache prune"))
        super().accept()

    def _fit_height(self) -> None:
        """Grow or shrink to the wrapped text's height (Qt's minimum size ignores word wrap)."""
        if not self.isVisible():
            return  # the first show sizes it from the hint
        self.layout().activate()
        self.resize(self.width(), max(self.heightForWidth(self.width()), self.minimumSizeHint().height()))

    # ---------------------------------------------------------------- results

    def models_folder(self) -> Optional[Path]:
        text = self.models_folder_edit.text().strip()
        return Path(text).expanduser() if text else None

    def options(self) -> AnalysisOptions:
        """The input options with the dialog's fields. ``weights``: the model folder's SyncNet
        file when it has one; a file from the previous folder is dropped; any other is kept.
        ``s3fd_weights``: the model folder's sfd_face.pth when it has one."""
        filename = MODELS["syncnet"].filename
        folder = self.models_folder()
        weights = self._input.weights
        if folder is not None and (folder / filename).is_file():
            weights = folder / filename
        elif weights is not None and self._input_folder is not None and \
                Path(weights) == self._input_folder / filename:
            weights = None
        s3fd = folder / MODELS["s3fd"].filename if folder is not None else None
        return dataclasses.replace(
            self._input,
            s3fd_weights=s3fd if s3fd is not None and s3fd.is_file() else None,
            device=str(self.device.currentData()),
            detector=str(self.detector.currentData()),
            vshift=self.vshift.value(),
            min_face_size=self.min_face_size.value(),
            min_track=self.min_track.value(),
            exact=self.exact.isChecked(),
            precision=str(self.precision.currentData()),
            weights=weights,
        )
