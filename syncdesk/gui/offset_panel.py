"""The offset panel: what was detected, how sure, per-track results, and the audio shift to apply.

The shift is in milliseconds, positive = delay the audio (contract.md: a positive offset means the
audio leads, and fixing it delays the audio by ``offset_ms``), so it starts at the detected offset.
Every nudge is an undoable command on :attr:`OffsetPanel.undo_stack`.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import DEFAULT_PRESET, PRESETS, Analysis, Track, direction, timecode, track_colour, verdict

FRAME_MS = 40.0  # one analysis frame (25 fps)
MAX_SHIFT_MS = 10_000.0


def traffic_light(offset_frames: int, confidence: float, preset: str) -> str:
    """``good`` (passes the preset), ``fair`` (passes only the relaxed one) or ``poor``."""
    if PRESETS[preset].accepts(offset_frames, confidence):
        return "good"
    return "fair" if PRESETS["relaxed"].accepts(offset_frames, confidence) else "poor"


class _Nudge(QUndoCommand):
    def __init__(self, panel: OffsetPanel, before: float, after: float) -> None:
        super().__init__(f"shift {after:+.0f} ms")
        self.panel, self.before, self.after = panel, before, after

    def redo(self) -> None:
        self.panel._set_shift(self.after)

    def undo(self) -> None:
        self.panel._set_shift(self.before)


class OffsetPanel(QWidget):
    shift_changed = Signal(float)  # ms, positive = delay the audio
    apply_requested = Signal()
    track_activated = Signal(int)  # a track id: select it and jump to its start

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.analysis: Optional[Analysis] = None
        self._shift = 0.0

        self.detected = QLabel("—", objectName="detected")
        self.detected.setProperty("role", "readout")
        self.detected_words = QLabel("Open a video to analyse it.", objectName="detected_words")
        self.detected_words.setWordWrap(True)
        self.confidence = QLabel("—", objectName="confidence")
        self.confidence.setProperty("role", "readout")
        self.verdict = QLabel("", objectName="verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setMinimumHeight(2 * self.verdict.fontMetrics().lineSpacing() + 4)  # room for two lines
        self.preset = QComboBox(objectName="preset")
        for name, preset in PRESETS.items():
            self.preset.addItem(f"{name} (≥ {preset.min_confidence:g}, ≤ {preset.max_offset_frames} frames)", name)
        self.preset.setCurrentIndex(list(PRESETS).index(DEFAULT_PRESET))
        self.preset.currentIndexChanged.connect(self._show_verdict)

        result = QGroupBox("Detected")
        form = QFormLayout()
        form.addRow("Offset:", self.detected)
        form.addRow("", self.detected_words)
        form.addRow("Confidence:", self.confidence)
        form.addRow("Preset:", self.preset)
        result_layout = QVBoxLayout(result)
        result_layout.addLayout(form)
        result_layout.addWidget(self.verdict)  # full width: a wrapped line in a form row gets clipped

        self.tracks = QTableWidget(0, 5, objectName="tracks")
        self.tracks.setHorizontalHeaderLabels(["Track", "Time", "Offset", "Conf.", "Speaking"])
        self.tracks.verticalHeader().hide()
        self.tracks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tracks.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tracks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.tracks.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.tracks.cellClicked.connect(self._row_clicked)

        self.shift = QDoubleSpinBox(objectName="shift")
        self.shift.setRange(-MAX_SHIFT_MS, MAX_SHIFT_MS)
        self.shift.setDecimals(0)
        self.shift.setSuffix(" ms")
        self.shift.setKeyboardTracking(False)
        self.shift.setToolTip("Positive: the audio is delayed (it led the picture). Negative: it is advanced.")
        self.shift.valueChanged.connect(lambda value: self.nudge_to(float(value)))
        self.shift_words = QLabel(objectName="shift_words")
        self.shift_words.setWordWrap(True)
        buttons = {}
        grid = QGridLayout()
        for column, (label, delta) in enumerate([("−1 frame", -FRAME_MS), ("−1 ms", -1.0), ("+1 ms", 1.0),
                                                 ("+1 frame", FRAME_MS)]):
            button = QPushButton(label, objectName=f"nudge{delta:+.0f}")
            button.setToolTip(f"{'Advance' if delta < 0 else 'Delay'} the audio by {abs(delta):g} ms")
            button.clicked.connect(lambda _=False, d=delta: self.nudge_by(d))
            grid.addWidget(button, 0, column)
            buttons[delta] = button
        self.nudge_buttons = buttons
        self.reset_button = QPushButton("Reset to detected", objectName="reset")
        self.reset_button.clicked.connect(self.reset)
        self.apply_button = QPushButton("Apply offset…", objectName="apply")
        self.apply_button.setToolTip("Write a new file with the audio shifted (Ctrl+E); the original is not touched")
        self.apply_button.clicked.connect(self.apply_requested)
        fix = QGroupBox("Audio shift")
        fix_layout = QVBoxLayout(fix)
        row = QHBoxLayout()
        row.addWidget(self.shift, 1)
        row.addWidget(self.reset_button)
        fix_layout.addLayout(row)
        fix_layout.addLayout(grid)
        fix_layout.addWidget(self.shift_words)
        fix_layout.addWidget(self.apply_button)

        layout = QVBoxLayout(self)
        layout.addWidget(result)
        layout.addWidget(QLabel("Face tracks (click to select):"))
        layout.addWidget(self.tracks, 1)
        layout.addWidget(fix)
        self.setMinimumWidth(440)
        self.set_analysis(None)

    # ------------------------------------------------------------------ results
    def set_analysis(self, analysis: Optional[Analysis]) -> None:
        self.analysis = analysis
        self.undo_stack.clear()
        self.tracks.setRowCount(0)
        enabled = analysis is not None
        for widget in (self.shift, self.reset_button, self.apply_button, *self.nudge_buttons.values()):
            widget.setEnabled(enabled)
        if analysis is None:
            self.detected.setText("—")
            self.confidence.setText("—")
            self._set_verdict("", "none")
            self._set_shift(0.0)
            return
        frames = "frame" if abs(analysis.offset_frames) == 1 else "frames"
        self.detected.setText(f"{analysis.offset_frames:+d} {frames}  ({analysis.offset_ms:+.0f} ms)")
        self.detected_words.setText(direction(analysis.offset_ms))
        self.confidence.setText(f"{analysis.confidence:.2f}")
        for track in analysis.tracks:
            self.add_track(track)
        self._show_verdict()
        self._set_shift(round(analysis.offset_ms))

    def set_status(self, text: str) -> None:
        """What the panel says while it has no result (analysing, failed, cancelled)."""
        if self.analysis is None:
            self.detected_words.setText(text)

    def add_track(self, track: Track) -> None:
        row = self.tracks.rowCount()
        self.tracks.insertRow(row)
        fps = self.analysis.source.fps if self.analysis else 25.0
        length = track.end_frame - track.start_frame + 1
        cells = [
            f"#{track.id}",
            f"{timecode(track.start_frame / 25, fps)} – {timecode((track.end_frame + 1) / 25, fps)}",
            f"{track.offset_frames:+d} ({track.offset_ms:+.0f} ms)",
            f"{track.confidence:.2f}",
            f"{100 * track.speaking_frames / length:.0f}%",
        ]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, track.id)
            if column == 0:
                item.setForeground(Qt.GlobalColor.black)
                item.setBackground(QColor(track_colour(track.id)))
            self.tracks.setItem(row, column, item)

    def _show_verdict(self) -> None:
        analysis = self.analysis
        if analysis is None:
            return
        if analysis.verdict_source == "no-confident-speaker":
            self._set_verdict("No confident speaker: no offset can be given", "none")
            return
        light = traffic_light(analysis.offset_frames, analysis.confidence, self.preset.currentData())
        self._set_verdict(f"● {verdict(analysis.offset_frames, analysis.offset_ms, analysis.confidence)}", light)

    def _set_verdict(self, text: str, state: str) -> None:
        self.verdict.setText(text)
        self.verdict.setProperty("verdict", state)
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)

    def _row_clicked(self, row: int, _column: int) -> None:
        item = self.tracks.item(row, 0)
        if item is not None:
            self.track_activated.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def select_track(self, track_id: Optional[int]) -> None:
        for row in range(self.tracks.rowCount()):
            if self.tracks.item(row, 0).data(Qt.ItemDataRole.UserRole) == track_id:
                self.tracks.selectRow(row)
                return
        self.tracks.clearSelection()

    # -------------------------------------------------------------------- shift
    @property
    def shift_ms(self) -> float:
        return self._shift

    def nudge_by(self, delta_ms: float) -> None:
        self.nudge_to(self._shift + delta_ms)

    def nudge_to(self, value_ms: float) -> None:
        value_ms = max(-MAX_SHIFT_MS, min(MAX_SHIFT_MS, round(value_ms, 3)))
        if self.analysis is None or value_ms == self._shift:
            return
        self.undo_stack.push(_Nudge(self, self._shift, value_ms))

    def reset(self) -> None:
        if self.analysis is not None:
            self.nudge_to(round(self.analysis.offset_ms))

    def _set_shift(self, value_ms: float) -> None:
        self._shift = value_ms
        self.shift.blockSignals(True)
        self.shift.setValue(value_ms)
        self.shift.blockSignals(False)
        if value_ms == 0:
            words = "No shift: the file would be written unchanged."
        else:
            action = "Delay" if value_ms > 0 else "Advance"
            words = f"{action} the audio by {abs(value_ms):g} ms ({value_ms / FRAME_MS:+.2f} frames)."
        if self.analysis is not None and round(self.analysis.offset_ms) != value_ms:
            words += f" Detected: {self.analysis.offset_ms:+.0f} ms."
        self.shift_words.setText(words)
        self.shift_changed.emit(value_ms)
