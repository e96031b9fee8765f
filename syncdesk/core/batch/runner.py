"""The worker pool: the parent side. It hands queued jobs to worker processes one at a time and
writes every outcome to the store the moment it arrives.

* CPU: ``workers`` processes, each with ``cores // workers`` torch threads and its own model.
* GPU (CUDA or MPS): one process owns the device and the model and is sent ``workers`` files at
  once: their decoders, face scans and crops run in parallel threads of that process while the
  one model serves them all. This path has not run on a GPU yet (our build machines have none);
  the tests run the same many-files-in-one-process path on CPU.

A file that fails (corrupt, no audio, no face, even a crash of its worker process) becomes an
``error`` row and the batch goes on. :meth:`BatchRunner.stop` (Ctrl-C in the CLI, cancel in the
app) cancels the running analyses and puts their jobs back in the queue.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext
from typing import Any, Callable, Iterator, Optional, Sequence

from ..errors import SyncdeskError
from ..options import AnalysisOptions
from . import worker
from .store import ERROR, QUEUED, RUNNING, Job, JobStore

#: how long running analyses get to notice a cancel before their processes are terminated
CANCEL_GRACE_S = 10.0
_WAIT_S = 0.5


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Half the cores: each worker then gets two torch threads."""
    return max(1, cpu_cores() // 2)


@dataclass(frozen=True)
class JobUpdate:
    """A job changed: started (``running``, fraction 0), progressed, finished, or went back to
    ``queued`` (cancelled). ``job`` is as stored when it started, finished or went back."""

    job: Job
    state: str
    fraction: float = 0.0
    result: Optional[dict[str, Any]] = None
    message: Optional[str] = None


@contextmanager
def _interrupt_ignored() -> Iterator[None]:
    """Processes started inside start with Ctrl-C ignored (an inherited disposition), so that a
    Ctrl-C while one is still importing prints no traceback. Main thread only; elsewhere the
    worker ignores it as its first step."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if previous is None:  # not the main thread, or a handler set outside Python (cannot be put back)
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Worker:
    """The parent's handle on one worker process: starting, ready (idle or busy), or gone."""

    def __init__(self, context: SpawnContext, index: int, threads: int, options: AnalysisOptions) -> None:
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker.serve, args=(child, index, threads, options),
                                       name="syncdesk-batch-worker", daemon=True)
        with _interrupt_ignored():
            self.process.start()
        child.close()  # the parent keeps only its end: a dead worker then reads as EOF
        self.ready = False
        self.jobs: dict[int, Job] = {}  # sent and not finished, by id
        self.slots = 1  # files it is sent at once (more on a GPU)
        self.cancelled = False
        self.gone = False  # dead, or let go (an extra process on a GPU)
        self.crashed = False  # died after it was ready: a fresh one takes its place

    @property
    def waited_on(self) -> bool:
        """Starting or busy: a message (or its death) is expected."""
        return not self.gone and (bool(self.jobs) or not self.ready)

    @property
    def free(self) -> bool:
        return self.ready and not self.gone and len(self.jobs) < self.slots

    def send(self, message: object) -> bool:
        try:
            self.conn.send(message)
            return True
        except OSError:
            return False

    def cancel(self) -> None:
        self.cancelled = True
        self.send(worker.CANCEL)

    def let_go(self) -> None:
        self.send(None)
        self.gone = True

    def join(self, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()


class BatchRunner:
    """Analyse queued jobs in a pool of processes; blocking, so run it in a thread in the app.

    ``on_update`` is called in the thread that calls :meth:`run`; :meth:`stop` may be called
    from any thread or a signal handler. The parent imports no torch: the workers check the
    options and the device, and a problem there stops the batch with its message.
    """

    def __init__(self, store: JobStore, options: AnalysisOptions, workers: Optional[int] = None,
                 on_update: Optional[Callable[[JobUpdate], None]] = None) -> None:
        self.store = store
        self.options = options
        self.workers = workers or default_workers()
        self.on_update = on_update or (lambda update: None)
        self._stop = threading.Event()
        self._fatal: Optional[str] = None

    def stop(self) -> None:
        self._stop.set()

    def slots_for(self, device_type: str) -> int:
        """Files one process analyses at once: one on CPU (parallelism comes from processes), all
        ``workers`` on a GPU (one process owns the device; its files decode in parallel threads)."""
        return 1 if device_type == "cpu" else self.workers

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self, jobs: Sequence[Job]) -> None:
        """Analyse ``jobs`` (queued ones), until all are finished or :meth:`stop` is called.
        Raises ``SyncdeskError`` for a problem of the whole batch (bad options, no device,
        unreadable weights): the jobs not finished stay queued."""
        pending = deque(jobs)
        if not pending or self.stopped:
            return
        processes = max(1, min(self.workers, len(pending)))
        threads = max(1, cpu_cores() // processes)
        context = multiprocessing.get_context("spawn")
        pool: list[_Worker] = []
        try:
            for index in range(processes):
                pool.append(_Worker(context, index, threads, self.options))
            self._loop(pool, pending, lambda index: _Worker(context, index, threads, self.options))
        finally:
            self._shutdown(pool)
        if self._fatal is not None:
            raise SyncdeskError(self._fatal)

    def _loop(self, pool: list[_Worker], pending: deque[Job], start: Callable[[int], _Worker]) -> None:
        """Until every job is finished or a stop: :meth:`_shutdown` then deals with what runs."""
        while not self.stopped:
            for position, handle in enumerate(pool):
                if handle.crashed and pending:
                    handle.join(timeout=1)
                    pool[position] = handle = start(handle.index)
                while handle.free and pending:
                    self._dispatch(handle, pending)
            waited_on = [handle for handle in pool if handle.waited_on]
            if not waited_on:
                return
            self._receive(waited_on, _WAIT_S)

    def _dispatch(self, handle: _Worker, pending: deque[Job]) -> None:
        job = pending.popleft()
        if not handle.send((job.id, str(job.path))):
            pending.appendleft(job)
            self._lost(handle)
            return
        self.store.start(job.id)
        handle.jobs[job.id] = job = self._stored(job)
        self.on_update(JobUpdate(job, RUNNING))

    def _receive(self, handles: list[_Worker], timeout: float) -> None:
        wait([handle.conn for handle in handles] + [handle.process.sentinel for handle in handles], timeout)
        for handle in handles:
            while handle.waited_on:
                try:
                    if not handle.conn.poll():
                        break
                    message = handle.conn.recv()
                except (EOFError, OSError):
                    self._lost(handle)
                    break
                self._handle(handle, message)

    def _handle(self, handle: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == worker.READY:
            handle.ready = True
            handle.slots = self.slots_for(message[1])
            if message[1] != "cpu" and handle.index > 0:
                handle.let_go()  # one process owns the GPU
            return
        if kind == worker.FATAL:
            self._fail(message[1])
            return
        job = handle.jobs.get(message[1])
        if job is None:
            return
        if kind == worker.PROGRESS:
            self.on_update(JobUpdate(job, RUNNING, fraction=message[2]))
            return
        _, _, outcome, result, text = message
        del handle.jobs[job.id]
        handle.cancelled = handle.cancelled and bool(handle.jobs)
        if outcome in (worker.CANCELLED, worker.FATAL):
            self._release(job)
            if outcome == worker.FATAL:
                self._fail(text)
            return
        self.store.finish(job.id, outcome, result, text)
        self.on_update(JobUpdate(self._stored(job), outcome, 1.0, result, text))

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

    def _lost(self, handle: _Worker) -> None:
        """The worker process died (or its pipe broke)."""
        handle.gone, handle.crashed = True, handle.ready
        handle.process.join(1)
        code = handle.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        jobs, handle.jobs = list(handle.jobs.values()), {}
        if not jobs:
            if not handle.ready and not self.stopped:
                self._fail(f"an analysis process could not start ({how})")
            return
        for job in jobs:
            if self.stopped or handle.cancelled:  # e.g. Ctrl-C reached it before it could ignore it
                self._release(job)
                continue
            which = "the file" if len(jobs) == 1 else f"the file (or one of the {len(jobs)} it was analysing)"
            message = (f"{job.path.name}: the analysis process stopped unexpectedly ({how}); "
                       f"{which} may crash the decoder")
            self.store.finish(job.id, ERROR, None, message)
            self.on_update(JobUpdate(self._stored(job), ERROR, 1.0, None, message))

    def _shutdown(self, pool: list[_Worker]) -> None:
        """Cancel what still runs, wait a little for it, put unfinished jobs back in the queue,
        and end every process."""
        try:
            for handle in pool:
                if handle.jobs and not handle.cancelled:
                    handle.cancel()
            deadline = time.monotonic() + CANCEL_GRACE_S
            while time.monotonic() < deadline:
                busy = [handle for handle in pool if handle.jobs and not handle.gone]
                if not busy:
                    break
                self._receive(busy, min(_WAIT_S, max(0.0, deadline - time.monotonic())))
        finally:
            for handle in pool:
                for job in handle.jobs.values():
                    self._release(job)
                handle.jobs = {}
                if not handle.ready:
                    handle.process.terminate()  # still importing or loading: nothing to lose
                elif not handle.gone:
                    handle.let_go()
            for handle in pool:
                handle.join(timeout=5)
