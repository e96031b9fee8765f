"""The server's worker processes: core's pool (:class:`syncdesk.core.batch.processes.WorkerPool`,
which the batch's local executor is too) running the server's jobs (:mod:`.worker`), one at a time
each.

Only the dispatcher thread calls it (the kernel ties a worker's life to the thread that spawned it,
see :func:`~syncdesk.core.batch.processes.die_with_parent`). A worker that dies takes its job with
it (a ``Lost`` event) and a fresh one takes its place; a worker that cannot start (missing weights,
no such device) is a ``Fatal`` event, and none is started again.
"""

from __future__ import annotations

from ..core import AnalysisOptions
from ..core.batch.processes import WorkerPool
from .worker import ServerJobs

#: the processes' name (``ps``)
PROCESS_NAME = "syncdesk-serve-worker"


def worker_pool(options: AnalysisOptions) -> WorkerPool:
    """The server's pool, not started yet (:meth:`WorkerPool.launch`)."""
    return WorkerPool(ServerJobs(options), PROCESS_NAME)
