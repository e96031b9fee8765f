"""The server's job queue: one SQLite file (WAL) beside the batch queue in the data folder.

It keeps the batch queue's rules (:mod:`syncdesk.core.batch.store`): a row is written the moment a
job changes state, so ``kill -9`` loses nothing but the work in progress; one process dispatches
(:class:`ServerLock`), and only it moves a job to ``running`` and out of it, each move a single
conditional ``UPDATE`` so that a job is never handed out twice. A job found ``running`` when a
server starts was interrupted by a crash: it is queued again, or failed with the reason once it
has been started :data:`MAX_RUNS` times.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from filelock import FileLock, Timeout

from ..core import SyncdeskError

STORE_NAME = "server.sqlite3"
LOCK_NAME = "server.lock"
#: bump when the table's layout changes (an older store is then started afresh)
STORE_VERSION = 1
QUEUED, RUNNING, DONE, ERROR = "queued", "running", "done", "error"
FINISHED = (DONE, ERROR)
ANALYSIS, FIX, BATCH = "analysis", "fix", "batch"
#: a job started this many times without finishing (the server died each time) is failed
MAX_RUNS = 3
CANCELLED_MESSAGE = "cancelled by a client"

_COLUMNS = ("id, kind, parent, state, request, result, error, cancelled, runs, created_at, started_at, "
            "finished_at")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
    id          TEXT NOT NULL UNIQUE,                -- random: ids say nothing about other jobs
    kind        TEXT NOT NULL,                       -- analysis, fix, batch
    parent      TEXT,                                -- the batch of an analysis
    state       TEXT NOT NULL,
    request     TEXT NOT NULL,                       -- JSON: what to do (paths resolved, options)
    result      TEXT,                                -- JSON: a small summary, for state 'done'
    error       TEXT,
    cancelled   INTEGER NOT NULL DEFAULT 0,          -- a client asked to cancel it
    runs        INTEGER NOT NULL DEFAULT 0,          -- times it was handed to a worker
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent);
"""


@dataclass(frozen=True)
class JobRow:
    id: str
    kind: str
    parent: Optional[str]
    state: str
    request: dict[str, Any]
    result: Optional[dict[str, Any]]
    error: Optional[str]
    cancelled: bool
    runs: int
    created_at: float
    started_at: Optional[float]
    finished_at: Optional[float]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "JobRow":
        id_, kind, parent, state, request, result, error, cancelled, runs, created, started, finished = row
        return cls(id_, kind, parent, state, json.loads(request), json.loads(result) if result else None, error,
                   bool(cancelled), runs, created, started, finished)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def new_id() -> str:
    return secrets.token_hex(12)


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


class ServerStore:
    """The queue file, shared by the routes' threads and the dispatcher (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if self._db.execute("PRAGMA user_version").fetchone()[0] != STORE_VERSION:
                self._db.execute("DROP TABLE IF EXISTS jobs")
                self._db.execute(f"PRAGMA user_version={STORE_VERSION}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise SyncdeskError(f"the server's queue {path} cannot be used ({exc}): delete it to start afresh") from None
        except OSError as exc:
            raise SyncdeskError(f"cannot open the server's queue {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.rollback()
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise SyncdeskError(f"the server's queue {self.path} cannot be used: {exc}") from None

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as exc:
                raise SyncdeskError(f"the server's queue {self.path} cannot be used: {exc}") from None

    # ------------------------------------------------------------------ the routes' side

    def add(self, kind: str, request: dict[str, Any], job_id: Optional[str] = None) -> str:
        job_id = job_id or new_id()
        with self._transaction() as db:
            db.execute("INSERT INTO jobs (id, kind, state, request, created_at) VALUES (?, ?, ?, ?, ?)",
                       (job_id, kind, QUEUED, json.dumps(request), time.time()))
        return job_id

    def add_batch(self, request: dict[str, Any], children: Sequence[tuple[str, dict[str, Any]]]) -> str:
        """A batch and its analyses (``(id, request)`` each), queued together or not at all."""
        batch_id = new_id()
        now = time.time()
        with self._transaction() as db:
            db.execute("INSERT INTO jobs (id, kind, state, request, created_at) VALUES (?, ?, ?, ?, ?)",
                       (batch_id, BATCH, RUNNING if children else DONE, json.dumps(request), now))
            db.executemany("INSERT INTO jobs (id, kind, parent, state, request, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [(child_id, ANALYSIS, batch_id, QUEUED, json.dumps(child), now)
                            for child_id, child in children])
        return batch_id

    def get(self, job_id: str) -> Optional[JobRow]:
        rows = self._query(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return JobRow.from_row(rows[0]) if rows else None

    def children(self, batch_id: str) -> list[JobRow]:
        return [JobRow.from_row(row) for row in
                self._query(f"SELECT {_COLUMNS} FROM jobs WHERE parent = ? ORDER BY seq", (batch_id,))]

    def recent(self, kind: str, limit: int) -> list[JobRow]:
        """The latest jobs of a kind (a batch's analyses left out), newest first."""
        return [JobRow.from_row(row) for row in self._query(
            f"SELECT {_COLUMNS} FROM jobs WHERE kind = ? AND parent IS NULL ORDER BY seq DESC LIMIT ?",
            (kind, limit))]

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Ask to cancel: a queued job ends at once (``error``, cancelled); a running one is marked
        and the dispatcher tells its worker. Returns the ids that are running."""
        now = time.time()
        marks = ",".join("?" * len(job_ids))
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET state = ?, error = ?, cancelled = 1, finished_at = ? "
                       f"WHERE id IN ({marks}) AND state = ?", (ERROR, CANCELLED_MESSAGE, now, *job_ids, QUEUED))
            running = [row[0] for row in db.execute(f"SELECT id FROM jobs WHERE id IN ({marks}) AND state = ?",
                                                    (*job_ids, RUNNING))]
            db.execute(f"UPDATE jobs SET cancelled = 1 WHERE id IN ({marks}) AND state = ?", (*job_ids, RUNNING))
            self._settle_batches(db)
        return running

    def delete(self, job_ids: Sequence[str]) -> None:
        """Forget finished jobs (their files are the caller's to remove)."""
        marks = ",".join("?" * len(job_ids))
        with self._transaction() as db:
            db.execute(f"DELETE FROM jobs WHERE id IN ({marks}) AND state IN (?, ?)", (*job_ids, *FINISHED))

    def counts(self) -> dict[str, int]:
        rows = self._query("SELECT state, COUNT(*) FROM jobs WHERE kind != ? GROUP BY state", (BATCH,))
        return {state: count for state, count in rows}

    # ------------------------------------------------------------------ the dispatcher's side

    def recover(self) -> tuple[int, int]:
        """At start: jobs left ``running`` by a server that died go back to the queue, or fail once
        they have been started :data:`MAX_RUNS` times or were being cancelled. (queued, failed)."""
        now = time.time()
        with self._transaction() as db:
            failed = db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, error = CASE WHEN cancelled THEN ? ELSE "
                "'the server stopped while this job ran, ' || runs || ' times: it is not tried again' END "
                "WHERE state = ? AND kind != ? AND (cancelled OR runs >= ?)",
                (ERROR, now, CANCELLED_MESSAGE, RUNNING, BATCH, MAX_RUNS)).rowcount
            queued = db.execute("UPDATE jobs SET state = ?, started_at = NULL WHERE state = ? AND kind != ?",
                                (QUEUED, RUNNING, BATCH)).rowcount
        return queued, failed

    def claim(self) -> Optional[JobRow]:
        """The oldest queued job, now ``running`` (its ``runs`` counted), or None."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = ? AND kind != ? ORDER BY seq LIMIT 1",
                             (QUEUED, BATCH)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = ?, runs = runs + 1, started_at = ? WHERE id = ? AND state = ?",
                       (RUNNING, time.time(), row[0], QUEUED))
            found = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (row[0],)).fetchone()
        return JobRow.from_row(found)

    def finish(self, job_id: str, state: str, result: Optional[dict[str, Any]], error: Optional[str]) -> bool:
        """A running job's outcome; False when it was not running (nothing changed)."""
        if state not in FINISHED:
            raise ValueError(f"not a finished state: {state!r}")
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, result = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?",
                (state, json.dumps(result, allow_nan=False) if result is not None else None, error, time.time(),
                 job_id, RUNNING)).rowcount
            self._settle_batches(db)
        return bool(changed)

    def release(self, job_id: str) -> None:
        """A running job back to the queue, not counted as a run: the server is stopping."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state = ?, runs = MAX(runs - 1, 0), started_at = NULL "
                       "WHERE id = ? AND state = ?", (QUEUED, job_id, RUNNING))

    def settle_batches(self) -> None:
        with self._transaction() as db:
            self._settle_batches(db)

    @staticmethod
    def _settle_batches(db: sqlite3.Connection) -> None:
        """A batch is ``done`` once none of its analyses is queued or running."""
        db.execute("UPDATE jobs SET state = ?, finished_at = ? WHERE kind = ? AND state = ? AND NOT EXISTS "
                   "(SELECT 1 FROM jobs AS child WHERE child.parent = jobs.id AND child.state IN (?, ?))",
                   (DONE, time.time(), BATCH, RUNNING, QUEUED, RUNNING))

    def finished_before(self, when: float) -> list[JobRow]:
        """Finished top-level jobs that ended before ``when`` (for the clean-up of old jobs)."""
        return [JobRow.from_row(row) for row in self._query(
            f"SELECT {_COLUMNS} FROM jobs WHERE parent IS NULL AND state IN (?, ?) AND finished_at < ?",
            (*FINISHED, when))]
