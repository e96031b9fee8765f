"""The main window: viewer and transport on top, offset panel on the right, timeline below.

It only displays and dispatches: media access is the engine's FrameReader (through the Player),
analysis and export run as workers on the pool, and every result is an ``Analysis`` document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core import (
    ANALYSIS_FPS, Analysis, AnalysisCache, AnalysisOptions, ExportResult, MediaInfo, SyncdeskError, Track,
    VideoFrame, probe, same_file, timecode, track_colour,
)
from .app_settings import AppSettings
from .batch_panel import BatchPanel
from .jobs import TrackFeed, analysis_worker, export_worker
from .offset_panel import OffsetPanel
from .player import Player
from .settings_dialog import SettingsDialog
from .timeline import Timeline
from .viewer import FaceBox, FrameView
from .weights_dialog import WeightsDialog
from .workers import Worker, WorkerPool

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.m4v *.mxf *.webm *.mpg *.mpeg *.ts *.mts);;All files (*)"
STAGES = {"audio": "Reading audio", "faces": "Finding faces", "embeddings": "Comparing lips and sound",
          "scoring": "Scoring", "decode": "Decoding"}


def device_description(options: AnalysisOptions) -> str:
    """The status bar's device text (``describe_device``), or why the device cannot be used."""
    from ..core import describe_device  # imports torch: called in the pool

    try:
        return f"Device: {describe_device(options)}"
    except SyncdeskError as exc:
        return f"Device: {exc}"


class MainWindow(QMainWindow):
    analysis_shown = Signal(object)  # Analysis, once it is on screen
    analysis_failed = Signal(str)
    export_finished = Signal(object)  # ExportResult

    def __init__(self, settings: AppSettings, options: Optional[AnalysisOptions] = None,
                 pool: Optional[WorkerPool] = None, interactive: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.options = options or settings.options()
        self.pool = pool or WorkerPool(parent=self)
        self.interactive = interactive  # False for --screenshot: never wait on a modal dialog
        self.cache = AnalysisCache()
        self.video: Optional[Path] = None
        self.info: Optional[MediaInfo] = None
        self.analysis: Optional[Analysis] = None
        self.last_error: Optional[str] = None
        self._analysis_worker: Optional[Worker] = None
        self._export_worker: Optional[Worker] = None
        self.export_dialog: Optional[QProgressDialog] = None  # the running (or last) export's progress
        self._boxes: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (first frame, boxes)
        self._selected: Optional[int] = None
        self._dialog: Optional[QMessageBox] = None

        self.setWindowTitle("syncdesk")
        self.setAcceptDrops(True)
        self.player = Player(self)
        self.viewer = FrameView()
        self.timeline = Timeline()
        self.panel = OffsetPanel()
        self.batch = BatchPanel(self.pool, self.options)
        self.batch.open_requested.connect(self.open_video)
        self._build_transport()
        self._build_layout()
        self._build_actions()
        self._build_status_bar()

        self.player.frame_shown.connect(self._frame_shown)
        self.player.playing_changed.connect(self._playing_changed)
        self.timeline.seek_requested.connect(self.player.seek)
        self.panel.shift_changed.connect(self.player.set_shift)
        self.panel.apply_requested.connect(self.export)
        self.panel.track_activated.connect(self.select_track)
        self.resize(1280, 800)
        settings.restore_window(self)

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
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(picture)
        top.addWidget(self.panel)
        top.setStretchFactor(0, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="main_splitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
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
        self.export_action = a("&Apply offset…", self.export, "Ctrl+E", "export")
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
        file_menu.addAction(self.export_action)
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
        analysing = self._analysis_worker is not None
        self.export_action.setEnabled(self.analysis is not None and self._export_worker is None)
        self.cancel_action.setEnabled(analysing)
        self.reanalyse_action.setEnabled(self.video is not None and not analysing)

    # -------------------------------------------------------------------- open
    def open_dialog(self) -> None:
        start = str(self.video.parent) if self.video else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(self, "Open video", start, VIDEO_FILTER)
        if name:
            self.open_video(Path(name))

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

    def open_video(self, path: Path) -> bool:
        """Show ``path``'s first frame and start its analysis (or show the cached one at once)."""
        path = Path(path)
        try:
            info = probe(path)
            self.player.open(path, info)
            self._drop_analysis()
        except SyncdeskError as exc:
            self.show_error(f"Cannot open {path.name}", str(exc))
            return False
        self.video, self.info = path, info
        self.settings.add_recent(path)
        self.setWindowTitle(f"{path.name} — syncdesk")
        self._set_analysis(None)
        self.timeline.clear(info.duration_s, info.fps)
        rate = f"{info.fps:.3f}".rstrip("0").rstrip(".")
        self.frame_label.setText(f"{info.width}x{info.height}, {rate} fps{' (variable)' if info.variable_frame_rate else ''}"
                                 f", {timecode(info.duration_s, info.fps)}")
        if not info.has_audio:
            self.show_error(f"{path.name} has no audio", "There is no sound to compare the lips with: "
                            "nothing can be measured or fixed in this file.")
            return True
        self.start_analysis()
        return True

    # ---------------------------------------------------------------- analysis
    def start_analysis(self, use_cache: bool = True) -> None:
        if self.video is None:
            return
        self._drop_analysis()
        options = self.options
        if WeightsDialog.needed(options.weights):
            if not self.interactive:
                self.show_error("SyncNet weights are missing",
                                "Run `syncdesk models download` or pass --weights PATH.")
                return
            dialog = WeightsDialog(self.pool, self)
            if dialog.exec() != WeightsDialog.DialogCode.Accepted:
                self.statusBar().showMessage("No SyncNet weights: analysis not started.")
                return
            options.weights = dialog.weights_path()
        self._set_analysis(None)
        feed = TrackFeed(self)
        worker = analysis_worker(self.video, options, self.cache, feed, use_cache)

        def only_current(slot):  # a dropped analysis (another file opened since) is not shown
            return lambda *args: slot(*args) if worker is self._analysis_worker else None

        feed.track_ready.connect(only_current(self._track_ready))
        worker.signals.progress.connect(only_current(self._analysis_progress))
        worker.signals.finished.connect(only_current(self._analysis_finished))
        worker.signals.failed.connect(only_current(self._analysis_failed))
        worker.signals.cancelled.connect(only_current(self._analysis_cancelled))
        worker.signals.done.connect(only_current(self._analysis_done))
        worker.signals.done.connect(feed.deleteLater)
        self._analysis_worker = worker
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(f"Analysing {self.video.name}…")
        self.panel.set_status(f"Analysing {self.video.name}…")
        self._update_actions()
        self.pool.start(worker)

    @property
    def analysing(self) -> bool:
        return self._analysis_worker is not None

    def cancel_analysis(self) -> None:
        if self._analysis_worker is not None:
            self._analysis_worker.cancel()
            self.statusBar().showMessage("Cancelling…")

    def _drop_analysis(self) -> None:
        """Cancel the running analysis and stop listening to it (its file is no longer shown)."""
        if self._analysis_worker is not None:
            self._analysis_worker.cancel()
            self._analysis_done()

    def _analysis_cancelled(self) -> None:
        self._analysis_done()
        self.statusBar().showMessage("Analysis cancelled.")
        self.panel.set_status("Analysis cancelled: Analysis ▸ Analyse again (F5) starts it again.")

    def _analysis_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{STAGES.get(stage, stage.capitalize())} %p%")

    def _track_ready(self, track: Track) -> None:
        """A track scored while the analysis goes on: show its curve and box now."""
        if self.info is None:
            return
        frames = max(1, round(self.info.duration_s * ANALYSIS_FPS))
        self.timeline.add_track(track, frames)
        self._keep_boxes(track)
        self._refresh_boxes()

    def _analysis_finished(self, analysis: Analysis) -> None:
        self._analysis_done()  # before showing it: the window is idle again when it appears
        self._set_analysis(analysis)
        mode = "" if not analysis.timings else f" in {sum(analysis.timings.values()):.1f} s"
        self.statusBar().showMessage(f"Analysed {Path(analysis.source.path).name}{mode}.")
        self.analysis_shown.emit(analysis)

    def _analysis_failed(self, message: str) -> None:
        self._analysis_done()
        self.panel.set_status(f"No result: {message}")
        self.show_error("Analysis failed", message)
        self.analysis_failed.emit(message)

    def _analysis_done(self) -> None:
        self._analysis_worker = None
        self.progress.hide()
        self.cancel_button.hide()
        self._update_actions()

    def _set_analysis(self, analysis: Optional[Analysis]) -> None:
        self.analysis = analysis
        self._boxes = {}
        if analysis is not None:
            self.timeline.set_analysis(analysis)
            for track in analysis.tracks:
                self._keep_boxes(track)
        self.panel.set_analysis(analysis)
        self.player.set_shift(self.panel.shift_ms)
        self._refresh_boxes()
        self._update_actions()

    # ------------------------------------------------------------------ viewer
    def _keep_boxes(self, track: Track) -> None:
        """A track's boxes as an array (frame i - start -> x1, y1, x2, y2) for drawing."""
        self._boxes[track.id] = (track.start_frame, np.asarray(track.boxes, dtype=float)[:, 1:5])

    def _frame_boxes(self, time_s: float) -> list[FaceBox]:
        frame = round(time_s * ANALYSIS_FPS)
        speaker = None
        if self.analysis is not None and 0 <= frame < len(self.analysis.active_speaker):
            speaker = self.analysis.active_speaker[frame]
        boxes = []
        for track_id, (start, rows) in self._boxes.items():
            if start <= frame < start + len(rows):
                x1, y1, x2, y2 = (float(v) for v in rows[frame - start])
                boxes.append(FaceBox(track_id, (x1, y1, x2, y2), track_colour(track_id), speaker == track_id,
                                     self._selected == track_id))
        return boxes

    def _frame_shown(self, frame: VideoFrame) -> None:
        self.viewer.show_frame(frame.image, self._frame_boxes(frame.time_s))
        self.timeline.set_position(frame.time_s)
        fps = self.info.fps if self.info else 25.0
        self.time_label.setText(timecode(frame.time_s, fps))

    def _refresh_boxes(self) -> None:
        if self.player.reader is not None:
            self.viewer.set_boxes(self._frame_boxes(self.player.position))

    def _playing_changed(self, playing: bool) -> None:
        self.play_button.setText("⏸" if playing else "▶")

    def select_track(self, track_id: int) -> None:
        """Highlight a track and jump to its first frame."""
        self._selected = track_id
        self.panel.select_track(track_id)
        start = self._boxes.get(track_id, (0, None))[0]
        self.player.seek(start / ANALYSIS_FPS)
        self._refresh_boxes()

    # ------------------------------------------------------------------ export
    def ask_export_path(self, suggested: Path) -> Optional[Path]:
        name, _ = QFileDialog.getSaveFileName(self, "Apply offset: save the fixed copy as", str(suggested),
                                              VIDEO_FILTER)
        return Path(name) if name else None

    def export(self) -> None:
        if self.video is None or self.analysis is None or self._export_worker is not None:
            return
        self.player.pause()
        suggested = self.video.with_name(f"{self.video.stem}.synced{self.video.suffix}")
        target = self.ask_export_path(suggested)
        if target is None:
            return
        if same_file(target, self.video):
            self.show_error("Choose another name", "The fixed copy cannot replace the original: "
                            "syncdesk never overwrites the file it reads.")
            return
        shift = self.panel.shift_ms
        worker = export_worker(self.video, target, shift)
        dialog = QProgressDialog(f"Writing {target.name}…", "Cancel", 0, 1000, self)
        dialog.setObjectName("export_progress")
        dialog.setWindowTitle("Apply offset")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.canceled.connect(worker.cancel)
        worker.signals.progress.connect(lambda _stage, fraction: dialog.setValue(int(1000 * fraction)))
        worker.signals.finished.connect(lambda result: self._export_finished(result, target))
        worker.signals.failed.connect(lambda message: self.show_error("Export failed", message))
        worker.signals.cancelled.connect(lambda: self.statusBar().showMessage("Export cancelled; nothing was written."))
        worker.signals.done.connect(lambda: self._export_done(dialog))
        self.export_dialog = dialog
        self._export_worker = worker
        self._update_actions()
        dialog.show()
        self.pool.start(worker)

    def _export_done(self, dialog: QProgressDialog) -> None:
        dialog.reset()
        dialog.hide()
        self._export_worker = None
        self._update_actions()

    def _export_finished(self, result: ExportResult, target: Path) -> None:
        self.statusBar().showMessage(f"Wrote {target.name}: {result.describe()}")
        box = QMessageBox(QMessageBox.Icon.Information, "Offset applied", f"Wrote {target.name}",
                          QMessageBox.StandardButton.Close, self)
        box.setInformativeText(result.describe())
        box.setObjectName("export_done")
        show = box.addButton("Show in folder", QMessageBox.ButtonRole.ActionRole)
        show.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(target.parent))))
        self._show_box(box)
        self.export_finished.emit(result)

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
        dialog = SettingsDialog(self.options, self.settings.models_folder(), self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        self.settings.set_models_folder(dialog.models_folder())
        self.options = dialog.options()
        self.batch.options = self.options
        self.settings.set_options(self.options)
        self._show_device()
        if self.video is not None and self._analysis_worker is None:
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
