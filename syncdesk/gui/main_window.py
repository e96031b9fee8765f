"""The main window: viewer and transport on top, offset panel on the right, timeline below.

It only builds widgets and wires them: what is being looked at lives in a Qt-free
:class:`Session`; the views show it and the controllers write to it. Decoding happens on the
player's decoder thread, analysis and export in workers on the pool (their controllers), and every
result is an ``Analysis`` document.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core import (
    ANALYSIS_FPS, Analysis, AnalysisCache, AnalysisOptions, MediaInfo, SyncdeskError, Tolerance, Track, VideoFrame,
    timecode,
)
from .analysis_controller import AnalysisController
from .app_settings import AppSettings
from .batch_panel import BatchPanel
from .export_controller import VIDEO_FILTER, ExportController
from .frame_source import Opened
from .live_controller import StreamRequest
from .live_view import LiveWindow
from .media_lanes import MediaLanes
from .offset_panel import OffsetPanel
from .open_stream_dialog import OpenStreamDialog
from .player import Player
from .qc_controller import MARKERS, REPORT, QcController, QcExport
from .session import Session
from .settings_dialog import SettingsDialog
from .timeline import Timeline
from .viewer import FrameView
from .weights_dialog import WeightsDialog
from .workers import Worker, WorkerPool


MISSING_WEIGHTS = "Run `syncdesk models download` or pass --weights PATH."


def device_description(options: AnalysisOptions) -> str:
    """The status bar's device text (``describe_device``), or why the device cannot be used."""
    from ..core import describe_device  # imports torch: called in the pool

    try:
        return f"Device: {describe_device(options)}"
    except SyncdeskError as exc:
        return f"Device: {exc}"


#: the timeline's lanes (thumbnails, waveform, offset, confidence) stay readable at this height
LANES_MIN_PX = 210


class MainWindow(QMainWindow):
    video_opened = Signal(object)  # Path, once its first frame is on screen
    open_failed = Signal(str)
    analysis_shown = Signal(object)  # Analysis, once it is on screen
    analysis_failed = Signal(str)  # failed, or could not start (no audio, no weights)
    export_finished = Signal(object)  # ExportResult
    qc_written = Signal(object)  # the Path of a QC report or marker file

    def __init__(self, settings: AppSettings, options: Optional[AnalysisOptions] = None,
                 pool: Optional[WorkerPool] = None, interactive: bool = True,
                 tolerance: Optional[Tolerance] = None) -> None:
        """``tolerance`` (``--tolerance``) is used in this window only; else the one chosen last."""
        super().__init__()
        self.settings = settings
        self.options = options or settings.options()
        self.pool = pool or WorkerPool(parent=self)
        self.interactive = interactive  # False for --screenshot: never wait on a modal dialog
        self.session = Session()
        self.analyser = AnalysisController(self.session, self.pool, AnalysisCache(), self)
        self.exporter = ExportController(self.pool, self, self._show_box)
        self.qc = QcController(self.pool, self)
        self.last_error: Optional[str] = None
        self._dialog: Optional[QMessageBox] = None
        self.live_windows: list[LiveWindow] = []  # File ▸ Open stream…: one window per stream

        self.setWindowTitle("syncdesk")
        self.setAcceptDrops(True)
        self.player = Player(self)
        self.viewer = FrameView()
        self.timeline = Timeline()
        self.lanes = MediaLanes(self.pool, self.timeline, self)
        self.panel = OffsetPanel(session=self.session)
        self.batch = BatchPanel(self.pool, self.options)
        self.batch.open_requested.connect(self.open_video)
        self._build_transport()
        self._build_layout()
        self._build_actions()
        self._build_status_bar()
        self._bind_session()
        self._bind_controllers()
        self.session.set_tolerance(tolerance or settings.tolerance())
        self.resize(1280, 800)
        settings.restore_window(self)

    @property
    def video(self) -> Optional[Path]:
        return self.session.path

    @property
    def info(self) -> Optional[MediaInfo]:
        return self.session.info

    @property
    def analysis(self) -> Optional[Analysis]:
        return self.session.analysis

    @property
    def analysing(self) -> bool:
        return self.analyser.running

    # ----------------------------------------------------------------- wiring
    def _bind_session(self) -> None:
        """Views show the Session; user actions on them go to the player or into the Session."""
        events = self.session.events
        events.file.connect(self._file_changed)
        events.frame.connect(self._frame_changed)
        events.analysis.connect(self._analysis_changed)
        events.track.connect(self._track_added)
        events.boxes.connect(self._boxes_changed)
        events.shift.connect(self.player.set_shift)
        events.shift.connect(self.timeline.waveform.set_shift)
        events.over_time.connect(self.timeline.set_over_time)
        events.segment.connect(self.timeline.set_segment)
        events.selected.connect(self.panel.select_track)
        events.tolerance.connect(self.batch.set_tolerance)
        self.panel.tolerance_chosen.connect(self.settings.set_tolerance)
        self.timeline.segment_clicked.connect(self.session.select_segment)
        self.player.opened.connect(self._opened)
        self.player.open_failed.connect(self._open_failed)
        self.player.decode_failed.connect(lambda name, message: self.show_error(f"Cannot read {name}", message))
        self.player.frame_shown.connect(self.session.show_frame)
        # the playhead follows every answer, the one to a drag that ended on the frame already shown too
        self.player.frame_shown.connect(lambda frame: self.timeline.set_position(frame.time_s))
        self.player.playing_changed.connect(self._playing_changed)
        self.timeline.seek_requested.connect(self.player.seek)
        self.panel.shift_changed.connect(self.session.set_shift)
        self.panel.apply_requested.connect(self.export)
        self.panel.track_activated.connect(self.select_track)

    def _bind_controllers(self) -> None:
        analyser = self.analyser
        analyser.started.connect(self._analysis_started)
        analyser.progress.connect(self._analysis_progress)
        analyser.finished.connect(self._analysis_finished)
        analyser.failed.connect(self._analysis_failed)
        analyser.cancelled.connect(self._analysis_cancelled)
        analyser.running_changed.connect(self._analysis_running)
        exporter = self.exporter
        exporter.failed.connect(self.show_error)
        exporter.message.connect(self.statusBar().showMessage)
        exporter.finished.connect(self.export_finished)
        exporter.running_changed.connect(self._update_actions)
        self.qc.failed.connect(self.show_error)
        self.qc.message.connect(self.statusBar().showMessage)
        self.qc.finished.connect(self.qc_written)
        self.qc.running_changed.connect(self._update_actions)

    # ------------------------------------------------------------------ layout
    def _build_transport(self) -> None:
        self.play_button = QToolButton(objectName="play")
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play / pause (Space); J/K/L shuttle")
        self.play_button.clicked.connect(self.player.toggle)
        self.time_label = QLabel("00:00:00:00", objectName="time")
        self.time_label.setProperty("role", "readout")
        self.frame_label = QLabel("", objectName="frame_info")
        self.fit_button = QPushButton("Fit", objectName="fit")
        self.fit_button.setToolTip("Show the whole clip on the timeline")
        self.fit_button.clicked.connect(self.timeline.fit)

    def _build_layout(self) -> None:
        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.time_label)
        transport.addWidget(self.frame_label, 1)
        transport.addWidget(self.fit_button)
        picture = QWidget()
        column = QVBoxLayout(picture)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.viewer, 1)
        column.addLayout(transport)
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="main_splitter")
        self.splitter.addWidget(picture)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([500, 226])  # the picture keeps most room; the lanes are compact
        # ...but never less than this: the batch dock (or a short window) takes its room from the picture
        self.splitter.setCollapsible(1, False)
        self.timeline.setMinimumHeight(LANES_MIN_PX)
        panel = QScrollArea(objectName="panel_scroll")  # a short window scrolls the panel
        panel.setWidget(self.panel)
        panel.setWidgetResizable(True)
        panel.setFrameShape(QFrame.Shape.NoFrame)
        panel.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        panel.setMinimumWidth(self.panel.minimumWidth() + panel.verticalScrollBar().sizeHint().width())
        side = QSplitter(Qt.Orientation.Horizontal, objectName="side_splitter")  # the panel beside it all
        side.addWidget(self.splitter)
        side.addWidget(panel)
        side.setStretchFactor(0, 1)
        self.setCentralWidget(side)
        self.batch_dock = QDockWidget("Batch queue", self, objectName="batch_dock")
        self.batch_dock.setWidget(self.batch)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.batch_dock)
        self.resizeDocks([self.batch_dock], [220], Qt.Orientation.Vertical)  # the picture keeps most room
        self.batch_dock.hide()

    def _action(self, text: str, slot, shortcut: Optional[str | QKeySequence] = None, name: str = "") -> QAction:
        action = QAction(text, self, objectName=name or text)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "open")
        self.open_stream_action = a("Open &stream…", self.open_stream_dialog, "Ctrl+Shift+O", "open_stream")
        self.open_stream_action.setToolTip("Watch the lip sync of a stream, a capture device or a file as it plays")
        self.export_action = a("&Apply offset…", self.export, "Ctrl+E", "export")
        self.qc_report_action = a("Export &QC report…", lambda: self.export_qc(REPORT), None, "export_qc_report")
        self.markers_action = a("Export &markers…", lambda: self.export_qc(MARKERS), None, "export_markers")
        self.settings_action = a("&Settings…", self.edit_settings, QKeySequence.StandardKey.Preferences, "settings")
        self.quit_action = a("&Quit", self.close, QKeySequence.StandardKey.Quit, "quit")
        self.cancel_action = a("&Cancel analysis", self.cancel_analysis, "Esc", "cancel")
        self.reanalyse_action = a("&Analyse again", lambda: self.start_analysis(use_cache=False), "F5", "analyse")
        undo = self.panel.undo_stack.createUndoAction(self, "&Undo nudge")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.panel.undo_stack.createRedoAction(self, "&Redo nudge")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        self.addActions([undo, redo])
        p = self.player
        playback = [
            a("Play / pause", p.toggle, "Space", "toggle"),
            a("Play backwards (J)", p.shuttle_backward, "J", "shuttle_back"),
            a("Stop (K)", p.pause, "K", "stop"),
            a("Play forwards (L)", p.shuttle_forward, "L", "shuttle_forward"),
            a("Next frame", lambda: p.step(1), "Right", "next_frame"),
            a("Previous frame", lambda: p.step(-1), "Left", "previous_frame"),
            a("Forward one second", lambda: p.jump(1.0), "Shift+Right", "next_second"),
            a("Back one second", lambda: p.jump(-1.0), "Shift+Left", "previous_second"),
            a("Go to start", p.home, "Home", "home"),
            a("Go to end", p.end, "End", "end"),
        ]
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addAction(self.open_stream_action)
        file_menu.addAction(self.export_action)
        file_menu.addActions([self.qc_report_action, self.markers_action])
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([undo, redo])
        play_menu = menu.addMenu("&Playback")
        play_menu.addActions(playback)
        analysis_menu = menu.addMenu("&Analysis")
        analysis_menu.addActions([self.reanalyse_action, self.cancel_action])
        view_menu = menu.addMenu("&View")
        view_menu.addAction(a("&Fit timeline", self.timeline.fit, "F", "fit_timeline"))
        batch_toggle = self.batch_dock.toggleViewAction()
        batch_toggle.setShortcut(QKeySequence("Ctrl+B"))
        view_menu.addAction(batch_toggle)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(a("&About syncdesk", self._about, None, "about"))
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setIconSize(QSize(18, 18))
        toolbar.addActions([self.open_action, self.export_action, self.reanalyse_action, self.settings_action,
                            batch_toggle])
        self._update_actions()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar(objectName="analysis_progress")
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", objectName="cancel_analysis")
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.cancel_button.hide()
        self.device_label = QLabel("Device: …", objectName="device")
        self._show_device()
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)
        bar.showMessage("Open a video to find its audio-video offset.")

    def _show_device(self) -> None:
        """Find the device in the pool (it imports torch: half a second the window need not wait)."""
        options = self.options
        worker = Worker(lambda _progress, _cancel: device_description(options), name="device")
        worker.signals.finished.connect(self.device_label.setText)
        self.pool.start(worker)

    def _update_actions(self) -> None:
        analysing = self.analyser.running
        self.export_action.setEnabled(self.analysis is not None and not self.exporter.running)
        for action in (self.qc_report_action, self.markers_action):
            action.setEnabled(self.analysis is not None and not self.qc.running)
        self.cancel_action.setEnabled(analysing)
        self.reanalyse_action.setEnabled(self.video is not None and not analysing)

    # -------------------------------------------------------------------- open
    def open_dialog(self) -> None:
        start = str(self.video.parent) if self.video else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(self, "Open video", start, VIDEO_FILTER)
        if name:
            self.open_video(Path(name))

    def open_stream_dialog(self) -> None:
        folder = self.video.parent if self.video else None
        dialog = OpenStreamDialog(self.session.tolerance, self, folder)
        if dialog.exec() == OpenStreamDialog.DialogCode.Accepted:
            self.open_stream(dialog.request())

    def open_stream(self, request: StreamRequest) -> Optional[LiveWindow]:
        """A live view of ``request``'s source, its monitor started (on a thread of its own)."""
        options = copy.deepcopy(self.options)
        if not self._have_weights(options, "the stream is not monitored"):
            return None
        self.options.weights = options.weights
        live = LiveWindow(request, options)
        live.setWindowIcon(self.windowIcon())
        live.closed.connect(lambda: self.live_windows.remove(live) if live in self.live_windows else None)
        self.live_windows.append(live)
        live.show()
        live.start()
        return live

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_video(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent)

    def open_video(self, path: Path) -> None:
        """Open ``path`` on the decoder thread; its first frame, then its analysis (or the cached
        one), follow. An unreadable file becomes an error dialog and ``open_failed``, and the file
        shown until then stays, with its analysis."""
        path = Path(path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.player.open(path)

    def _opened(self, opened: Opened) -> None:
        path, info = opened.path, opened.info
        self.analyser.drop()
        self.session.set_file(path, info)
        self.lanes.start(path, opened.start_time, info)
        self.settings.add_recent(path)
        self.video_opened.emit(path)
        if not info.has_audio:
            message = ("There is no sound to compare the lips with: nothing can be measured or fixed in this file.")
            self.show_error(f"{path.name} has no audio", message)
            self.analysis_failed.emit(message)
            return
        self.start_analysis()

    def _open_failed(self, name: str, message: str) -> None:
        if self.session.path is None:  # nothing was open: say so where the picture would be
            self.viewer.clear(f"Cannot open {name}")
        self.show_error(f"Cannot open {name}", message)
        self.open_failed.emit(message)

    def _file_changed(self, path: Optional[Path], info: Optional[MediaInfo]) -> None:
        self.setWindowTitle(f"{path.name} — syncdesk" if path is not None else "syncdesk")
        self.timeline.clear(info.duration_s if info else 0.0, info.fps if info else ANALYSIS_FPS)
        self.timeline.clear_media()
        text = ""
        if info is not None:
            rate = f"{info.fps:.3f}".rstrip("0").rstrip(".")
            text = (f"{info.width}x{info.height}, {rate} fps{' (variable)' if info.variable_frame_rate else ''}"
                    f", {timecode(info.duration_s, info.fps)}")
        self.frame_label.setText(text)
        self._update_actions()

    # ---------------------------------------------------------------- analysis
    def start_analysis(self, use_cache: bool = True) -> None:
        if self.video is None:
            return
        self.analyser.drop()
        options = self.options
        if not self._have_weights(options, "analysis not started"):
            if not self.interactive:
                self.analysis_failed.emit(MISSING_WEIGHTS)
            return
        self.analyser.start(self.video, options, use_cache)

    def _have_weights(self, options: AnalysisOptions, otherwise: str) -> bool:
        """Whether ``options`` has usable SyncNet weights, after the first-run dialog if they are missing
        (its download sets ``options.weights``; a note on S3FD, when it was not fetched, goes to the status bar)."""
        if not WeightsDialog.needed(options.weights):
            return True
        if not self.interactive:
            self.show_error("SyncNet weights are missing", MISSING_WEIGHTS)
            return False
        dialog = WeightsDialog(self.pool, self)
        if dialog.exec() != WeightsDialog.DialogCode.Accepted:
            self.statusBar().showMessage(f"No SyncNet weights: {otherwise}.")
            return False
        options.weights = dialog.weights_path()
        if dialog.notice():
            self.statusBar().showMessage(dialog.notice(), 15000)
        return True

    def cancel_analysis(self) -> None:
        if self.analyser.running:
            self.analyser.cancel()
            self.statusBar().showMessage("Cancelling…")

    def _analysis_started(self, name: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.statusBar().showMessage(f"Analysing {name}…")
        self.panel.set_status(f"Analysing {name}…")

    def _analysis_running(self) -> None:
        running = self.analyser.running
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self._update_actions()

    def _analysis_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{stage} %p%")

    def _analysis_finished(self, analysis: Analysis) -> None:
        name = Path(analysis.source.path).name
        if self.analyser.from_cache:
            self.statusBar().showMessage(f"Loaded {name}'s analysis from the cache (same file and settings); "
                                         "Analysis ▸ Analyse again (F5) measures it afresh.")
        else:
            took = analysis.timings.get("total")
            self.statusBar().showMessage(f"Analysed {name}" + (f" in {took:.1f} s." if took is not None else "."))
        self.analysis_shown.emit(analysis)

    def _analysis_failed(self, message: str) -> None:
        self.panel.set_status(f"No result: {message}")
        self.show_error("Analysis failed", message)
        self.analysis_failed.emit(message)

    def _analysis_cancelled(self) -> None:
        self.statusBar().showMessage("Analysis cancelled.")
        self.panel.set_status("Analysis cancelled: Analysis ▸ Analyse again (F5) starts it again.")

    # ------------------------------------------------------- session -> views
    def _analysis_changed(self, analysis: Optional[Analysis]) -> None:
        if analysis is not None:
            self.timeline.set_analysis(analysis)
        elif self.info is not None:
            self.timeline.clear(self.info.duration_s, self.info.fps)
        self.panel.set_analysis(analysis)
        self._update_actions()

    def _track_added(self, track: Track) -> None:
        """A track scored while the analysis goes on: its curve now (its box: ``_boxes_changed``)."""
        if self.info is not None:
            self.timeline.add_track(track, max(1, round(self.info.duration_s * ANALYSIS_FPS)))

    def _frame_changed(self, frame: VideoFrame) -> None:
        self.viewer.show_frame(frame.image, self.session.boxes_at(frame.time_s))
        self.time_label.setText(timecode(frame.time_s, self.session.fps))

    def _boxes_changed(self) -> None:
        if self.session.frame is not None:
            self.viewer.set_boxes(self.session.boxes_at(self.session.time_s))

    def _playing_changed(self) -> None:
        self.play_button.setText("⏸" if self.player.rate else "▶")

    def select_track(self, track_id: int) -> None:
        """Highlight a track and jump to its first frame."""
        self.session.select(track_id)
        self.player.seek(self.session.track_start_s(track_id))

    # ------------------------------------------------------------------ export
    def export(self) -> None:
        if self.video is None or self.analysis is None or self.exporter.running:
            return
        self.player.pause()
        over_time = copy.deepcopy(self.session.over_time) if self.session.varying else None
        self.exporter.export(self.video, self.session.shift_ms, over_time)

    def export_qc(self, kind: QcExport) -> None:
        """A QC report or markers for the analysis shown, judged against the chosen tolerance."""
        if self.analysis is not None and not self.qc.running:
            self.qc.export(kind, self.analysis, self.session.tolerance)

    # ------------------------------------------------------------ dialogs etc.
    def show_error(self, title: str, message: str) -> None:
        """A clear message in a non-blocking dialog and the status bar; the window stays usable."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        self._show_box(box)

    def _show_box(self, box: QMessageBox) -> None:
        if self._dialog is not None:
            self._dialog.close()
        self._dialog = box
        box.setWindowModality(Qt.WindowModality.NonModal)
        if self.interactive:
            box.open()

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.options, self.settings.models_folder(), self, cache=self.analyser.cache)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        self.settings.set_models_folder(dialog.models_folder())
        self.options = dialog.options()
        self.batch.options = self.options
        self.settings.set_options(self.options)
        self._show_device()
        if self.video is not None and not self.analyser.running:
            self.start_analysis()

    def _about(self) -> None:
        QMessageBox.about(self, "About syncdesk",
                          f"syncdesk {__version__}\nFinds and fixes audio-video (lip-sync) offsets with SyncNet.")

    # ------------------------------------------------------------ drag & drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_video(files[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        for live in list(self.live_windows):  # each stops its monitor and waits for it
            live.close()
        self.player.close()
        self.batch.pause()  # running jobs go back to the queue: the next start resumes them
        self.pool.cancel_all()
        self.pool.wait(10_000)
        self.settings.save_window(self)
        super().closeEvent(event)


def window_icon() -> QIcon:
    from ..assets import ICON_SIZES, icon_path

    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(icon_path(size)), QSize(size, size))
    return icon
