"""The offset panel: what was detected, how sure, per-track results, the offset over time (the
model in words and its segments) and the audio shift to apply.

The traffic light follows the preset, or the broadcast tolerance chosen beside it (core's
``judge_tolerance``: within is good, outside poor, unknown (no confident measurement) none); the
choice goes into the Session, and the panel shows whatever the Session holds.

The shift is in milliseconds, positive = delay the audio (contract.md: a positive offset means the
audio leads, and fixing it delays the audio by ``offset_ms``), so it starts at the detected offset.
With a drift or steps model the nudges move the selected segment (or, none selected, all of them)
in the Session's edited copy, and "Apply" writes that correction. Every nudge is an undoable command
on :attr:`OffsetPanel.undo_stack`.
"""

from __future__ import annotations

import copy
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
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import (
    ANALYSIS_FPS, DEFAULT_PRESET, PRESETS, TOLERANCES, Analysis, SyncOverTime, SyncSegment, Tolerance, Track,
    describe_tolerance, direction, judge_tolerance, parse_tolerance, timecode, track_colour, verdict,
)
from .session import Session, segment_shift

FRAME_MS = 40.0  # one analysis frame (25 fps)
MAX_SHIFT_MS = 10_000.0


def traffic_light(offset_frames: int, confidence: float, preset: str) -> str:
    """``good`` (passes the preset), ``fair`` (passes only the relaxed one) or ``poor``."""
    if PRESETS[preset].accepts(offset_frames, confidence):
        return "good"
    return "fair" if PRESETS["relaxed"].accepts(offset_frames, confidence) else "poor"


#: the traffic light for a tolerance verdict; unknown (nothing confident to judge) is grey, not a grade
TOLERANCE_LIGHTS = {"within": "good", "outside": "poor", "unknown": "none"}
NO_TOLERANCE, CUSTOM = "", "custom"  # the tolerance chooser's data besides the standards' names


def hms(seconds: float) -> str:
    """``HH:MM:SS``, as the command line writes a model's times."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _ms(value: Optional[float]) -> str:
    return "no evidence" if value is None else f"{value:+.0f} ms"


def describe_over_time(over_time: SyncOverTime) -> str:
    """The model in words: ``constant +80 ms``, ``drifting +120 ms/min (from ... to ...)``, ``3 segments: ...``."""
    segments = over_time.segments
    if over_time.model == "constant":
        known = [point.offset_ms for point in over_time.points if point.offset_ms is not None]
        value = segments[0].offset_ms if segments else (sorted(known)[len(known) // 2] if known else None)
        return f"constant {_ms(value)}"
    if over_time.model == "drift" and segments:
        first, last = segments[0], segments[-1]
        end = last.end_offset_ms if last.end_offset_ms is not None else last.offset_ms
        return (f"drifting {over_time.drift_ms_per_min or 0.0:+.0f} ms/min (from {_ms(first.offset_ms)} at "
                f"{hms(first.start_s)} to {_ms(end)} at {hms(last.end_s)})")
    if over_time.model == "steps" and segments:
        pieces = ", ".join(f"{hms(s.start_s)}-{hms(s.end_s)} {_ms(s.offset_ms)}" for s in segments)
        return f"{len(segments)} segments: {pieces}"
    return "unknown: too little evidence to say how the offset changes"


class _Nudge(QUndoCommand):
    def __init__(self, panel: OffsetPanel, before: float, after: float) -> None:
        super().__init__(f"shift {after:+.0f} ms")
        self.panel, self.before, self.after = panel, before, after

    def redo(self) -> None:
        self.panel._set_shift(self.after)

    def undo(self) -> None:
        self.panel._set_shift(self.before)


class _SegmentsNudge(QUndoCommand):
    """An edit of the over-time segments and the shift heard with it, undone as one."""

    def __init__(self, panel: OffsetPanel, before: tuple[list[SyncSegment], float],
                 after: tuple[list[SyncSegment], float], text: str) -> None:
        super().__init__(text)
        self.panel, self.before, self.after = panel, before, after

    def redo(self) -> None:
        self.panel._set_segments(*self.after)

    def undo(self) -> None:
        self.panel._set_segments(*self.before)


def _row_table(name: str, columns: list[str]) -> QTableWidget:
    """A read-only table whose rows are picked whole; the second column takes the spare width."""
    table = QTableWidget(0, len(columns), objectName=name)
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    return table


class OffsetPanel(QWidget):
    shift_changed = Signal(float)  # ms, positive = delay the audio
    apply_requested = Signal()
    track_activated = Signal(int)  # a track id: select it and jump to its start
    tolerance_chosen = Signal(object)  # Tolerance or None, chosen by the user (to be remembered)

    def __init__(self, parent: Optional[QWidget] = None, session: Optional[Session] = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.session = session if session is not None else Session()
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
        self._build_tolerance_chooser()

        result = QGroupBox("Detected")
        form = QFormLayout()
        form.addRow("Offset:", self.detected)
        form.addRow("", self.detected_words)
        form.addRow("Confidence:", self.confidence)
        form.addRow("Preset:", self.preset)
        tolerance_row = QHBoxLayout()
        tolerance_row.addWidget(self.tolerance, 1)
        tolerance_row.addWidget(self.custom_tolerance)
        form.addRow("Tolerance:", tolerance_row)
        result_layout = QVBoxLayout(result)
        result_layout.addLayout(form)
        result_layout.addWidget(self.tolerance_error)  # full width, and no room taken while hidden
        result_layout.addWidget(self.verdict)  # full width: a wrapped line in a form row gets clipped

        self.tracks = _row_table("tracks", ["Track", "Time", "Offset", "Conf.", "Speaking"])
        self.tracks.cellClicked.connect(self._row_clicked)

        self.model_words = QLabel(objectName="model_words")
        self.model_words.setWordWrap(True)
        self.segments = _row_table("segments", ["#", "From – to", "Offset", "Conf."])
        self.segments.cellClicked.connect(lambda row, _column: self.session.select_segment(row))
        for table in (self.tracks, self.segments):  # a few rows, then they scroll: the shift stays in view
            table.setMaximumHeight(table.horizontalHeader().sizeHint().height()
                                   + 4 * table.verticalHeader().defaultSectionSize() + 4)
        self.over_time_box = QGroupBox("Sync over time", objectName="over_time_box")
        over_time_layout = QVBoxLayout(self.over_time_box)
        over_time_layout.addWidget(self.model_words)
        over_time_layout.addWidget(self.segments)

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
        layout.addWidget(self.tracks)
        layout.addWidget(self.over_time_box)
        layout.addWidget(fix)
        layout.addStretch(1)
        self.setMinimumWidth(440)
        self.session.events.over_time.connect(self._show_over_time)
        self.session.events.segment.connect(self._show_segment)
        self.session.events.tolerance.connect(self._show_tolerance)
        self.set_analysis(None)
        self._show_over_time(self.session.over_time)
        self._show_tolerance(self.session.tolerance)

    def _build_tolerance_chooser(self) -> None:
        self.tolerance = QComboBox(objectName="tolerance")
        self.tolerance.setToolTip("Judge the verdict against a broadcast tolerance for the audio's lead/lag "
                                  "(also the batch queue's, the QC report's and the markers')")
        self.tolerance.addItem("none (preset only)", NO_TOLERANCE)
        for name, tolerance in TOLERANCES.items():
            self.tolerance.addItem(tolerance.label(), name)
        self.tolerance.addItem("custom LEAD/LAG…", CUSTOM)
        self.tolerance.currentIndexChanged.connect(self._tolerance_picked)
        self.custom_tolerance = QLineEdit(objectName="custom_tolerance")
        self.custom_tolerance.setPlaceholderText("40/60")
        self.custom_tolerance.setToolTip("LEAD/LAG in ms: how far the audio may lead, then lag (Enter to use it)")
        self.custom_tolerance.setMaximumWidth(self.custom_tolerance.fontMetrics().horizontalAdvance("00000/00000") + 16)
        self.custom_tolerance.editingFinished.connect(self._custom_entered)
        self.custom_tolerance.textEdited.connect(lambda _text: self._set_tolerance_error(""))
        self.tolerance_error = QLabel(objectName="tolerance_error")
        self.tolerance_error.setWordWrap(True)
        self.tolerance_error.setStyleSheet("color: #D55E00;")  # the style sheet's "poor" vermilion
        self._set_tolerance_error("")

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
        fps = self.analysis.source.fps if self.analysis else ANALYSIS_FPS
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
        tolerance = self.session.tolerance
        if tolerance is not None:
            judged = judge_tolerance(analysis, tolerance)
            self._set_verdict(f"● {describe_tolerance(judged)}", TOLERANCE_LIGHTS[judged.result])
            return
        if analysis.verdict_source == "no-confident-speaker":
            self._set_verdict("No confident speaker: no offset can be given", "none")
            return
        light = traffic_light(analysis.offset_frames, analysis.confidence, self.preset.currentData())
        words = verdict(analysis.offset_frames, analysis.offset_ms, analysis.confidence, analysis.tier_cap)
        self._set_verdict(f"● {words}", light)

    def _set_verdict(self, text: str, state: str) -> None:
        self.verdict.setText(text)
        self.verdict.setProperty("verdict", state)
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)

    # --------------------------------------------------------------- tolerance
    def _tolerance_picked(self) -> None:
        """A choice in the list: a standard (or none) is used at once; custom waits for its text."""
        name = self.tolerance.currentData()
        self.custom_tolerance.setVisible(name == CUSTOM)
        self._set_tolerance_error("")
        if name == CUSTOM:
            self.custom_tolerance.setFocus()
            if self.custom_tolerance.text().strip():
                self._custom_entered()
            return
        self._choose(TOLERANCES[name] if name else None)

    def _custom_entered(self) -> None:
        """Use the custom ``LEAD/LAG`` if core can read it; else say why and keep the tolerance in use."""
        if self.tolerance.currentData() != CUSTOM:
            return
        try:
            chosen = parse_tolerance(self.custom_tolerance.text())
        except ValueError as exc:
            self._set_tolerance_error(str(exc))
            return
        self._choose(chosen)

    def _choose(self, tolerance: Optional[Tolerance]) -> None:
        self.session.set_tolerance(tolerance)
        self.tolerance_chosen.emit(tolerance)

    def _set_tolerance_error(self, message: str) -> None:
        self.tolerance_error.setText(message)
        self.tolerance_error.setVisible(bool(message))
        self.custom_tolerance.setStyleSheet("border: 1px solid #D55E00;" if message else "")

    def _show_tolerance(self, tolerance: Optional[Tolerance]) -> None:
        """The Session's tolerance in the chooser, and the verdict judged against it."""
        name = NO_TOLERANCE if tolerance is None else tolerance.name
        self.tolerance.blockSignals(True)
        self.tolerance.setCurrentIndex(self.tolerance.findData(name))
        self.tolerance.blockSignals(False)
        self.custom_tolerance.setVisible(name == CUSTOM)
        if tolerance is not None and name == CUSTOM:
            self.custom_tolerance.setText(f"{tolerance.lead_ms:g}/{tolerance.lag_ms:g}")
            self._set_tolerance_error("")
        self._show_verdict()

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
        """Set the shift heard; with a drift or steps model, move the selected segment (or all) with it."""
        value_ms = max(-MAX_SHIFT_MS, min(MAX_SHIFT_MS, round(value_ms, 3)))
        if self.analysis is None or value_ms == self._shift:
            return
        session = self.session
        if not session.varying:
            self.undo_stack.push(_Nudge(self, self._shift, value_ms))
            return
        assert session.over_time is not None
        delta = round(value_ms - self._shift, 3)
        which = "every segment" if session.segment is None else f"segment {session.segment + 1}"
        self.undo_stack.push(_SegmentsNudge(self, (list(session.over_time.segments), self._shift),
                                            (session.nudged_segments(session.segment, delta), value_ms),
                                            f"{which} {delta:+g} ms"))

    def reset(self) -> None:
        if self.analysis is None:
            return
        session = self.session
        detected = self.analysis.sync_over_time
        if not session.varying or detected is None:
            self.nudge_to(round(self.analysis.offset_ms))
            return
        assert session.over_time is not None
        segments = copy.deepcopy(detected.segments)
        index = session.segment
        shift = round(segment_shift(segments[index])) if index is not None else round(self.analysis.offset_ms)
        if (segments, shift) != (session.over_time.segments, self._shift):
            self.undo_stack.push(_SegmentsNudge(self, (list(session.over_time.segments), self._shift),
                                                (segments, shift), "reset the segments"))

    def _set_segments(self, segments: list[SyncSegment], shift_ms: float) -> None:
        self.session.set_segments(segments)
        self._set_shift(shift_ms)

    # --------------------------------------------------------------- over time
    def _show_over_time(self, over_time: Optional[SyncOverTime]) -> None:
        """The model in words and its segments as the Session has them now (edits included)."""
        self.over_time_box.setVisible(over_time is not None)
        if over_time is None:
            self.segments.setRowCount(0)
            return
        self.model_words.setText(describe_over_time(over_time))
        varying = self.session.varying
        self.segments.setRowCount(len(over_time.segments) if varying else 0)
        self.segments.setVisible(varying)
        for row, segment in enumerate(over_time.segments if varying else []):
            offset = _ms(segment.offset_ms)
            if segment.end_offset_ms is not None:
                offset = f"{offset} → {_ms(segment.end_offset_ms)}"
            cells = [f"{row + 1}", f"{hms(segment.start_s)} – {hms(segment.end_s)}", offset,
                     f"{segment.confidence:.2f}"]
            for column, text in enumerate(cells):
                self.segments.setItem(row, column, QTableWidgetItem(text))
        self._show_segment(self.session.segment)
        self._set_shift(self._shift)  # the words say what Apply writes

    def _show_segment(self, index: Optional[int]) -> None:
        """A segment picked here or on the lane: its row selected, its shift heard and seen."""
        if index is None or index >= self.segments.rowCount():
            self.segments.clearSelection()
            return
        self.segments.selectRow(index)
        assert self.session.over_time is not None
        shift = round(segment_shift(self.session.over_time.segments[index]), 3)
        if shift != self._shift:
            self._set_shift(shift)

    def _set_shift(self, value_ms: float) -> None:
        self._shift = value_ms
        self.shift.blockSignals(True)
        self.shift.setValue(value_ms)
        self.shift.blockSignals(False)
        if self.session.varying:
            self.shift_words.setText(self._varying_words(value_ms))
            self.shift_changed.emit(value_ms)
            return
        if value_ms == 0:
            words = "No shift: the file would be written unchanged."
        else:
            action = "Delay" if value_ms > 0 else "Advance"
            words = f"{action} the audio by {abs(value_ms):g} ms ({value_ms / FRAME_MS:+.2f} frames)."
        if self.analysis is not None and round(self.analysis.offset_ms) != value_ms:
            words += f" Detected: {self.analysis.offset_ms:+.0f} ms."
        self.shift_words.setText(words)
        self.shift_changed.emit(value_ms)

    def _varying_words(self, value_ms: float) -> str:
        over_time = self.session.over_time
        assert over_time is not None
        what = "the drift correction" if over_time.model == "drift" else "one shift per segment"
        if self.session.segment is None:
            return (f"Apply writes {what}, as listed above. Nudges move every segment; select one "
                    f"(here or on the offset lane) to nudge it alone. Heard now: {value_ms:+g} ms.")
        return (f"Segment {self.session.segment + 1}: {value_ms:+g} ms ({value_ms / FRAME_MS:+.2f} frames) "
                f"heard now. Apply writes {what}, as listed above.")
