"""Where a batch's analyses run: what the runner and an executor say to each other.

The runner (:mod:`.runner`) owns the queue: it hands an executor one file at a time, writes each
event it gets back to the store (it is the store's only writer) and decides what a lost file
becomes. An executor only runs analyses and reports on them. Two implement :class:`Executor`:
:mod:`.local_executor` (worker processes on this machine, the default: :mod:`.processes`' pool,
which the server's workers use too) and :mod:`.ray_executor` (actors on a Ray cluster). Both
analyse a file with the same code (:mod:`.worker`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Protocol, Union

from ..errors import SyncdeskError

if TYPE_CHECKING:
    from ..options import AnalysisOptions
    from .ray_executor import RayExecutor

EXECUTORS = ("local", "ray")
#: a job's id: the batch queue's row id, or a server job's
JobId = Union[int, str]


@dataclass(frozen=True)
class Progress:
    job_id: JobId
    fraction: float
    stage: Optional[str] = None


@dataclass(frozen=True)
class Finished:
    """An analysis ended: ``outcome`` is a store state (``done``, ``error``, ``skipped``) or the
    worker's ``cancelled`` / ``fatal``."""

    job_id: JobId
    outcome: str
    result: Optional[dict[str, Any]]
    message: Optional[str]


@dataclass(frozen=True)
class Lost:
    """The file's worker died (a crash, a lost node) before it finished; ``message`` says so in
    words (the runner puts the file's name before it) and becomes the error row's text once the
    file's tries are used up."""

    job_id: JobId
    message: str


@dataclass(frozen=True)
class Fatal:
    """A problem of the whole batch: bad options, no device, unreadable weights, no worker could
    start."""

    message: str


Event = Union[Progress, Finished, Lost, Fatal]


class Executor(Protocol):
    """Runs analyses for one :meth:`BatchRunner.run <.runner.BatchRunner.run>` at a time."""

    #: how many more times a lost file is handed out before it becomes an ``error`` row
    retries: int

    def start(self, files: int) -> None:
        """Start the workers for a run of ``files`` files; a ``SyncdeskError`` if it cannot."""

    def free_slots(self) -> int:
        """How many more files :meth:`submit` takes now (called only while files wait: the moment
        to replace a worker that died)."""

    def submit(self, job_id: int, path: Path) -> bool:
        """Hand over one file; ``False`` when it could not be (the runner keeps it queued)."""

    def busy(self) -> bool:
        """Whether an event is still to come: workers starting or files running."""

    def events(self, timeout: float) -> list[Event]:
        """What happened, waiting up to ``timeout`` seconds for something."""

    def cancel(self) -> None:
        """Cancel every running analysis: each ends with a ``cancelled`` :class:`Finished`."""

    def close(self) -> None:
        """End the run's workers (what still runs is lost)."""


@contextmanager
def interrupt_ignored() -> Iterator[None]:
    """Processes started inside start with Ctrl-C ignored (an inherited disposition): Ctrl-C
    reaches the whole process group, and only the batch's own process must act on it (a worker
    still importing would print a traceback, a local Ray would stop under the batch). Main
    thread only; elsewhere a worker ignores it as its first step."""
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


def make_ray_executor(options: AnalysisOptions, workers: Optional[int] = None, address: Optional[str] = None,
                 ship_files: bool = False, cpus_per_worker: Optional[int] = None) -> RayExecutor:
    """A :class:`.ray_executor.RayExecutor`, or a ``SyncdeskError`` saying how to install Ray (an
    optional dependency: ``pip install "syncdesk[ray]"``)."""
    try:
        from .ray_executor import RayExecutor
    except ImportError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "ray":
            raise
        raise SyncdeskError("--executor ray needs Ray on this machine, the same version as the cluster's: "
                            "pip install 'syncdesk[ray]'") from None
    return RayExecutor(options, workers, address, ship_files, cpus_per_worker)
