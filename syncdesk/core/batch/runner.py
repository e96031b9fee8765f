"""The batch's driver: it hands queued jobs to an executor one at a time and writes every outcome
to the store the moment it arrives. It is the store's only writer, whatever the executor: worker
processes on this machine (:mod:`.local_executor`, the default) or actors on a Ray cluster
(:mod:`.ray_executor`).

A file that fails (corrupt, no audio, no face) becomes an ``error`` row and the batch goes on. A
file whose worker dies is handed out again up to the executor's ``retries`` times (none locally,
where the crash is the file's doing; on a cluster a node can go), then becomes an ``error`` row.
:meth:`BatchRunner.stop` (Ctrl-C in the CLI, cancel in the app) cancels the running analyses and
puts their jobs back in the queue.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..errors import SyncdeskError
from ..options import AnalysisOptions
from . import worker
from .executors import Event, Executor, Fatal, Finished, Lost, Progress
from .local_executor import LocalExecutor
from .processes import CANCEL_GRACE_S, default_workers
from .store import ERROR, QUEUED, RUNNING, Job, JobStore

_WAIT_S = 0.5


@dataclass(frozen=True)
class JobUpdate:
    """A job changed: started (``running``, fraction 0), progressed, finished, or went back to
    ``queued`` (cancelled, or lost with its worker and to be tried again). ``job`` is as stored
    when it started, finished or went back."""

    job: Job
    state: str
    fraction: float = 0.0
    result: Optional[dict[str, Any]] = None
    message: Optional[str] = None


class BatchRunner:
    """Analyse queued jobs through an executor; blocking, so run it in a thread in the app.

    ``executor``: where the analyses run (default: a :class:`.LocalExecutor` of ``workers``
    processes, made afresh for each :meth:`run`). ``on_update`` is called in the thread that calls
    :meth:`run`; :meth:`stop` may be called from any thread or a signal handler.
    """

    def __init__(self, store: JobStore, options: AnalysisOptions, workers: Optional[int] = None,
                 on_update: Optional[Callable[[JobUpdate], None]] = None,
                 executor: Optional[Executor] = None) -> None:
        self.store = store
        self.options = options
        self.workers = workers or default_workers()
        self.on_update = on_update or (lambda update: None)
        self.executor = executor
        self._stop = threading.Event()
        self._fatal: Optional[str] = None
        self._pending: deque[Job] = deque()
        self._running: dict[int, Job] = {}  # handed out and not finished, by id
        self._tries: dict[int, int] = {}  # times each job was handed out in this run
        self._retries = 0  # the run's executor's

    def stop(self) -> None:
        self._stop.set()

    def slots_for(self, device_type: str) -> int:
        """Files one local process analyses at once: one on CPU (parallelism comes from processes),
        all ``workers`` on a GPU (one process owns the device; its files decode in parallel threads)."""
        return 1 if device_type == "cpu" else self.workers

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self, jobs: Sequence[Job]) -> None:
        """Analyse ``jobs`` (queued ones), until all are finished or :meth:`stop` is called.
        Raises ``SyncdeskError`` for a problem of the whole batch (bad options, no device,
        unreadable weights, no worker could start): the jobs not finished stay queued."""
        self._pending = deque(jobs)
        if not self._pending or self.stopped:
            return
        executor = self.executor or LocalExecutor(self.options, self.workers, self.slots_for)
        self._running, self._tries, self._retries = {}, {}, executor.retries
        try:
            executor.start(len(self._pending))
            self._loop(executor)
            if self._pending and not self.stopped:
                self._fail(f"no worker is left to analyse the {len(self._pending)} files still queued")
        finally:
            self._shutdown(executor)
        if self._fatal is not None:
            raise SyncdeskError(self._fatal)

    def _loop(self, executor: Executor) -> None:
        """Until every job is finished or a stop: :meth:`_shutdown` then deals with what runs."""
        while not self.stopped:
            while self._pending and executor.free_slots() > 0:
                self._dispatch(executor)
            if not (self._pending or self._running) or not executor.busy():
                return  # all done (a worker still starting is not waited for), or no worker left
            for event in executor.events(_WAIT_S):
                self._handle(event)

    def _dispatch(self, executor: Executor) -> None:
        job = self._pending.popleft()
        if not executor.submit(job.id, job.path):
            self._pending.appendleft(job)
            return
        self.store.start(job.id)
        self._tries[job.id] = self._tries.get(job.id, 0) + 1
        self._running[job.id] = job = self._stored(job)
        self.on_update(JobUpdate(job, RUNNING))

    def _handle(self, event: Event) -> None:
        if isinstance(event, Fatal):
            if not self.stopped:  # a worker that died starting after a stop was told to
                self._fail(event.message)
            return
        job = self._running.get(event.job_id)
        if job is None:
            return
        if isinstance(event, Progress):
            self.on_update(JobUpdate(job, RUNNING, fraction=event.fraction))
            return
        del self._running[job.id]
        if isinstance(event, Lost):
            self._lost(job, event.message)
            return
        assert isinstance(event, Finished)
        if event.outcome in (worker.CANCELLED, worker.FATAL):
            self._release(job)
            if event.outcome == worker.FATAL:
                self._fail(event.message or "the analysis stopped")
            return
        self._finish(job, event.outcome, event.result, event.message)

    def _lost(self, job: Job, message: str) -> None:
        """Its worker died: back to the queue while it has tries left, else an ``error`` row."""
        tries = self._tries.get(job.id, 1)
        if self.stopped:
            self._release(job)
        elif tries <= self._retries:
            self._release(job)
            self._pending.appendleft(job)  # soon, so that a file that kills its workers is settled soon
        else:
            self._finish(job, ERROR, None, f"{job.path.name}: {message}"
                                           + (f" (tried {tries} times)" if tries > 1 else ""))

    def _finish(self, job: Job, state: str, result: Optional[dict[str, Any]], message: Optional[str]) -> None:
        self.store.finish(job.id, state, result, message)
        self.on_update(JobUpdate(self._stored(job), state, 1.0, result, message))

    def _stored(self, job: Job) -> Job:
        """``job`` as the store has it now (its state, result, times)."""
        return self.store.jobs([job.id])[0]

    def _release(self, job: Job) -> None:
        self.store.release(job.id)
        self.on_update(JobUpdate(self._stored(job), QUEUED))

    def _fail(self, message: str) -> None:
        if self._fatal is None:
            self._fatal = message
        self.stop()

    def _shutdown(self, executor: Executor) -> None:
        """Cancel what still runs, wait a little for it, put unfinished jobs back in the queue,
        and end the workers."""
        try:
            if self._running:
                executor.cancel()
            deadline = time.monotonic() + CANCEL_GRACE_S
            while self._running and executor.busy() and time.monotonic() < deadline:
                for event in executor.events(min(_WAIT_S, max(0.0, deadline - time.monotonic()))):
                    self._handle(event)
        finally:
            for job in list(self._running.values()):
                self._release(job)
            self._running = {}
            executor.close()
