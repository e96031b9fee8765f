"""The persistent job store: one SQLite file (WAL mode) in the user data folder, with two tables.

``jobs``, the batch queue: a file analysed with given settings, one row per (path, settings key),
holding the file's size and modification time when it was queued, its state, and its result.
Rows are written the moment a job changes state, so a crash, ``kill -9`` or a closed app loses at
most the analyses that were running, and those go back to ``queued`` the next time the files are
queued. Only the process that runs a batch writes to this table; other processes may read it.

``requests``, the jobs clients ask ``syncdesk serve`` for (:class:`RequestedJobs`): a kind, the
request and its result as JSON, a parent (a batch's analyses), a cancel flag and a count of runs.
The same rules: a row is written at each change of state; one process dispatches (the server's
file lock) and it alone moves a job to ``running`` and out of it, each move one conditional
``UPDATE``, so that a job is never handed out twice; a job found ``running`` when that process
starts again was interrupted by a crash: it is queued again, or failed with the reason once it has
been started :data:`MAX_RUNS` times.

The states, :data:`MAX_RUNS` and the layout's version live here and nowhere else.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Iterator, Optional, Sequence

from .. import settings
from ..errors import SyncdeskError
from .scan import FoundFile

STORE_NAME = "batch.sqlite3"
#: the layout's version: 1 the batch queue alone, 2 adds ``requests``. An older store gains what
#: it lacks and keeps its rows; one from a newer syncdesk is refused, never emptied.
STORE_VERSION = 2

QUEUED, RUNNING, DONE, ERROR, SKIPPED = "queued", "running", "done", "error", "skipped"
FINISHED = (DONE, ERROR, SKIPPED)
#: the kinds of requested jobs: a batch is finished once none of its analyses is queued or running
ANALYSIS, FIX, BATCH = "analysis", "fix", "batch"
#: a requested job started this many times without finishing (its process died each time) is failed
MAX_RUNS = 3
CANCELLED_MESSAGE = "cancelled by a client"

_COLUMNS = "id, path, size, mtime_ns, state, result, message, analyses, started_at, finished_at"
#: each version's additions, all ``IF NOT EXISTS``: a store of any older version is brought up to date
_SCHEMA = ("""
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    path        BLOB NOT NULL,      -- os.fsencode(path): any file name the OS allows
    settings    TEXT NOT NULL,      -- session.Settings.key
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    result      TEXT,               -- JSON, for state 'done'
    message     TEXT,               -- the error, the reason for a skip, or the analysis's first note
    analyses    INTEGER NOT NULL DEFAULT 0,  -- times the job was handed to a worker
    queued_at   REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    UNIQUE (path, settings)
)""", """
CREATE TABLE IF NOT EXISTS requests (
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
)""", "CREATE INDEX IF NOT EXISTS requests_state ON requests (state, seq)",
           "CREATE INDEX IF NOT EXISTS requests_parent ON requests (parent)")


def default_path() -> Path:
    return store_path(settings.data_dir())


def store_path(data: Path) -> Path:
    """The store in the data folder ``data``."""
    return data / STORE_NAME


def _open(path: Path, what: str, threads: bool = False) -> sqlite3.Connection:
    """A connection to the store at ``path``, its layout brought up to :data:`STORE_VERSION`
    (``what`` names it in errors; ``threads``: the connection is shared by threads, under a lock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=not threads)
    except (OSError, sqlite3.Error) as exc:
        raise SyncdeskError(f"cannot open {what} {path}: {exc}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: a committed job survives a killed process
        _migrate(db, path, what)
    except sqlite3.OperationalError as exc:  # locked by another process for too long, read-only...
        db.close()
        raise SyncdeskError(f"{what} {path} cannot be used: {exc}") from None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise SyncdeskError(f"{what} {path} is damaged ({exc}): delete it to start afresh") from None
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection, path: Path, what: str) -> None:
    """Bring the layout up to date in one transaction (two processes may open a new store at once)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > STORE_VERSION:
            raise SyncdeskError(f"{what} {path} was written by a newer syncdesk (layout {version}, this one knows "
                                f"{STORE_VERSION}): use that version, or move the file away to start afresh")
        if version < STORE_VERSION:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={STORE_VERSION}")
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


@dataclass(frozen=True)
class Job:
    id: int
    path: Path
    size: int
    mtime_ns: int
    state: str
    result: Optional[dict[str, Any]]
    message: Optional[str]
    analyses: int
    started_at: Optional[float]
    finished_at: Optional[float]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Job":
        id_, path, size, mtime_ns, state, result, message, analyses, started_at, finished_at = row
        return cls(id_, Path(os.fsdecode(path)), size, mtime_ns, state,
                   json.loads(result) if result else None, message, analyses, started_at, finished_at)


class JobStore:
    """The batch queue (the ``jobs`` table); use as a context manager (or call :meth:`close`)."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._db = _open(self.path, "the batch queue")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def enqueue(self, files: Sequence[FoundFile], settings_key: str, retry_errors: bool = False) -> list[Job]:
        """The jobs for ``files`` (same order), creating the missing ones as ``queued``.

        A job whose file changed (size or modification time) is queued afresh; one left
        ``running`` (by a process that was killed) goes back to ``queued``; ``error`` rows are
        queued again only with ``retry_errors``. Finished jobs are otherwise kept as they are.
        """
        now = time.time()
        ids = []
        with self._transaction():
            for found in files:
                key = os.fsencode(found.path)
                row = self._execute("SELECT id, size, mtime_ns, state FROM jobs WHERE path = ? AND settings = ?",
                                       (key, settings_key)).fetchone()
                if row is None:
                    cursor = self._execute(
                        "INSERT INTO jobs (path, settings, size, mtime_ns, state, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (key, settings_key, found.size, found.mtime_ns, QUEUED, now))
                    ids.append(int(cursor.lastrowid))
                    continue
                id_, size, mtime_ns, state = row
                ids.append(id_)
                if (size, mtime_ns) != (found.size, found.mtime_ns):
                    self._execute(
                        "UPDATE jobs SET size = ?, mtime_ns = ?, state = ?, result = NULL, message = NULL, "
                        "queued_at = ?, started_at = NULL, finished_at = NULL WHERE id = ?",
                        (found.size, found.mtime_ns, QUEUED, now, id_))
                elif state == RUNNING or (state == ERROR and retry_errors):
                    self._execute("UPDATE jobs SET state = ?, started_at = NULL WHERE id = ?", (QUEUED, id_))
        return self.jobs(ids)

    def jobs(self, ids: Iterable[int]) -> list[Job]:
        """The jobs with these ids, in that order."""
        ids = list(ids)
        found: dict[int, Job] = {}
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._execute(f"SELECT {_COLUMNS} FROM jobs WHERE id IN ({marks})", chunk):
                found[row[0]] = Job.from_row(row)
        return [found[id_] for id_ in ids if id_ in found]

    def start(self, job_id: int) -> None:
        self._execute("UPDATE jobs SET state = ?, started_at = ?, finished_at = NULL, analyses = analyses + 1 "
                         "WHERE id = ?", (RUNNING, time.time(), job_id))

    def finish(self, job_id: int, state: str, result: Optional[dict[str, Any]], message: Optional[str]) -> None:
        if state not in FINISHED:
            raise ValueError(f"not a finished state: {state!r}")
        self._execute("UPDATE jobs SET state = ?, result = ?, message = ?, finished_at = ? WHERE id = ?",
                         (state, json.dumps(result, allow_nan=False) if result is not None else None,
                          message, time.time(), job_id))

    def release(self, job_id: int) -> None:
        """Back to ``queued``: a cancelled or interrupted job."""
        self._execute("UPDATE jobs SET state = ?, started_at = NULL WHERE id = ? AND state = ?",
                         (QUEUED, job_id, RUNNING))

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.Error as exc:  # locked for too long, disk full, file removed...
            raise SyncdeskError(f"the batch queue {self.path} cannot be used: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write lock and one commit for many rows."""
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        self._execute("COMMIT")


# ---------------------------------------------------------------------- requested jobs (the server's)

_REQUEST_COLUMNS = ("id, kind, parent, state, request, result, error, cancelled, runs, created_at, started_at, "
                    "finished_at")


def new_id() -> str:
    """A requested job's id: random, so that ids say nothing about other jobs."""
    return secrets.token_hex(12)


@dataclass(frozen=True)
class RequestedJob:
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
    def from_row(cls, row: Sequence[Any]) -> "RequestedJob":
        id_, kind, parent, state, request, result, error, cancelled, runs, created, started, finished = row
        return cls(id_, kind, parent, state, json.loads(request), json.loads(result) if result else None, error,
                   bool(cancelled), runs, created, started, finished)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class RequestedJobs:
    """The ``requests`` table, shared by a server's routes (they add jobs, read them and mark
    cancels) and its dispatcher (the only one to claim, finish and release): one connection, one lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = _open(self.path, "the job queue", threads=True)

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
                raise SyncdeskError(f"the job queue {self.path} cannot be used: {exc}") from None

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[RequestedJob]:
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT {_REQUEST_COLUMNS} FROM requests {sql}", parameters).fetchall()
            except sqlite3.Error as exc:
                raise SyncdeskError(f"the job queue {self.path} cannot be used: {exc}") from None
        return [RequestedJob.from_row(row) for row in rows]

    # ------------------------------------------------------------------ adding and reading (any thread)

    def add(self, kind: str, request: dict[str, Any], job_id: Optional[str] = None) -> str:
        job_id = job_id or new_id()
        with self._transaction() as db:
            db.execute("INSERT INTO requests (id, kind, state, request, created_at) VALUES (?, ?, ?, ?, ?)",
                       (job_id, kind, QUEUED, json.dumps(request), time.time()))
        return job_id

    def add_batch(self, request: dict[str, Any], children: Sequence[tuple[str, dict[str, Any]]]) -> str:
        """A batch and its analyses (``(id, request)`` each), queued together or not at all."""
        batch_id = new_id()
        now = time.time()
        with self._transaction() as db:
            db.execute("INSERT INTO requests (id, kind, state, request, created_at) VALUES (?, ?, ?, ?, ?)",
                       (batch_id, BATCH, RUNNING if children else DONE, json.dumps(request), now))
            db.executemany("INSERT INTO requests (id, kind, parent, state, request, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(child_id, ANALYSIS, batch_id, QUEUED, json.dumps(child), now)
                            for child_id, child in children])
        return batch_id

    def get(self, job_id: str) -> Optional[RequestedJob]:
        found = self._query("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def children(self, batch_id: str) -> list[RequestedJob]:
        return self._query("WHERE parent = ? ORDER BY seq", (batch_id,))

    def recent(self, kind: str, limit: int) -> list[RequestedJob]:
        """The latest jobs of a kind (a batch's analyses left out), newest first."""
        return self._query("WHERE kind = ? AND parent IS NULL ORDER BY seq DESC LIMIT ?", (kind, limit))

    def finished_before(self, when: float) -> list[RequestedJob]:
        """Finished top-level jobs that ended before ``when`` (for the clean-up of old jobs)."""
        return self._query(f"WHERE parent IS NULL AND state IN ({_marks(FINISHED)}) AND finished_at < ?",
                           (*FINISHED, when))

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Ask to cancel: a queued job ends at once (``error``, cancelled); a running one is marked
        and the dispatcher tells its worker. Returns the ids that are running."""
        now = time.time()
        marks = _marks(job_ids)
        with self._transaction() as db:
            db.execute(f"UPDATE requests SET state = ?, error = ?, cancelled = 1, finished_at = ? "
                       f"WHERE id IN ({marks}) AND state = ?", (ERROR, CANCELLED_MESSAGE, now, *job_ids, QUEUED))
            running = [row[0] for row in db.execute(f"SELECT id FROM requests WHERE id IN ({marks}) AND state = ?",
                                                    (*job_ids, RUNNING))]
            db.execute(f"UPDATE requests SET cancelled = 1 WHERE id IN ({marks}) AND state = ?", (*job_ids, RUNNING))
            self._settle_batches(db)
        return running

    def delete(self, job_ids: Sequence[str]) -> None:
        """Forget finished jobs (their files are the caller's to remove)."""
        with self._transaction() as db:
            db.execute(f"DELETE FROM requests WHERE id IN ({_marks(job_ids)}) AND state IN ({_marks(FINISHED)})",
                       (*job_ids, *FINISHED))

    # ------------------------------------------------------------------ the dispatcher's side

    def recover(self) -> tuple[int, int]:
        """At start: jobs left ``running`` by a dispatcher that died go back to the queue, or fail
        once they have been started :data:`MAX_RUNS` times or were being cancelled. (queued, failed)."""
        now = time.time()
        with self._transaction() as db:
            failed = db.execute(
                "UPDATE requests SET state = ?, finished_at = ?, error = CASE WHEN cancelled THEN ? ELSE "
                "'the server stopped while this job ran, ' || runs || ' times: it is not tried again' END "
                "WHERE state = ? AND kind != ? AND (cancelled OR runs >= ?)",
                (ERROR, now, CANCELLED_MESSAGE, RUNNING, BATCH, MAX_RUNS)).rowcount
            queued = db.execute("UPDATE requests SET state = ?, started_at = NULL WHERE state = ? AND kind != ?",
                                (QUEUED, RUNNING, BATCH)).rowcount
            self._settle_batches(db)
        return queued, failed

    def claim(self) -> Optional[RequestedJob]:
        """The oldest queued job, now ``running`` (its ``runs`` counted), or None."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM requests WHERE state = ? AND kind != ? ORDER BY seq LIMIT 1",
                             (QUEUED, BATCH)).fetchone()
            if row is None:
                return None
            claimed = db.execute("UPDATE requests SET state = ?, runs = runs + 1, started_at = ? "
                                 "WHERE id = ? AND state = ?", (RUNNING, time.time(), row[0], QUEUED)).rowcount
            found = db.execute(f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = ?", (row[0],)).fetchone()
        return RequestedJob.from_row(found) if claimed else None

    def finish(self, job_id: str, state: str, result: Optional[dict[str, Any]], error: Optional[str]) -> bool:
        """A running job's outcome; False when it was not running (nothing changed)."""
        if state not in FINISHED:
            raise ValueError(f"not a finished state: {state!r}")
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE requests SET state = ?, result = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?",
                (state, json.dumps(result, allow_nan=False) if result is not None else None, error, time.time(),
                 job_id, RUNNING)).rowcount
            self._settle_batches(db)
        return bool(changed)

    def release(self, job_id: str) -> None:
        """A running job back to the queue, not counted as a run (the dispatcher is stopping, or
        its worker never got the job)."""
        with self._transaction() as db:
            db.execute("UPDATE requests SET state = ?, runs = MAX(runs - 1, 0), started_at = NULL "
                       "WHERE id = ? AND state = ?", (QUEUED, job_id, RUNNING))

    @staticmethod
    def _settle_batches(db: sqlite3.Connection) -> None:
        """A batch is ``done`` once none of its analyses is queued or running."""
        db.execute("UPDATE requests SET state = ?, finished_at = ? WHERE kind = ? AND state = ? AND NOT EXISTS "
                   "(SELECT 1 FROM requests AS child WHERE child.parent = requests.id AND child.state IN (?, ?))",
                   (DONE, time.time(), BATCH, RUNNING, QUEUED, RUNNING))
