"""A worker process of the server: it loads the model once, then runs one job at a time.

Spawned (never forked: torch's threads do not survive a fork) with one end of a pipe. It lowers
its own priority, so that the server's event loop stays responsive while every core analyses,
and asks the kernel to kill it when the server dies (Linux), so that a job interrupted by a
``kill -9`` of the server can never still be running when a restarted server runs it again.

Messages from the server: ``(kind, job_id, spec)`` runs a task (:mod:`.tasks`), ``("cancel",
job_id)`` cancels it, ``None`` ends the process. Replies: ``("ready", device)`` or ``("fatal",
message)`` once, then ``("progress", job_id, fraction, stage)`` now and then and one
``("finished", job_id, outcome, result, message)`` per job, where ``outcome`` is ``done``,
``error`` or ``cancelled``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Optional

from ..core import AnalysisOptions

READY, FATAL, PROGRESS, FINISHED, CANCEL = "ready", "fatal", "progress", "finished", "cancel"
DONE, ERROR, CANCELLED = "done", "error", "cancelled"
#: added to the worker's nice value: analyses yield the CPU to the server's requests
NICENESS = 10
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when the server dies (other systems: it ends at the pipe's EOF)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the server died before the request above
        os._exit(0)


def _warm_up(options: AnalysisOptions, threads: int) -> str:
    """Check the options, pick the device, load the model (kept for the process); the device type."""
    import torch

    from ..core import locate, resolve_device, validate_options
    from ..core.models.device import analysis_dtype
    from ..core.pipeline import load_model

    validate_options(options)
    device = resolve_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    load_model(locate("syncnet", options.weights), device, analysis_dtype(options, device))
    return device.type


class _Runner:
    """The job running in this process (a thread, so that the pipe is read while it runs)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._job: Optional[tuple[str, Any]] = None  # (job id, its cancel token)
        self._thread: Optional[threading.Thread] = None

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._conn.send(message)
            except OSError:  # the server is gone
                pass

    def start(self, kind: str, job_id: str, spec: dict[str, Any]) -> None:
        from ..core import CancelToken

        self.wait()
        token = CancelToken()
        self._job = (job_id, token)
        self._thread = threading.Thread(target=self._run, args=(kind, job_id, spec, token), daemon=True,
                                        name=f"syncdesk-serve-{job_id}")
        self._thread.start()

    def _run(self, kind: str, job_id: str, spec: dict[str, Any], token: Any) -> None:
        from ..core import Cancelled, SyncdeskError
        from .tasks import TASKS

        def progress(fraction: float, stage: str) -> None:
            self.send((PROGRESS, job_id, fraction, stage))

        try:
            outcome, result, message = DONE, TASKS[kind](spec, progress, token), None
        except Cancelled:
            outcome, result, message = CANCELLED, None, None
        except SyncdeskError as exc:
            outcome, result, message = ERROR, None, str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the worker: the job fails
            outcome, result, message = ERROR, None, f"unexpected error: {type(exc).__name__}: {exc}"
        self._job = None
        self.send((FINISHED, job_id, outcome, result, message))

    def cancel(self, job_id: Optional[str] = None) -> None:
        job = self._job
        if job is not None and (job_id is None or job[0] == job_id):
            job[1].cancel()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()


def main(conn: Connection, options: AnalysisOptions, threads: int, parent_pid: int) -> None:
    """The process's main loop (the ``target`` the pool spawns)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the server handles it
    _die_with_parent(parent_pid)
    try:
        os.nice(NICENESS)
    except (OSError, AttributeError):
        pass
    from ..core.memory import tune_malloc

    tune_malloc()  # before torch's threads first allocate
    from ..core import SyncdeskError

    runner = _Runner(conn)
    try:
        runner.send((READY, _warm_up(options, threads)))
    except SyncdeskError as exc:
        runner.send((FATAL, str(exc)))
        return
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            if request[0] == CANCEL:
                runner.cancel(request[1])
                continue
            kind, job_id, spec = request
            runner.start(kind, job_id, spec)
    finally:
        runner.cancel()
        runner.wait()
