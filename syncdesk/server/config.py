"""What a server is started with, and where it keeps its files (all below the data folder)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..core import AnalysisOptions
from ..core.batch.processes import default_workers as default_workers  # the batch's: half the cores
from ..core.batch.store import store_path
from .security import Root

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_UPLOAD_MB = 4096
#: finished jobs and their files are removed after this many hours (0: kept until deleted)
DEFAULT_KEEP_HOURS = 72.0
HOME_NAME = "server"


def server_home(data: Path) -> Path:
    """The server's own folder: the token, the lock, uploads being received, one folder per job."""
    return data / HOME_NAME


@dataclass(frozen=True)
class ServerConfig:
    roots: tuple[Root, ...]
    options: AnalysisOptions  # the server's analysis options: each request's start from these
    token: str
    data: Path  # the data folder: the server's jobs live in its batch store
    workers: int = 1
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    keep_hours: float = DEFAULT_KEEP_HOURS

    @property
    def store(self) -> Path:
        """The SQLite store the server keeps its jobs in: the one ``syncdesk batch`` uses."""
        return store_path(self.data)

    @property
    def home(self) -> Path:
        return server_home(self.data)

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def incoming_dir(self) -> Path:
        return self.home / "incoming"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id


def options_to_dict(options: AnalysisOptions) -> dict[str, Any]:
    """Options as JSON (the queue keeps them with each job)."""
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(options).items()}


def options_from_dict(data: dict[str, Any]) -> AnalysisOptions:
    fields = dict(data)
    for key in ("weights", "s3fd_weights"):
        fields[key] = Path(fields[key]) if fields.get(key) else None
    return AnalysisOptions(**fields)


def with_changes(options: AnalysisOptions, changes: Optional[dict[str, Any]]) -> AnalysisOptions:
    return dataclasses.replace(options, **(changes or {}))
