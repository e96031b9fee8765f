"""The persistent job queue: one SQLite file (WAL mode) in the user data folder.

A job is a file analysed with given settings: one row per (path, settings key), holding the
file's size and modification time when it was queued, its state, and its result. Rows are
written the moment a job changes state, so a crash, ``kill -9`` or a closed app loses at most
the analyses that were running, and those go back to ``queued`` the next time the files are
queued. Only the process that runs a batch writes to the file; other processes may read it.
"""

from __future__ import annotations

import json
import os
import sqlite3
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
#: bump when the table's layout changes (an older store is then started afresh)
STORE_VERSION = 1

QUEUED, RUNNING, DONE, ERROR, SKIPPED = "queued", "running", "done", "error", "skipped"
FINISHED = (DONE, ERROR, SKIPPED)

_COLUMNS = "id, path, size, mtime_ns, state, result, message, analyses, started_at, finished_at"
_SCHEMA = """
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
)
"""


def default_path() -> Path:
    return settings.data_dir() / STORE_NAME


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
    """The queue file; use as a context manager (or call :meth:`close`)."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise SyncdeskError(f"cannot open the batch queue {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a committed job survives a killed process
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version != STORE_VERSION:
                self._db.execute("DROP TABLE IF EXISTS jobs")
                self._db.execute(f"PRAGMA user_version={STORE_VERSION}")
            self._db.execute(_SCHEMA)
        except sqlite3.OperationalError as exc:  # locked by another process for too long, read-only...
            self._db.close()
            raise SyncdeskError(f"the batch queue {self.path} cannot be used: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise SyncdeskError(f"the batch queue {self.path} is damaged ({exc}): delete it to start afresh") from None

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
