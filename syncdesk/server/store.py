"""The server's jobs: the ``requests`` table of the batch store in the data folder
(:mod:`syncdesk.core.batch.store`: one SQLite file for ``batch`` and the server, where the states,
:data:`MAX_RUNS` and the claim, recover and run-count rules live), and the lock that makes one
server the dispatcher of a data folder.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from ..core import SyncdeskError
from ..core.batch.store import ANALYSIS, BATCH, CANCELLED_MESSAGE, DONE, ERROR, FIX, MAX_RUNS, QUEUED, new_id
from ..core.batch.store import RequestedJob as JobRow
from ..core.batch.store import RequestedJobs as ServerStore

#: the store's names the server's modules use, from here
__all__ = ["ANALYSIS", "BATCH", "CANCELLED_MESSAGE", "DONE", "ERROR", "FIX", "MAX_RUNS", "QUEUED", "JobRow",
           "ServerLock", "ServerStore", "new_id"]

LOCK_NAME = "server.lock"


class ServerLock:
    """One dispatching server per data folder: an OS file lock, freed when its process dies."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(folder / LOCK_NAME))

    def acquire(self) -> None:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise SyncdeskError(f"another syncdesk serve is using {self._lock.lock_file}: stop it, or give this one "
                                "its own data folder (SYNCDESK_DATA_DIR)") from None

    def release(self) -> None:
        self._lock.release()
