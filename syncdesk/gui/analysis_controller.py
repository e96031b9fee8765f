"""The analysis of the file on screen: one worker at a time, its results written into the Session.

A new file or a new start drops the running worker (cancelled, and nothing it says afterwards is
listened to); the Qt signals here are for the window's status bar, progress bar and dialogs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from ..core import Analysis, AnalysisCache, AnalysisOptions
from .jobs import TrackFeed, analysis_worker
from .session import Session
from .workers import Worker, WorkerPool

STAGES = {"audio": "Reading audio", "faces": "Finding and scoring faces",
          "embeddings": "Comparing lips and sound",
          "scoring": "Scoring", "decode": "Decoding"}


class AnalysisController(QObject):
    started = Signal(str)  # file name
    progress = Signal(str, float)  # the stage's words, fraction
    finished = Signal(object)  # Analysis, already in the Session
    failed = Signal(str)
    cancelled = Signal()
    running_changed = Signal()  # read ``running`` (a bool argument leaks references in PySide 6.12)

    def __init__(self, session: Session, pool: WorkerPool, cache: Optional[AnalysisCache] = None,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pool = pool
        self.cache = cache or AnalysisCache()
        self.worker: Optional[Worker] = None
        self.from_cache = False  # whether the last finished analysis was read from the cache

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, path: Path, options: AnalysisOptions, use_cache: bool = True) -> None:
        """Analyse ``path`` (or take it from the cache): tracks reach the Session as they are scored."""
        self.drop()
        self.session.set_analysis(None)
        feed = TrackFeed(self)
        worker = analysis_worker(path, options, self.cache, feed, use_cache)

        def only_current(slot: Callable) -> Callable:  # a dropped worker is no longer listened to
            return lambda *args: slot(*args) if worker is self.worker else None

        feed.track_ready.connect(only_current(self.session.add_track))
        worker.signals.progress.connect(only_current(self._progress))
        worker.signals.finished.connect(only_current(self._finished))
        worker.signals.failed.connect(only_current(self._failed))
        worker.signals.cancelled.connect(only_current(self._cancelled))
        worker.signals.done.connect(only_current(self._done))
        worker.signals.done.connect(feed.deleteLater)
        self.worker = worker
        self.running_changed.emit()
        self.started.emit(path.name)
        self.pool.start(worker)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def drop(self) -> None:
        """Cancel the running analysis and stop listening to it (its file is no longer shown)."""
        if self.worker is not None:
            self.worker.cancel()
            self._done()

    def _progress(self, stage: str, fraction: float) -> None:
        self.progress.emit(STAGES.get(stage, stage.capitalize()), fraction)

    def _finished(self, result: tuple[Analysis, bool]) -> None:
        analysis, self.from_cache = result
        self._done()  # before showing it: the window is idle again when it appears
        self.session.set_analysis(analysis)
        self.finished.emit(analysis)

    def _failed(self, message: str) -> None:
        self._done()
        self.failed.emit(message)

    def _cancelled(self) -> None:
        self._done()
        self.cancelled.emit()

    def _done(self) -> None:
        if self.worker is not None:
            self.worker = None
            self.running_changed.emit()

