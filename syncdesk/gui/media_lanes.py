"""The timeline's waveform and thumbnails for the file on screen: two workers per file, their
results drawn as they arrive; a new file drops the old workers (cancelled, no longer listened to)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from ..core import MediaInfo
from .jobs import ThumbnailFeed, thumbnail_worker, waveform_worker
from .thumbnails import thumbnail_width
from .timeline import Timeline
from .workers import Worker, WorkerPool


class MediaLanes(QObject):
    waveform_shown = Signal()
    thumbnails_shown = Signal()  # every thumbnail is on the strip

    def __init__(self, pool: WorkerPool, timeline: Timeline, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.timeline = timeline
        self.workers: list[Worker] = []

    def start(self, path: Path, start: Fraction, info: MediaInfo) -> None:
        """Read ``path``'s envelope (sound from source time ``start``, the first frame) and thumbnails."""
        self.drop()
        self.timeline.clear_media()
        width = thumbnail_width(info.width, info.height)
        self.timeline.thumbnails.reset(info.duration_s, width)
        feed = ThumbnailFeed(self)
        thumbnails = thumbnail_worker(path, info.duration_s, width, feed)
        feed.thumbnail_ready.connect(self._current(thumbnails, self.timeline.thumbnails.add))
        thumbnails.signals.finished.connect(self._current(thumbnails, lambda _count: self.thumbnails_shown.emit()))
        thumbnails.signals.done.connect(feed.deleteLater)
        workers = [thumbnails]
        if info.has_audio:
            waveform = waveform_worker(path, start)
            waveform.signals.finished.connect(self._current(waveform, self._show_waveform))
            workers.append(waveform)
        self.workers = workers
        for worker in workers:
            self.pool.start(worker)

    def drop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        self.workers = []

    def _current(self, worker: Worker, slot: Callable) -> Callable:
        """``slot``, called only while ``worker`` belongs to the file on screen."""
        return lambda *args: slot(*args) if worker in self.workers else None

    def _show_waveform(self, envelope: tuple) -> None:
        self.timeline.waveform.set_envelope(*envelope)
        self.waveform_shown.emit()
