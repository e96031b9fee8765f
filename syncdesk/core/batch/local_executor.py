"""The ``local`` executor: worker processes on this machine (:mod:`.worker`), one pipe each.

* CPU: ``workers`` processes, each with ``cores // workers`` torch threads and its own model.
* GPU (CUDA or MPS): one process owns the device and the model and is sent several files at once
  (``slots_for``): their decoders, face scans and crops run in parallel threads of that process
  while the one model serves them all. This path has not run on a GPU yet (our build machines have
  none); the tests run the same many-files-in-one-process path on CPU.

A worker process that dies takes its files with it (:class:`.Lost`); a fresh one takes its place
while files wait.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any, Callable

from ..options import AnalysisOptions
from . import worker
from .executors import Event, Fatal, Finished, Lost, Progress, interrupt_ignored


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Worker:
    """The parent's handle on one worker process: starting, ready (idle or busy), or gone."""

    def __init__(self, context: SpawnContext, index: int, threads: int, options: AnalysisOptions) -> None:
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker.serve, args=(child, index, threads, options),
                                       name="syncdesk-batch-worker", daemon=True)
        with interrupt_ignored():
            self.process.start()
        child.close()  # the parent keeps only its end: a dead worker then reads as EOF
        self.ready = False
        self.jobs: set[int] = set()  # sent and not finished
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


class LocalExecutor:
    """Worker processes on this machine. ``slots_for(device_type)``: files one process analyses at
    once, asked when it is ready. The parent imports no torch: the workers check the options and
    the device, and a problem there is a :class:`.Fatal` with their message."""

    #: a crash on one machine is the file's doing (a decoder that crashes on it), not bad luck
    retries = 0

    def __init__(self, options: AnalysisOptions, workers: int, slots_for: Callable[[str], int]) -> None:
        self.options = options
        self.workers = workers
        self.slots_for = slots_for
        self._context = multiprocessing.get_context("spawn")
        self._threads = 1
        self._pool: list[_Worker] = []
        self._backlog: list[Event] = []

    def start(self, files: int) -> None:
        processes = max(1, min(self.workers, files))
        self._threads = max(1, cpu_cores() // processes)
        self._pool = [self._spawn(index) for index in range(processes)]

    def _spawn(self, index: int) -> _Worker:
        return _Worker(self._context, index, self._threads, self.options)

    def free_slots(self) -> int:
        for position, handle in enumerate(self._pool):
            if handle.crashed:
                handle.join(timeout=1)
                self._pool[position] = self._spawn(handle.index)
        return sum(handle.slots - len(handle.jobs) for handle in self._pool if handle.free)

    def submit(self, job_id: int, path: Path) -> bool:
        handle = next(handle for handle in self._pool if handle.free)
        if not handle.send((job_id, str(path))):
            self._lost(handle)
            return False
        handle.jobs.add(job_id)
        return True

    def busy(self) -> bool:
        return bool(self._backlog) or any(handle.waited_on for handle in self._pool)

    def events(self, timeout: float) -> list[Event]:
        handles = [handle for handle in self._pool if handle.waited_on]
        if handles and not self._backlog:
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
                self._receive(handle, message)
        events, self._backlog = self._backlog, []
        return events

    def _receive(self, handle: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == worker.READY:
            handle.ready = True
            handle.slots = self.slots_for(message[1])
            if message[1] != "cpu" and handle.index > 0:
                handle.let_go()  # one process owns the GPU
        elif kind == worker.FATAL:
            self._backlog.append(Fatal(message[1]))
        elif kind == worker.PROGRESS:
            if message[1] in handle.jobs:
                self._backlog.append(Progress(message[1], message[2]))
        elif message[1] in handle.jobs:
            _, job_id, outcome, result, text = message
            handle.jobs.discard(job_id)
            handle.cancelled = handle.cancelled and bool(handle.jobs)
            self._backlog.append(Finished(job_id, outcome, result, text))

    def _lost(self, handle: _Worker) -> None:
        """The worker process died (or its pipe broke)."""
        handle.gone, handle.crashed = True, handle.ready
        handle.process.join(1)
        code = handle.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        jobs, handle.jobs = sorted(handle.jobs), set()
        if not jobs and not handle.ready:
            self._backlog.append(Fatal(f"an analysis process could not start ({how})"))
        which = "the file" if len(jobs) == 1 else f"the file (or one of the {len(jobs)} it was analysing)"
        for job_id in jobs:
            if handle.cancelled:  # e.g. Ctrl-C reached it before it could ignore it
                self._backlog.append(Finished(job_id, worker.CANCELLED, None, None))
            else:
                self._backlog.append(Lost(job_id, f"the analysis process stopped unexpectedly ({how}); "
                                                  f"{which} may crash the decoder"))

    def cancel(self) -> None:
        for handle in self._pool:
            if handle.jobs and not handle.cancelled and not handle.gone:
                handle.cancel()

    def close(self) -> None:
        for handle in self._pool:
            if not handle.ready:
                handle.process.terminate()  # still importing or loading: nothing to lose
            elif not handle.gone:
                handle.let_go()
        for handle in self._pool:
            handle.join(timeout=5)
        self._pool = []
