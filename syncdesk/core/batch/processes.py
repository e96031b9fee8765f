"""Worker processes on this machine, one pipe each: the one pool behind the batch's ``local``
executor (:mod:`.local_executor`) and ``syncdesk serve``'s workers.

What a process does is pluggable: a :class:`JobFunctions` (pickled into each process) warms it up
once (options checked, device picked, model loaded) and runs one job per request. The pool starts
the processes, hands them jobs, relays their progress and outcomes as the executor events
(:mod:`.executors`), notices a process that dies (its jobs are :class:`.Lost`, or cancelled when a
cancel was sent), replaces one that died after it was ready (none after a :class:`.Fatal` start),
kills one that does not stop within :data:`CANCEL_GRACE_S` of a cancel, and ends them all.

Spawned (never forked: torch's threads do not survive a fork). The pipe's messages:

* to a process: ``(RUN, job_id, payload)``, ``(CANCEL, job_id)`` (``None``: every job it runs),
  ``None`` to end;
* from it: ``(READY, device_type)`` or ``(FATAL, message)`` once, then ``(PROGRESS, job_id,
  fraction, stage)`` now and then and one ``(FINISHED, job_id, outcome, result, message)`` per job,
  where ``outcome`` is a store state (``done``, ``error``, ``skipped``), :data:`CANCELLED` or
  :data:`FATAL`.

Each job runs in a thread of its own; a process's main thread only reads the pipe, so a cancel (or
the parent's death) is seen at once. A process runs ``slots`` jobs at once (one on CPU; more where
one process owns a GPU). Nothing heavy is imported here: the parent (the app, the command line,
the server) imports this module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from typing import Any, Callable, Optional

from ..cancel import CancelToken
from ..errors import Cancelled, SyncdeskError
from .executors import Event, Fatal, Finished, JobId, Lost, Progress, interrupt_ignored
from .store import ERROR

#: the kinds of messages (see the module's docstring)
RUN, CANCEL = "run", "cancel"
READY, PROGRESS, FINISHED = "ready", "progress", "finished"
#: outcomes of a job besides the store's states; FATAL is also the reply of a failed start
CANCELLED, FATAL = "cancelled", "fatal"
#: how long a cancelled job gets to stop before its process is killed (and replaced)
CANCEL_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1

#: a job's outcome: (outcome, result, message)
Outcome = tuple[str, Optional[dict[str, Any]], Optional[str]]
#: a job's progress: (fraction of the job, stage or None)
ReportProgress = Callable[[float, Optional[str]], None]


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Half the cores: each worker process then gets two torch threads."""
    return max(1, cpu_cores() // 2)


# ---------------------------------------------------------------------- inside a worker process


class JobFunctions:
    """What a pool's processes do. Pickled into each process: a module-level class with picklable
    fields, whose module imports nothing heavy (it is imported before the process ignores Ctrl-C)."""

    def prepare(self, parent_pid: int) -> None:
        """Process-wide set-up, before anything else is imported (default: none)."""

    def warm_up(self, index: int, threads: int) -> str:
        """Check the options, pick the device, load the model; the device type (``cpu``, ``cuda``,
        ``mps``). A ``SyncdeskError`` is a :data:`FATAL` start. ``threads``: torch's threads on CPU."""
        raise NotImplementedError

    def run(self, job_id: JobId, payload: Any, progress: ReportProgress, cancel: CancelToken) -> Outcome:
        """One job. What it raises becomes its outcome: ``Cancelled`` :data:`CANCELLED`, a
        ``SyncdeskError`` an ``error`` with its message, anything else an ``error`` that says it
        was unexpected."""
        raise NotImplementedError


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when its parent dies (elsewhere it ends at the pipe's EOF). The
    kernel ties it to the parent's thread that spawned it: spawn from a thread that outlives the pool."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request above
        os._exit(0)


def lower_priority(niceness: int) -> None:
    """Add ``niceness`` to this process's nice value (where the system has one)."""
    try:
        os.nice(niceness)
    except (OSError, AttributeError):
        pass


def _send(conn: Connection, message: tuple[Any, ...]) -> bool:
    try:
        conn.send(message)
        return True
    except OSError:  # the parent is gone
        return False


class _Running:
    """The jobs running in this process, a thread each; replies go through one lock."""

    def __init__(self, conn: Connection, functions: JobFunctions) -> None:
        self._conn = conn
        self._functions = functions
        self._send_lock = threading.Lock()
        self._tokens: dict[JobId, CancelToken] = {}
        self._threads: list[threading.Thread] = []

    def send(self, message: tuple[Any, ...]) -> bool:
        with self._send_lock:
            return _send(self._conn, message)

    def start(self, job_id: JobId, payload: Any) -> None:
        token = self._tokens[job_id] = CancelToken()
        thread = threading.Thread(target=self._run, args=(job_id, payload, token), name=f"syncdesk-job-{job_id}",
                                  daemon=True)
        self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
        thread.start()

    def _run(self, job_id: JobId, payload: Any, token: CancelToken) -> None:
        def progress(fraction: float, stage: Optional[str] = None) -> None:
            self.send((PROGRESS, job_id, fraction, stage))

        outcome: Outcome
        try:
            outcome = self._functions.run(job_id, payload, progress, token)
        except Cancelled:
            outcome = (CANCELLED, None, None)
        except SyncdeskError as exc:
            outcome = (ERROR, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad job must not end the process: it fails
            outcome = (ERROR, None, f"unexpected error: {type(exc).__name__}: {exc}")
        self._tokens.pop(job_id, None)
        self.send((FINISHED, job_id, *outcome))

    def cancel(self, job_id: Optional[JobId] = None) -> None:
        for running, token in list(self._tokens.items()):
            if job_id is None or running == job_id:
                token.cancel()

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()


def serve(conn: Connection, functions: JobFunctions, index: int, threads: int, parent_pid: int) -> None:
    """A worker process's main loop (the ``target`` the pool spawns)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent handles it
    functions.prepare(parent_pid)
    from ..memory import tune_malloc  # here, not at the top: the parent imports this module

    tune_malloc()  # before torch's threads and the job threads first allocate
    try:
        device = functions.warm_up(index, threads)
    except SyncdeskError as exc:
        _send(conn, (FATAL, str(exc)))
        return
    if not _send(conn, (READY, device)):
        return
    running = _Running(conn, functions)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the parent is gone (killed): stop what runs
                return
            if request is None:
                return
            if request[0] == CANCEL:
                running.cancel(request[1])
                continue
            _, job_id, payload = request
            running.start(job_id, payload)
    finally:
        running.cancel()
        running.wait()


# ---------------------------------------------------------------------- the parent's side


class _Process:
    """The parent's handle on one worker process: starting, ready (idle or busy), or gone."""

    def __init__(self, context: SpawnContext, functions: JobFunctions, index: int, threads: int, name: str) -> None:
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, functions, index, threads, os.getpid()),
                                       name=name, daemon=True)
        with interrupt_ignored():
            self.process.start()
        child.close()  # the parent keeps only its end: a dead process then reads as EOF
        self.ready = False
        self.jobs: set[JobId] = set()  # sent and not finished
        self.slots = 1  # jobs it is sent at once
        self.cancelled: set[JobId] = set()  # jobs a cancel was sent for
        self.cancel_deadline: Optional[float] = None
        self.gone = False  # dead, or let go
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

    def cancel(self, job_id: Optional[JobId]) -> None:
        wanted = self.jobs - self.cancelled if job_id is None else {job_id} & (self.jobs - self.cancelled)
        if not wanted or self.gone:
            return
        self.cancelled |= wanted
        if self.cancel_deadline is None:
            self.cancel_deadline = time.monotonic() + CANCEL_GRACE_S
        self.send((CANCEL, job_id))

    def finished(self, job_id: JobId) -> None:
        self.jobs.discard(job_id)
        self.cancelled.discard(job_id)
        if not self.cancelled:
            self.cancel_deadline = None

    def let_go(self) -> None:
        self.send(None)
        self.gone = True

    def join(self, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class WorkerPool:
    """Worker processes running ``functions``, named ``name``. ``slots_for(device_type)``: jobs one
    process runs at once, asked when it is ready. ``one_per_device``: on a GPU only the first
    process is kept (it owns the device; the others are let go). The parent imports no torch: the
    processes check the options and the device, and a problem there is a :class:`.Fatal` event
    (and :attr:`fatal`).

    Call it from one thread (with ``die_with_parent``, the one that outlives the pool)."""

    def __init__(self, functions: JobFunctions, name: str, slots_for: Callable[[str], int] = lambda device: 1,
                 one_per_device: bool = False) -> None:
        self.functions = functions
        self.name = name
        self.slots_for = slots_for
        self.one_per_device = one_per_device
        self.size = 0
        self.fatal: Optional[str] = None  # why the processes cannot start
        self._context = multiprocessing.get_context("spawn")
        self._threads = 1
        self._processes: list[_Process] = []
        self._backlog: list[Event] = []

    def launch(self, size: int) -> None:
        """Start ``size`` processes, the cores shared out among them as torch threads (on CPU)."""
        self.size, self._threads = size, max(1, cpu_cores() // size)
        self._processes = [self._spawn(index) for index in range(size)]

    def _spawn(self, index: int) -> _Process:
        return _Process(self._context, self.functions, index, self._threads, self.name)

    @property
    def ready(self) -> int:
        """Processes ready for jobs."""
        return sum(1 for handle in self._processes if handle.ready and not handle.gone)

    def free_slots(self) -> int:
        """How many more jobs :meth:`submit` takes now; a process that died after it was ready is
        replaced here first (unless the processes cannot start at all)."""
        if self.fatal is None:
            for position, handle in enumerate(self._processes):
                if handle.crashed:
                    handle.join(timeout=1)
                    self._processes[position] = self._spawn(handle.index)
        return sum(handle.slots - len(handle.jobs) for handle in self._processes if handle.free)

    def submit(self, job_id: JobId, payload: Any) -> bool:
        """Hand a job to a process with a free slot; ``False`` when it could not be sent (its
        process died: the job never ran)."""
        handle = next(handle for handle in self._processes if handle.free)
        if not handle.send((RUN, job_id, payload)):
            self._lost(handle)
            return False
        handle.jobs.add(job_id)
        return True

    def running(self) -> list[JobId]:
        return [job_id for handle in self._processes if not handle.gone for job_id in handle.jobs]

    def busy(self) -> bool:
        """Whether an event is still to come: processes starting or jobs running."""
        return bool(self._backlog) or any(handle.waited_on for handle in self._processes)

    def cancel(self, job_id: Optional[JobId] = None) -> None:
        """Cancel a running job (``None``: every one); each ends with a ``cancelled``
        :class:`.Finished`, its process killed if it does not stop within :data:`CANCEL_GRACE_S`."""
        for handle in self._processes:
            handle.cancel(job_id)

    def events(self, timeout: float) -> list[Event]:
        """What happened, waiting up to ``timeout`` seconds for something."""
        live = [handle for handle in self._processes if not handle.gone]
        if not self._backlog:
            if live:
                wait([handle.conn for handle in live] + [handle.process.sentinel for handle in live], timeout)
            else:
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
            overdue = handle.cancel_deadline is not None and time.monotonic() > handle.cancel_deadline
            if overdue and not handle.gone:
                handle.process.kill()  # a cancelled job that does not stop: its process goes (and is replaced)
        events, self._backlog = self._backlog, []
        return events

    def _receive(self, handle: _Process, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == READY:
            handle.ready = True
            handle.slots = self.slots_for(message[1])
            if self.one_per_device and message[1] != "cpu" and handle.index > 0:
                handle.let_go()  # one process owns the GPU
        elif kind == FATAL:
            handle.gone = True
            self._fatal(message[1])
        elif kind == PROGRESS:
            if message[1] in handle.jobs:
                self._backlog.append(Progress(message[1], message[2], message[3]))
        elif kind == FINISHED and message[1] in handle.jobs:
            _, job_id, outcome, result, text = message
            handle.finished(job_id)
            self._backlog.append(Finished(job_id, outcome, result, text))

    def _fatal(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
            self._backlog.append(Fatal(message))

    def _lost(self, handle: _Process) -> None:
        """The process died (or its pipe broke)."""
        handle.gone, handle.crashed = True, handle.ready
        handle.process.join(1)
        code = handle.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        jobs, cancelled = sorted(handle.jobs), handle.cancelled
        handle.jobs, handle.cancelled, handle.cancel_deadline = set(), set(), None
        if not jobs and not handle.ready:
            self._fatal(f"an analysis process could not start ({how})")
        which = "the file" if len(jobs) == 1 else f"the file (or one of the {len(jobs)} it was analysing)"
        for job_id in jobs:
            if job_id in cancelled:  # killed after a cancel, or Ctrl-C reached it before it could ignore it
                self._backlog.append(Finished(job_id, CANCELLED, None, None))
            else:
                self._backlog.append(Lost(job_id, f"the analysis process stopped unexpectedly ({how}); "
                                                  f"{which} may crash the decoder"))

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what runs and end every process (what has not stopped within ``timeout`` is killed)."""
        for handle in self._processes:
            if not handle.ready:
                handle.process.terminate()  # still importing or loading: nothing to lose
            elif not handle.gone:
                handle.cancel(None)
                handle.let_go()
        deadline = time.monotonic() + timeout
        for handle in self._processes:
            handle.join(max(0.1, deadline - time.monotonic()))
        self._processes = []
