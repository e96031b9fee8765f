"""Run a core call off the GUI thread (napari's ``thread_worker`` idea on a plain QThreadPool).

A :class:`Worker` wraps ``fn(progress, cancel) -> result``; it reports through Qt signals, which
are delivered on the GUI thread, and can be cancelled with the engine's :class:`CancelToken`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..core import CancelToken, Cancelled, ProgressCallback, SyncdeskError

log = logging.getLogger(__name__)

Job = Callable[[ProgressCallback, CancelToken], Any]


class WorkerSignals(QObject):
    progress = Signal(str, float)  # stage, fraction of that stage
    finished = Signal(object)  # the job's result
    failed = Signal(str)  # a message for the user (no traceback)
    cancelled = Signal()
    done = Signal()  # after any of finished / failed / cancelled


class Worker(QRunnable):
    """One job on the pool. Create it on the GUI thread (its signals object lives there)."""

    def __init__(self, job: Job, name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it: see WorkerPool._running
        self.job = job
        self.name = name
        self.token = CancelToken()
        self.signals = WorkerSignals()

    def cancel(self) -> None:
        self.token.cancel()

    def run(self) -> None:  # on a pool thread
        try:
            result = self.job(self.signals.progress.emit, self.token)
        except Cancelled:
            self.signals.cancelled.emit()
        except SyncdeskError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # a bug: keep the window alive, log the traceback for a report
            log.exception("%s failed", self.name)
            self.signals.failed.emit(f"{self.name} failed unexpectedly: {exc}")
        else:
            if self.token.cancelled:
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)
        self.signals.done.emit()


class WorkerPool(QObject):
    """Starts workers on a QThreadPool and keeps each alive until it is done."""

    def __init__(self, pool: Optional[QThreadPool] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._running: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self._running.add(worker)
        worker.signals.done.connect(lambda: self._running.discard(worker))
        self.pool.start(worker)
        return worker

    def running(self) -> list[Worker]:
        return list(self._running)

    def cancel_all(self) -> None:
        for worker in self._running:
            worker.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every worker is done (for closing the window and for tests)."""
        return self.pool.waitForDone(msecs)
