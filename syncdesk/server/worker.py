"""What a worker process of the server does: it loads the model once, then runs one job at a time
with the same engine calls as ``analyze`` and ``fix`` (:mod:`.tasks`).

The processes themselves are core's pool (:mod:`syncdesk.core.batch.processes`, the batch's local
executor's too: spawned, one pipe each, a thread per job so that a cancel is seen at once); this is
the server's part. A worker lowers its own priority, so that the server's event loop stays
responsive while every core analyses, and asks the kernel to kill it when the server dies (Linux),
so that a job interrupted by a ``kill -9`` of the server can never still be running when a
restarted server runs it again.

A job's payload is ``(kind, spec)``; it ends ``done`` with the task's result, or ``error`` or
``cancelled`` (what the task raised, as the pool words it).
"""

from __future__ import annotations

from typing import Any

from ..core import AnalysisOptions, CancelToken
from ..core.batch.processes import JobFunctions, Outcome, ReportProgress, die_with_parent, lower_priority
from ..core.batch.store import DONE

#: added to the worker's nice value: analyses yield the CPU to the server's requests
NICENESS = 10


class ServerJobs(JobFunctions):
    """The server's worker processes (pickled into each): the server's options, one task per job."""

    def __init__(self, options: AnalysisOptions) -> None:
        self.options = options

    def prepare(self, parent_pid: int) -> None:
        die_with_parent(parent_pid)
        lower_priority(NICENESS)

    def warm_up(self, index: int, threads: int) -> str:
        from ..core.batch.worker import warm_up

        return warm_up(0, threads, self.options)  # index 0: every worker loads the model, GPU or not

    def run(self, job_id: Any, payload: Any, progress: ReportProgress, cancel: CancelToken) -> Outcome:
        from .tasks import TASKS

        kind, spec = payload
        return DONE, TASKS[kind](spec, progress, cancel), None
