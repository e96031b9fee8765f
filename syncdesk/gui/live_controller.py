"""Runs the live monitor (``core.monitor.Monitor``) for one live view, off the GUI thread.

The monitor blocks for as long as the stream plays (hours), so it runs on a pool of its own (one
thread), never on the app's shared pool where it would hold a slot the analyses and the timeline's
workers need. Its callbacks come from the monitor's thread and cross to the GUI thread as Qt
signals. Pictures are thinned there first: at most :data:`MAX_PICTURES_PER_S` a second, never a
second one while the last is still on its way (a busy GUI thread gets fewer pictures, never a
queue of them), each downscaled and turned RGB on the monitor's thread.

Stopping cancels the monitor's token; the monitor returns within a fraction of a second (a source
stuck opening takes up to FFmpeg's read timeout), and :meth:`LiveController.wait` waits for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from ..core import AnalysisOptions, CancelToken, ProgressCallback, Tolerance
from .live_history import LiveUpdate
from .workers import Worker, WorkerPool

MAX_PICTURES_PER_S = 10.0
#: pictures are shrunk to fit this (width, height) before they reach the GUI thread
PICTURE_FIT = (960, 540)
#: how long closing a live view waits for its monitor (opening a dead source can take FFmpeg's timeouts)
STOP_WAIT_MS = 15_000

ENDED, DURATION, CANCELLED, FAILED = "ended", "duration", "cancelled", "failed"


@dataclass(frozen=True)
class StreamRequest:
    """What File ▸ Open stream… asks for (the monitor's settings, as the command line's options)."""

    source: str  # a URL, a capture device (v4l2:/dev/video0) or a file
    tolerance: Tolerance
    window_s: float = 8.0
    every_s: float = 2.0
    alarm_after_s: float = 10.0
    realtime: bool = True  # a file plays at its own speed, as if live
    loop: bool = False


@dataclass
class LiveFrame:
    """A picture for the view: small, RGB, with its face boxes in its own pixels."""

    epoch: int
    t_s: float
    image: np.ndarray  # RGB, at most PICTURE_FIT
    boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    scale: float = 1.0  # the shown picture's pixels per source pixel


def downscale(image: np.ndarray, boxes: dict[int, Any], fit: tuple[int, int] = PICTURE_FIT
              ) -> tuple[np.ndarray, dict[int, tuple[float, float, float, float]], float]:
    """``image`` (BGR) shrunk to fit ``fit`` (never enlarged) as RGB, and ``boxes`` scaled with it."""
    import cv2  # the monitor's thread has loaded it already

    height, width = image.shape[:2]
    scale = min(1.0, fit[0] / width, fit[1] / height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # a new array: the reader's buffer is not shared
    scaled = {int(track): tuple(float(v) * scale for v in box) for track, box in boxes.items()}
    return rgb, scaled, scale


class PictureGate:
    """Which pictures go to the GUI thread: at most ``per_s`` a second, and only once the last one
    was taken (:meth:`taken`). Used from the monitor's thread and the GUI thread."""

    def __init__(self, per_s: float = MAX_PICTURES_PER_S) -> None:
        self.interval = 1.0 / per_s
        self.wanted = True  # off while the view is paused: no work for pictures nobody sees
        self._last = -float("inf")
        self._in_flight = threading.Event()

    def admit(self, now: float) -> bool:
        if not self.wanted or self._in_flight.is_set() or now - self._last < self.interval:
            return False
        self._last = now
        self._in_flight.set()
        return True

    def taken(self) -> None:
        self._in_flight.clear()


class _Feed(QObject):
    """Carries the monitor thread's news to the GUI thread."""

    source = Signal(str)  # the source's label, once parsed
    update = Signal(object)  # LiveUpdate
    picture = Signal(object)  # LiveFrame


class LiveController(QObject):
    source_named = Signal(str)  # the source as messages name it (a URL without its query)
    update = Signal(object)  # LiveUpdate
    picture = Signal(object)  # LiveFrame
    failed = Signal(str)  # the source could not be opened, or the settings were refused: the reason
    stopped = Signal(str)  # ENDED, DURATION, CANCELLED or FAILED
    running_changed = Signal(bool)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        threads = QThreadPool(self)
        threads.setMaxThreadCount(1)
        self.pool = WorkerPool(threads, self)
        self.worker: Optional[Worker] = None
        self.gate = PictureGate()
        self._feed = _Feed()
        self._feed.source.connect(self.source_named)
        self._feed.update.connect(self.update)
        self._feed.picture.connect(self._deliver)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, request: StreamRequest, options: AnalysisOptions) -> None:
        if self.worker is not None:
            return
        feed, gate = self._feed, self.gate

        def job(_progress: ProgressCallback, cancel: CancelToken) -> str:
            # torch: loaded here, never on the GUI thread
            from ..core.monitor import Monitor, MonitorSettings, parse_source, status_words

            source = parse_source(request.source)
            feed.source.emit(source.label)
            settings = MonitorSettings(window_s=request.window_s, every_s=request.every_s,
                                       tolerance=request.tolerance, alarm_after_s=request.alarm_after_s,
                                       realtime=request.realtime and source.is_file, loop=request.loop)

            def on_update(update: Any) -> None:
                feed.update.emit(LiveUpdate(update, status_words(update, settings.tolerance), time.time()))

            def on_picture(picture: Any) -> None:
                if gate.admit(time.monotonic()):
                    image, boxes, scale = downscale(picture.image, picture.boxes)
                    feed.picture.emit(LiveFrame(picture.epoch, picture.t_s, image, boxes, scale))

            monitor = Monitor(source, options, settings, on_update, on_picture, cancel)
            return monitor.run()

        worker = Worker(job, name="live monitor")
        worker.signals.finished.connect(lambda why: self.stopped.emit(str(why)))
        worker.signals.cancelled.connect(lambda: self.stopped.emit(CANCELLED))
        worker.signals.failed.connect(self._failed)
        worker.signals.done.connect(self._done)
        self.worker = worker
        self.gate.taken()
        self.pool.start(worker)
        self.running_changed.emit(True)

    def stop(self) -> None:
        """Ask the monitor to stop (it does within a fraction of a second; ``stopped`` follows)."""
        if self.worker is not None:
            self.worker.cancel()

    def wait(self, msecs: int = STOP_WAIT_MS) -> bool:
        """Block until the monitor's thread is done (closing the view, tests)."""
        return self.pool.wait(msecs)

    def _deliver(self, frame: LiveFrame) -> None:
        self.gate.taken()
        self.picture.emit(frame)

    def _failed(self, message: str) -> None:
        self.failed.emit(message)
        self.stopped.emit(FAILED)

    def _done(self) -> None:
        self.worker = None
        self.running_changed.emit(False)
