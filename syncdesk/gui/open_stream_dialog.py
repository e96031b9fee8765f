"""File ▸ Open stream…: what to watch and how (the ``syncdesk monitor`` options a user sets).

A URL (HLS playlist, MPEG-TS over UDP/RTP, SRT, RTMP), a capture device (``v4l2:/dev/video0``,
``avfoundation:0:0``, ``dshow:video=NAME``) or a local file; a file can be played in real time,
as if it were live, or read as fast as the machine goes. The rolling window, the update interval,
the tolerance each update is judged against (the offset panel's, else core's default) and the
alarm delay. Whether the source opens is only known when the monitor tries it: the live view says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core import DEFAULT_TOLERANCE, TOLERANCES, Tolerance, parse_tolerance
from .export_controller import VIDEO_FILTER
from .live_controller import StreamRequest

CUSTOM = "custom"
#: what a capture device is written as (core/monitor/sources.py)
DEVICE_PREFIXES = ("v4l2:", "avfoundation:", "dshow:")
WINDOW_RANGE = (2.0, 60.0)
EVERY_RANGE = (0.5, 60.0)
ALARM_AFTER_RANGE = (0.0, 3600.0)


def looks_like_file(spec: str) -> bool:
    """Whether ``spec`` names a local file (not a URL nor a capture device)."""
    spec = spec.strip()
    return bool(spec) and "://" not in spec and not spec.startswith(DEVICE_PREFIXES)


class OpenStreamDialog(QDialog):
    def __init__(self, tolerance: Optional[Tolerance] = None, parent: Optional[QWidget] = None,
                 start_folder: Optional[Path] = None) -> None:
        super().__init__(parent)
        self.setObjectName("open_stream")
        self.setWindowTitle("Open stream")
        self.start_folder = start_folder or Path.home()

        self.source = QLineEdit(objectName="stream_source")
        self.source.setPlaceholderText("https://host/live.m3u8, udp://@239.1.1.1:5000, v4l2:/dev/video0 or a file")
        self.source.setToolTip("An HLS playlist (http/https), MPEG-TS on udp:// or rtp://, srt://, rtmp:// (where "
                               "this build's FFmpeg has them), a capture device or a local file")
        self.source.setClearButtonEnabled(True)
        self.source.setMinimumWidth(self.source.fontMetrics().horizontalAdvance("x" * 52))
        browse = QPushButton("File…", objectName="stream_browse")
        browse.setToolTip("Watch a local file")
        browse.clicked.connect(self._browse)
        self.realtime = QCheckBox("Play a file in real time, as if it were live", objectName="stream_realtime")
        self.realtime.setChecked(True)
        self.realtime.setToolTip("Off: the file is read as fast as the machine can measure it")

        self.window_s = self._spin("stream_window", WINDOW_RANGE, 8.0, 1,
                                   "The stretch of stream each update measures (a rolling window)")
        self.every_s = self._spin("stream_every", EVERY_RANGE, 2.0, 1,
                                  "Stream seconds between updates (at most the window)")
        self.window_s.valueChanged.connect(lambda value: self.every_s.setMaximum(min(EVERY_RANGE[1], value)))
        self.every_s.setMaximum(self.window_s.value())
        self.alarm_after = self._spin("stream_alarm_after", ALARM_AFTER_RANGE, 10.0, 0,
                                      "Outside the tolerance for this long raises an alarm (0: at once)")

        self.tolerance = QComboBox(objectName="stream_tolerance")
        for name, standard in TOLERANCES.items():
            self.tolerance.addItem(standard.label(), name)
        self.tolerance.addItem("custom LEAD/LAG…", CUSTOM)
        self.custom_tolerance = QLineEdit(objectName="stream_custom_tolerance")
        self.custom_tolerance.setPlaceholderText("40/60")
        self.custom_tolerance.setToolTip("LEAD/LAG in ms: how far the audio may lead, then lag")
        self.custom_tolerance.setMaximumWidth(self.custom_tolerance.fontMetrics().horizontalAdvance("00000/00000") + 16)
        self.tolerance_error = QLabel(objectName="stream_tolerance_error")
        self.tolerance_error.setWordWrap(True)
        self.tolerance_error.setStyleSheet("color: #D55E00;")
        self.tolerance_error.hide()

        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(browse)
        tolerance_row = QHBoxLayout()
        tolerance_row.addWidget(self.tolerance, 1)
        tolerance_row.addWidget(self.custom_tolerance)
        form = QFormLayout()
        form.addRow("Source:", source_row)
        form.addRow("", self.realtime)
        form.addRow("Window:", self.window_s)
        form.addRow("Update every:", self.every_s)
        form.addRow("Tolerance:", tolerance_row)
        form.addRow("", self.tolerance_error)
        form.addRow("Alarm after:", self.alarm_after)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Monitor")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

        self.source.textChanged.connect(self._check)
        self.tolerance.currentIndexChanged.connect(self._check)
        self.custom_tolerance.textChanged.connect(self._check)
        self.set_tolerance(tolerance or TOLERANCES[DEFAULT_TOLERANCE])

    @staticmethod
    def _spin(name: str, limits: tuple[float, float], value: float, decimals: int, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(objectName=name)
        spin.setRange(*limits)
        spin.setDecimals(decimals)
        spin.setSingleStep(0.5 if decimals else 1.0)
        spin.setSuffix(" s")
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def set_tolerance(self, tolerance: Tolerance) -> None:
        if tolerance.name in TOLERANCES:
            self.tolerance.setCurrentIndex(self.tolerance.findData(tolerance.name))
        else:
            self.tolerance.setCurrentIndex(self.tolerance.findData(CUSTOM))
            self.custom_tolerance.setText(f"{tolerance.lead_ms:g}/{tolerance.lag_ms:g}")
        self._check()

    def chosen_tolerance(self) -> Optional[Tolerance]:
        """The tolerance chosen, or None while a custom one cannot be read (the dialog says why)."""
        name = self.tolerance.currentData()
        if name != CUSTOM:
            return TOLERANCES[name]
        try:
            return parse_tolerance(self.custom_tolerance.text())
        except ValueError:
            return None

    def _check(self) -> None:
        """OK only with a source and a tolerance that reads; a file may be played in real time."""
        custom = self.tolerance.currentData() == CUSTOM
        self.custom_tolerance.setVisible(custom)
        message = ""
        if custom and self.custom_tolerance.text().strip():
            try:
                parse_tolerance(self.custom_tolerance.text())
            except ValueError as exc:
                message = str(exc)
        self.tolerance_error.setText(message)
        self.tolerance_error.setVisible(bool(message))
        self.realtime.setEnabled(looks_like_file(self.source.text()))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.source.text().strip()) and self.chosen_tolerance() is not None)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Watch a file", str(self.start_folder), VIDEO_FILTER)
        if name:
            self.source.setText(name)

    def request(self) -> StreamRequest:
        tolerance = self.chosen_tolerance()
        assert tolerance is not None, "OK is disabled until the tolerance reads"
        spec = self.source.text().strip()
        return StreamRequest(source=spec, tolerance=tolerance, window_s=self.window_s.value(),
                             every_s=min(self.every_s.value(), self.window_s.value()),
                             alarm_after_s=self.alarm_after.value(),
                             realtime=self.realtime.isChecked() and looks_like_file(spec))
