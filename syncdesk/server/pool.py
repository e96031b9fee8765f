"""The server's handles on its worker processes (:mod:`.worker`), one pipe each, one job each.

Only the dispatcher thread calls this (the kernel ties a worker's life to the thread that spawned
it, see :func:`.worker._die_with_parent`). A worker that dies takes its job with it (a
:class:`Lost` event) and a fresh one takes its place; a worker that cannot start (missing
weights, no such device) is a :class:`Fatal` event and is not replaced.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Optional, Union

from ..core import AnalysisOptions
from . import worker

#: how long a cancelled job's worker gets to stop before it is killed (and replaced)
CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class Progress:
    job_id: str
    fraction: float
    stage: str


@dataclass(frozen=True)
class Finished:
    job_id: str
    outcome: str  # worker.DONE, ERROR or CANCELLED
    result: Optional[dict[str, Any]]
    message: Optional[str]


@dataclass(frozen=True)
class Lost:
    job_id: str
    message: str


@dataclass(frozen=True)
class Fatal:
    message: str


Event = Union[Progress, Finished, Lost, Fatal]


class _Worker:
    def __init__(self, context: multiprocessing.context.SpawnContext, options: AnalysisOptions, threads: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker.main, args=(child, options, threads, os.getpid()),
                                       name="syncdesk-serve-worker", daemon=True)
        self.process.start()
        child.close()  # a dead worker then reads as EOF
        self.ready = False
        self.gone = False
        self.job: Optional[str] = None
        self.cancel_deadline: Optional[float] = None

    @property
    def idle(self) -> bool:
        return self.ready and not self.gone and self.job is None

    def send(self, message: object) -> bool:
        try:
            self.conn.send(message)
            return True
        except OSError:
            return False

    def stop(self, timeout: float) -> None:
        if self.ready and not self.gone:
            self.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.gone = True
        self.conn.close()


class WorkerPool:
    """``size`` worker processes with the server's options; ``threads`` torch threads each on CPU."""

    def __init__(self, options: AnalysisOptions, size: int, threads: int) -> None:
        self.options = options
        self.size = size
        self.threads = threads
        self.fatal: Optional[str] = None
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._events: list[Event] = []

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self.options, self.threads)

    @property
    def ready(self) -> int:
        return sum(1 for handle in self._workers if handle.ready and not handle.gone)

    def idle(self) -> int:
        return sum(1 for handle in self._workers if handle.idle)

    def submit(self, kind: str, job_id: str, spec: dict[str, Any]) -> bool:
        handle = next(handle for handle in self._workers if handle.idle)
        handle.job = job_id
        if not handle.send((kind, job_id, spec)):
            self._lost(handle)
            return False
        return True

    def cancel(self, job_id: str) -> None:
        for handle in self._workers:
            if handle.job == job_id and handle.cancel_deadline is None:
                handle.cancel_deadline = time.monotonic() + CANCEL_GRACE_S
                handle.send((worker.CANCEL, job_id))

    def running(self) -> list[str]:
        return [handle.job for handle in self._workers if handle.job is not None and not handle.gone]

    def events(self, timeout: float) -> list[Event]:
        """What happened, waiting up to ``timeout`` seconds; dead workers are replaced here."""
        live = [handle for handle in self._workers if not handle.gone]
        if live and not self._events:
            wait([handle.conn for handle in live] + [handle.process.sentinel for handle in live], timeout)
        elif not live:
            time.sleep(timeout)
        for handle in live:
            while not handle.gone:
                try:
                    if not handle.conn.poll():
                        break
                    message = handle.conn.recv()
                except (EOFError, OSError):
                    self._lost(handle)
                    break
                self._receive(handle, message)
            if not handle.gone and not handle.process.is_alive():
                self._lost(handle)
            if handle.cancel_deadline is not None and time.monotonic() > handle.cancel_deadline and not handle.gone:
                handle.process.kill()  # a cancelled job that does not stop: its worker goes
        self._replace()
        events, self._events = self._events, []
        return events

    def _receive(self, handle: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == worker.READY:
            handle.ready = True
        elif kind == worker.FATAL:
            self.fatal = message[1]
            handle.gone = True
            self._events.append(Fatal(message[1]))
        elif kind == worker.PROGRESS and message[1] == handle.job:
            self._events.append(Progress(message[1], message[2], message[3]))
        elif kind == worker.FINISHED and message[1] == handle.job:
            _, job_id, outcome, result, text = message
            handle.job, handle.cancel_deadline = None, None
            self._events.append(Finished(job_id, outcome, result, text))

    def _lost(self, handle: _Worker) -> None:
        handle.gone = True
        handle.process.join(1)
        code = handle.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if handle.job is not None:
            job_id, handle.job = handle.job, None
            if handle.cancel_deadline is not None:
                self._events.append(Finished(job_id, worker.CANCELLED, None, None))
            else:
                self._events.append(Lost(job_id, f"the analysis process stopped unexpectedly ({how}); the file may "
                                                 "crash the decoder"))
        elif not handle.ready and self.fatal is None:
            self.fatal = f"an analysis process could not start ({how})"
            self._events.append(Fatal(self.fatal))

    def _replace(self) -> None:
        """A fresh worker for each that died after it was ready (none after a fatal start)."""
        if self.fatal is not None:
            return
        for position, handle in enumerate(self._workers):
            if handle.gone and handle.ready:
                handle.stop(timeout=1)
                self._workers[position] = self._spawn()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what runs and end every worker."""
        for handle in self._workers:
            if handle.job is not None:
                handle.send((worker.CANCEL, handle.job))
        deadline = time.monotonic() + timeout
        for handle in self._workers:
            handle.stop(max(0.1, deadline - time.monotonic()))
        self._workers = []
