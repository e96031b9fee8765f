"""What the desktop app remembers: recent files, analysis settings, tolerance, model folder, window layout.

A QSettings INI file in syncdesk's data dir (``core.data_dir() / "syncdesk.ini"``), so that
``SYNCDESK_DATA_DIR`` keeps tests and scripts away from a user's real settings. Values read back
are checked: a hand-edited or stale file falls back to the defaults, never to an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from .. import core
from ..core import MODELS, AnalysisOptions, Tolerance, parse_tolerance

MAX_RECENT = 10


def _as_bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return default


def _as_int(value: Any, default: int, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default


def _as_list(value: Any) -> list[str]:
    """QSettings gives back a one-item list as a plain string and an empty one as None."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value]


def _same_file(a: Path, b: Path) -> bool:
    return os.path.normcase(str(a.resolve())) == os.path.normcase(str(b.resolve()))


def tolerance_text(tolerance: Tolerance) -> str:
    """What ``parse_tolerance`` reads back: a standard's name, or ``LEAD/LAG``."""
    return tolerance.name if tolerance.name != "custom" else f"{tolerance.lead_ms:g}/{tolerance.lag_ms:g}"


class AppSettings:
    """Typed access to the app's INI file; every setter writes through at once."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path is not None else core.data_dir() / "syncdesk.ini"
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    def _set(self, key: str, value: Any) -> None:
        if value is None:
            self._qs.remove(key)
        else:
            self._qs.setValue(key, value)
        self._qs.sync()

    # ---------------------------------------------------------------- recent files

    def recent_files(self) -> list[Path]:
        """Most recent first; files that no longer exist are left out."""
        return [Path(item) for item in _as_list(self._qs.value("recent/files")) if Path(item).is_file()]

    def add_recent(self, path: os.PathLike | str) -> None:
        new = Path(path).resolve()
        kept = [item for item in self.recent_files() if not _same_file(item, new)]
        self._set("recent/files", [str(item) for item in [new, *kept][:MAX_RECENT]])

    def clear_recent(self) -> None:
        self._set("recent/files", None)

    # ---------------------------------------------------------------- analysis options

    def options(self) -> AnalysisOptions:
        """The saved analysis settings. ``weights``: the model folder's SyncNet file when there
        is one, else a file chosen earlier (if it still exists), else None (the manager's copy)."""
        default = AnalysisOptions()
        qs = self._qs
        device = str(qs.value("analysis/device", default.device))
        detector = str(qs.value("analysis/detector", default.detector))
        precision = str(qs.value("analysis/precision", default.precision))
        chosen = qs.value("analysis/weights")
        chosen_path = Path(str(chosen)) if chosen else None
        return AnalysisOptions(
            weights=self.syncnet_weights() or (chosen_path if chosen_path and chosen_path.is_file() else None),
            s3fd_weights=self._folder_file("s3fd"),
            device=device if device in core.DEVICES else default.device,
            detector=detector if detector in core.DETECTORS else default.detector,
            vshift=_as_int(qs.value("analysis/vshift"), default.vshift, *core.VSHIFT_RANGE),
            min_track=_as_int(qs.value("analysis/min_track"), default.min_track, *core.MIN_TRACK_RANGE),
            min_face_size=_as_int(qs.value("analysis/min_face_size"), default.min_face_size,
                                  *core.MIN_FACE_RANGE),
            exact=_as_bool(qs.value("analysis/exact"), default.exact),
            precision=precision if precision in core.PRECISIONS else default.precision,
        )

    def set_options(self, options: AnalysisOptions) -> None:
        qs = self._qs
        qs.setValue("analysis/device", options.device)
        qs.setValue("analysis/detector", options.detector)
        qs.setValue("analysis/vshift", int(options.vshift))
        qs.setValue("analysis/min_track", int(options.min_track))
        qs.setValue("analysis/min_face_size", int(options.min_face_size))
        qs.setValue("analysis/exact", bool(options.exact))
        qs.setValue("analysis/precision", options.precision)
        folder_file = self.syncnet_weights()
        pinned = options.weights is not None and not (folder_file and _same_file(options.weights, folder_file))
        self._set("analysis/weights", str(Path(options.weights).resolve()) if pinned else None)

    # ---------------------------------------------------------------- tolerance

    def tolerance(self) -> Optional[Tolerance]:
        """The broadcast tolerance chosen last, or None (the preset only; also for an unreadable value)."""
        text = self._qs.value("qc/tolerance")
        try:
            return parse_tolerance(str(text)) if text else None
        except ValueError:
            return None

    def set_tolerance(self, tolerance: Optional[Tolerance]) -> None:
        self._set("qc/tolerance", None if tolerance is None else tolerance_text(tolerance))

    # ---------------------------------------------------------------- models

    def models_folder(self) -> Optional[Path]:
        value = self._qs.value("models/folder")
        return Path(str(value)) if value else None

    def set_models_folder(self, folder: Optional[Path]) -> None:
        self._set("models/folder", str(Path(folder)) if folder else None)

    def syncnet_weights(self) -> Optional[Path]:
        """``models_folder()/syncnet_v2.model`` when it is there, else None."""
        return self._folder_file("syncnet")

    def _folder_file(self, model: str) -> Optional[Path]:
        """The model folder's copy of ``model``'s published file (syncnet_v2.model, sfd_face.pth), if any."""
        folder = self.models_folder()
        if folder is None:
            return None
        path = folder / MODELS[model].filename
        return path if path.is_file() else None

    # ---------------------------------------------------------------- window layout

    def save_window(self, window: QMainWindow) -> None:
        self._qs.setValue("window/geometry", window.saveGeometry())
        self._qs.setValue("window/state", window.saveState())
        self._qs.sync()

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore geometry and dock/toolbar state; False when nothing (usable) was saved."""
        geometry = self._qs.value("window/geometry")
        state = self._qs.value("window/state")
        restored = isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            restored = window.restoreState(state) and restored
        return bool(restored)
