"""The live view: one monitored stream in a window of its own (File ▸ Open stream…).

The latest picture with the face boxes (the speaker's drawn thick), a traffic light with the
reading in words, the offset's history scrolling over the tolerance's band, and the alarm log,
newest first, which can be saved as CSV. Several can be open at once, one per stream, each on a
screen of its own if wanted.

Pause freezes the picture and the history so that they can be looked at (the plot can then be
panned and zoomed); monitoring goes on, and the traffic light, the reading and the alarm log keep
updating, because a paused display must never hide an alarm. Resume catches the plot up. Stop
ends the monitor; the history and the log stay to be read and saved. Closing the window stops
the monitor and waits for its thread.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QThreadPool, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import AnalysisOptions, track_colour
from .live_controller import CANCELLED, DURATION, ENDED, FAILED, STOP_WAIT_MS, LiveController, LiveFrame, StreamRequest
from .live_history import (
    GREEN, GREY, LOST_ALARM, RED, WAITING, YELLOW, AlarmRow, LiveState, LiveUpdate, stream_clock, time_of_day,
    write_csv,
)
from .live_plot import DEFAULT_SPAN_S, SPANS_S, HistoryPlot
from .session import FaceBox
from .viewer import FrameView
from .workers import Worker, WorkerPool

#: the light's colour and word per state (Okabe-Ito, as the app's verdicts)
LIGHTS = {WAITING: ("#5B6168", "WAITING"), GREEN: ("#009E73", "OK"), YELLOW: ("#F0E442", "CHECK"),
          RED: ("#D55E00", "ALARM"), GREY: ("#8A8F96", "LOST")}
STOPPED_COLOUR = "#5B6168"
ALARM_COLUMNS = ("Time", "Stream", "Alarm", "Offset", "Lasted", "Tolerance")
LIGHT_PX = 44


def _span_name(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds < 3600 else f"{seconds / 3600:g} h"


def _offset_text(offset_ms: Optional[float], offset_frames: Optional[float]) -> str:
    if offset_ms is None:
        return "—"
    frames = f"  ({offset_frames:+.1f} fr)" if offset_frames is not None else ""
    return f"{offset_ms:+.0f} ms{frames}"


class LiveWindow(QWidget):
    light_changed = Signal(str)  # a state of live_history (WAITING ... GREY), or "stopped"
    stopped = Signal(str)  # why the monitor stopped (live_controller's ENDED ... FAILED)
    csv_saved = Signal(object)  # the Path written
    closed = Signal()

    def __init__(self, request: StreamRequest, options: AnalysisOptions, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("live_window")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # the main window drops its reference
        self.request = request
        self.options = options
        self.saves = WorkerPool(QThreadPool(self), self)  # the log's writer: closing waits for it alone
        self.label = request.source
        self.state = LiveState(request.alarm_after_s)
        self.controller = LiveController(self)
        self.paused = False
        self.why_stopped: Optional[str] = None
        self.error_box: Optional[QMessageBox] = None
        self._frame: Optional[LiveFrame] = None
        self._shown_row: Optional[AlarmRow] = None
        self._saving: Optional[Worker] = None
        self.setWindowTitle(f"{request.source} — live — syncdesk")
        self._build()
        self.controller.source_named.connect(self._source_named)
        self.controller.update.connect(self.add_update)
        self.controller.picture.connect(self.show_picture)
        self.controller.failed.connect(lambda message: self.show_error("Cannot monitor the stream", message))
        self.controller.stopped.connect(self._stopped)
        self.resize(1280, 760)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.viewer = FrameView()
        self.viewer.clear(f"Connecting to {self.request.source}…")
        self.paused_banner = QLabel("Display paused: monitoring and alarms go on", objectName="live_paused")
        self.paused_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.paused_banner.setStyleSheet("background: #F0E442; color: black; padding: 3px; font-weight: 600;")
        self.paused_banner.hide()
        self.picture_info = QLabel("", objectName="live_picture_info")
        self.plot = HistoryPlot()
        self.plot.set_tolerance(self.request.tolerance)
        self.span = QComboBox(objectName="live_span")
        for seconds in SPANS_S:
            self.span.addItem(f"last {_span_name(seconds)}", seconds)
        self.span.setCurrentIndex(SPANS_S.index(DEFAULT_SPAN_S))
        self.span.currentIndexChanged.connect(lambda _index: self.plot.set_span(float(self.span.currentData())))
        self.span.setToolTip("How much of the history the plot shows (the last hour is kept)")

        picture = QWidget()
        column = QVBoxLayout(picture)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.paused_banner)
        column.addWidget(self.viewer, 1)
        column.addWidget(self.picture_info)
        history = QWidget()
        history_layout = QVBoxLayout(history)
        history_layout.setContentsMargins(0, 0, 0, 0)
        span_row = QHBoxLayout()
        span_row.addWidget(QLabel("Offset over time (the band: the tolerance)"), 1)
        span_row.addWidget(self.span)
        history_layout.addLayout(span_row)
        history_layout.addWidget(self.plot, 1)
        left = QSplitter(Qt.Orientation.Vertical, objectName="live_left")
        left.addWidget(picture)
        left.addWidget(history)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setSizes([430, 280])
        left.setCollapsible(1, False)
        history.setMinimumHeight(180)

        splitter = QSplitter(Qt.Orientation.Horizontal, objectName="live_splitter")
        splitter.addWidget(left)
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([770, 510])
        self.status = QLabel(self._settings_words(), objectName="live_status")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        QShortcut(QKeySequence("Space"), self, self.toggle_pause)

    def _build_side(self) -> QWidget:
        self.light = QLabel(objectName="live_light")
        self.light.setFixedSize(LIGHT_PX, LIGHT_PX)
        self.light_word = QLabel(objectName="live_light_word")
        font = QFont(self.light_word.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.light_word.setFont(font)
        self.words = QLabel("Loading the model and opening the source…", objectName="live_words")
        self.words.setWordWrap(True)
        self.words.setMinimumHeight(2 * self.words.fontMetrics().lineSpacing() + 4)
        light_row = QHBoxLayout()
        light_row.addWidget(self.light)
        light_row.addWidget(self.light_word, 1)

        self.offset = QLabel("—", objectName="live_offset")
        self.offset.setProperty("role", "readout")
        self.confidence = QLabel("—", objectName="live_confidence")
        self.speaker = QLabel("—", objectName="live_speaker")
        self.clock = QLabel("—", objectName="live_clock")
        self.latency = QLabel("—", objectName="live_latency")
        form = QFormLayout()
        form.addRow("Offset:", self.offset)
        form.addRow("Confidence:", self.confidence)
        form.addRow("Faces:", self.speaker)
        form.addRow("Stream time:", self.clock)
        form.addRow("Latency:", self.latency)
        reading = QGroupBox("Now", objectName="live_now")
        reading_layout = QVBoxLayout(reading)
        reading_layout.addLayout(light_row)
        reading_layout.addWidget(self.words)
        reading_layout.addLayout(form)

        self.pause_button = QPushButton("Pause display", objectName="live_pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the picture and the plot to look at them (Space); monitoring, the "
                                     "light and the alarm log go on")
        self.pause_button.toggled.connect(self.set_paused)
        self.stop_button = QPushButton("Stop monitoring", objectName="live_stop")
        self.stop_button.setToolTip("End the monitor; the history and the log stay to be read and saved")
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)

        self.alarm_table = QTableWidget(0, len(ALARM_COLUMNS), objectName="live_alarms")
        self.alarm_table.setHorizontalHeaderLabels(ALARM_COLUMNS)
        self.alarm_table.verticalHeader().hide()
        self.alarm_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.alarm_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.alarm_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.save_button = QPushButton("Save CSV…", objectName="live_save_csv")
        self.save_button.setToolTip("Save the alarm log as CSV (time of day, stream time, offset, how long, tolerance)")
        self.save_button.clicked.connect(self.save_csv)
        self.save_button.setEnabled(False)
        log = QGroupBox("Alarm log (newest first)", objectName="live_log")
        log_layout = QVBoxLayout(log)
        log_layout.addWidget(self.alarm_table, 1)
        log_layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)

        side = QWidget()
        side.setMinimumWidth(460)
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(reading)
        column.addLayout(buttons)
        column.addWidget(log, 1)
        self._show_light(WAITING)
        return side

    def _settings_words(self) -> str:
        r = self.request
        how = " in real time" if r.realtime else ""
        return (f"Monitoring {self.label}{how}: {r.window_s:g} s window, an update every {r.every_s:g} s, judged "
                f"against {r.tolerance.label()}, alarm after {r.alarm_after_s:g} s outside.")

    # ------------------------------------------------------------ the monitor
    def start(self) -> None:
        self.controller.start(self.request, self.options)

    def stop(self) -> None:
        if self.controller.running:
            self.stop_button.setEnabled(False)
            self.words.setText("Stopping…")
            self.controller.stop()

    def _source_named(self, label: str) -> None:
        self.label = label
        self.setWindowTitle(f"{label} — live — syncdesk")
        self.status.setText(self._settings_words())

    def add_update(self, live: LiveUpdate) -> None:
        """One update from the monitor: the light, the reading, the log always; the plot unless paused."""
        changed = self.state.add(live)
        update = live.update
        self._show_light(self.state.light)
        self.words.setText(live.words)
        if update.status != "lost":
            self.offset.setText(_offset_text(update.offset_ms, update.offset_frames))
            self.confidence.setText(f"{update.confidence:.2f}" if update.offset_ms is not None else "—")
            faces = f"{update.faces} face{'' if update.faces == 1 else 's'}"
            self.speaker.setText(f"#{update.speaker} speaking, {faces}" if update.speaker is not None else faces)
            self.clock.setText(f"{stream_clock(update.t_s)} (window {update.window_s:g} s)")
            self.latency.setText(f"{update.latency_s:.1f} s" if update.latency_s is not None else "—")
            if self._frame is not None and not self.paused:
                self.viewer.set_boxes(self._boxes(self._frame))
        if changed is not None:
            self._show_alarm(changed)
        if not self.paused:
            self.plot.set_points(self.state.points)

    def show_picture(self, frame: LiveFrame) -> None:
        if self.paused:
            return
        self._frame = frame
        self.viewer.show_frame(frame.image, self._boxes(frame))
        height, width = frame.image.shape[:2]
        self.picture_info.setText(f"{stream_clock(frame.t_s)}   picture shown at {width}x{height}"
                                  + (f" (1:{1 / frame.scale:.1f})" if frame.scale < 1 else ""))

    def frame_shown(self) -> bool:
        return self._frame is not None

    def _boxes(self, frame: LiveFrame) -> list[FaceBox]:
        latest = self.state.latest
        speaker = latest.update.speaker if latest is not None and latest.update.status != "lost" else None
        return [FaceBox(track, box, track_colour(track), speaking=track == speaker)
                for track, box in sorted(frame.boxes.items())]

    def _stopped(self, why: str) -> None:
        self.why_stopped = why
        self.state.end()
        if self._shown_row is not None:
            self._show_alarm(self._shown_row)
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        if self.paused:
            self.pause_button.setChecked(False)
        words = {ENDED: "The source ended: monitoring stopped.", DURATION: "Monitoring stopped (duration reached).",
                 CANCELLED: "Monitoring stopped.", FAILED: "Monitoring stopped: the source could not be monitored."}
        self.words.setText(words.get(why, "Monitoring stopped."))
        self.status.setText(f"Stopped. {self._settings_words()}")
        self.light.setStyleSheet(self._light_style(STOPPED_COLOUR))
        self.light_word.setText("STOPPED")
        self.light.setProperty("light", "stopped")
        self.light_changed.emit("stopped")
        if why == FAILED and self._frame is None:
            self.viewer.clear(f"Cannot open {self.label}")
        self.stopped.emit(why)

    # ---------------------------------------------------------------- the view
    @staticmethod
    def _light_style(colour: str) -> str:
        return f"background: {colour}; border-radius: {LIGHT_PX // 2}px; border: 2px solid #2A2E33;"

    def _show_light(self, state: str) -> None:
        if self.light.property("light") == state:
            return
        colour, word = LIGHTS[state]
        self.light.setStyleSheet(self._light_style(colour))
        self.light.setProperty("light", state)
        self.light.setToolTip(word.lower())
        self.light_word.setText(word)
        self.light_changed.emit(state)

    @property
    def light_state(self) -> str:
        return str(self.light.property("light"))

    def _show_alarm(self, row: AlarmRow) -> None:
        """Row 0 is the newest alarm: a new one is inserted there, the one going on is updated there."""
        table = self.alarm_table
        if row is not self._shown_row:
            if self._shown_row is not None:  # the one before may have ended with this update
                self._fill_alarm(0, self._shown_row)
            table.insertRow(0)
            self._shown_row = row
            while table.rowCount() > len(self.state.alarms):
                table.removeRow(table.rowCount() - 1)
        self._fill_alarm(0, row)
        self.save_button.setEnabled(self._saving is None)

    def _fill_alarm(self, index: int, row: AlarmRow) -> None:
        lost = row.kind == LOST_ALARM
        what = f"lost ({row.reason})" if lost and row.reason else ("lost" if lost else "outside")
        lasted = f"{row.lasted_s:.0f} s" + (" (going on)" if row.open else "")
        offset = "—" if row.offset_ms is None else f"{row.offset_ms:+.0f} ms"
        cells = (time_of_day(row.wall)[11:19], stream_clock(row.t_s), what, offset, lasted,
                 self.request.tolerance.title if row.tolerance else "")
        colour = QColor("#8A8F96" if lost else "#D55E00")
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            tips = {0: time_of_day(row.wall), 3: _offset_text(row.offset_ms, row.offset_frames), 5: row.tolerance}
            item.setToolTip(tips.get(column, text))
            if column == 2:
                item.setForeground(colour)
            if row.open:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.alarm_table.setItem(index, column, item)

    def toggle_pause(self) -> None:
        if self.pause_button.isEnabled():
            self.pause_button.toggle()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_button.setText("Resume display" if paused else "Pause display")
        self.paused_banner.setVisible(paused)
        self.controller.gate.wanted = not paused
        self.plot.set_following(not paused)
        if not paused:
            self.plot.set_points(self.state.points)

    # ----------------------------------------------------------- saving the log
    def suggested_csv(self) -> Path:
        stem = re.sub(r"[^\w.-]+", "_", Path(self.label).stem if "://" not in self.label else self.label.split("://")[1])
        folder = Path(self.request.source).parent if Path(self.request.source).is_file() else Path.home()
        return folder / f"{stem.strip('_')[:60] or 'stream'}-alarms-{time.strftime('%Y%m%d-%H%M')}.csv"

    def ask_csv_path(self, suggested: Path) -> Optional[tuple[Path, bool]]:
        """Where to save, and whether the user agreed to replace it (the save dialog asks when it exists)."""
        name, _ = QFileDialog.getSaveFileName(self, "Save the alarm log", str(suggested), "CSV (*.csv)")
        if not name:
            return None
        path = Path(name)
        if path.suffix:
            return path, path.exists()
        return path.with_suffix(".csv"), False  # a name the dialog did not ask about: no consent

    def save_csv(self) -> None:
        if self._saving is not None:
            return
        answer = self.ask_csv_path(self.suggested_csv())
        if answer is None:
            return
        path, overwrite = answer
        text = self.state.csv_text(self.label)  # a copy of the log now: the worker never sees it change
        worker = Worker(lambda _progress, _cancel: write_csv(text, path, overwrite), name="Save the alarm log")
        worker.signals.finished.connect(self._saved)
        worker.signals.failed.connect(lambda message: self.show_error("Cannot save the alarm log", message))
        worker.signals.done.connect(self._save_done)
        self._saving = worker
        self.save_button.setEnabled(False)
        self.saves.start(worker)

    def _saved(self, path: Path) -> None:
        self.status.setText(f"Saved the alarm log ({len(self.state.alarms)} rows) to {path}")
        self.csv_saved.emit(path)

    def _save_done(self) -> None:
        self._saving = None
        self.save_button.setEnabled(bool(self.state.alarms))

    # ------------------------------------------------------------------ errors
    def show_error(self, title: str, message: str) -> None:
        """The message in a dialog that does not block (the window stays usable) and in the status line."""
        self.status.setText(f"{title}: {message}")
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("live_error")
        box.setWindowModality(Qt.WindowModality.NonModal)
        self.error_box = box
        box.show()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Stop the monitor and wait for its thread (it returns within a fraction of a second)."""
        self.controller.stop()
        self.controller.wait(STOP_WAIT_MS)
        self.saves.wait(STOP_WAIT_MS)
        if self.error_box is not None:
            self.error_box.close()
        self.closed.emit()
        super().closeEvent(event)
