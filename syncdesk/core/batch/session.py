"""Put a scan in the queue under a settings key: what makes "the same analysis" for a batch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ... import __version__
from .. import results
from ..cache import settled_fingerprint, weights_identity
from ..options import AnalysisOptions
from .scan import Skipped, scan
from .store import QUEUED, Job, JobStore


@dataclass(frozen=True)
class Settings:
    """What changes a result: the options' fingerprint (``auto`` detector and precision resolved), the
    weights' sha256, the document schema and syncdesk's version. ``key`` names them in the queue."""

    fields: dict[str, Any]
    key: str

    @classmethod
    def of(cls, options: AnalysisOptions) -> "Settings":
        """Raises ``WeightsError`` when the SyncNet weights cannot be found, ``SyncdeskError`` for
        a device that is not there."""
        fields = dict(settled_fingerprint(options), weights_sha256=weights_identity(options),
                      schema=results.SCHEMA, version=__version__)
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        return cls(fields, digest[:32])


@dataclass
class Batch:
    """The jobs of one scan (in scan order) and the files it skipped."""

    settings: Settings
    jobs: list[Job]
    skipped: list[Skipped] = field(default_factory=list)

    def pending(self) -> list[Job]:
        return [job for job in self.jobs if job.state == QUEUED]

    def refreshed(self, store: JobStore) -> "Batch":
        """The same batch with its jobs read again from ``store``."""
        return Batch(self.settings, store.jobs(job.id for job in self.jobs), self.skipped)


def prepare(paths: Iterable[Path], options: AnalysisOptions, store: JobStore, exclude: Iterable[Path] = (),
            retry_errors: bool = False) -> Batch:
    """Scan ``paths`` and queue what is not analysed yet with these settings (see
    :meth:`JobStore.enqueue`); nothing is analysed here."""
    settings = Settings.of(options)
    found = scan(paths, exclude)
    return Batch(settings, store.enqueue(found.files, settings.key, retry_errors), found.skipped)
