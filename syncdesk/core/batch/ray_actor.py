"""The Ray side of a batch: the actor that :mod:`.ray_executor` starts once per worker slot.

An :class:`Analyser` loads SyncNet (and the face detector) once, in :meth:`Analyser.ready`, then
analyses many files with the same code as a local worker process (:func:`.worker.analyse_file`),
up to ``slots`` at once (threads: more than one where it owns a GPU). It never writes to the
queue: each outcome goes back to the driver with the whole document, for the driver's cache.

The weights come from the driver through Ray's object store and are written once per node under
the system's temporary folder, named by their sha256, so every actor computes with the driver's
weights whatever its node has installed. :meth:`Analyser.ready` also compares the settings it
would analyse with (options, weights, schema, syncdesk's version) with the driver's queue key,
so a node with another syncdesk can never store a result under the wrong key.

A plain class (Ray wraps it with ``ray.remote``); it imports no Ray until asked for its node.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from ..cache import AnalysisCache
from ..cancel import CancelToken
from ..errors import SyncdeskError
from ..memory import tune_malloc
from ..models.weights import sha256_file
from ..options import AnalysisOptions
from ..outputs import atomic_output
from .session import Settings
from ..results import Analysis
from .worker import CANCELLED, FATAL, READY, Outcome, analyse_file, warm_up

#: a file's bytes as the driver ships them (``--ship-files``): bytes, or a numpy array of uint8
Shipped = Any
#: ``(outcome, result, message, document)``; the document only with ``done``
Reply = tuple[str, Optional[dict[str, Any]], Optional[str], Optional[Analysis]]


def _node() -> str:
    import ray

    return ray.util.get_node_ip_address()


def materialise(name: str, data: bytes, folder: Optional[Path] = None) -> Path:
    """``data`` (weights) as a file named by its sha256 in ``folder`` (the temporary folder's
    ``syncdesk-ray-weights``), written once per node and checked when already there."""
    digest = hashlib.sha256(data).hexdigest()
    folder = folder or Path(tempfile.gettempdir()) / "syncdesk-ray-weights"
    target = folder / f"{name}-{digest}.pth"
    if target.is_file() and sha256_file(target) == digest:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SyncdeskError(f"cannot create {folder}: {exc.strerror or exc}") from None
    with atomic_output(target) as part:
        part.write_bytes(data)
    return target


class Analyser:
    """One worker slot on a Ray node. ``settings``: the driver's :attr:`Settings.fields` (the queue
    key's); ``syncnet`` / ``s3fd``: the weights' bytes (``s3fd`` only when that detector is used)."""

    def __init__(self, options: AnalysisOptions, settings: dict[str, Any], threads: int, slots: int,
                 syncnet: bytes, s3fd: Optional[bytes] = None) -> None:
        tune_malloc()  # as a local worker does, as early as our code runs in this process
        self._options = options
        self._settings = settings
        self._threads = threads
        self._slots = threading.Semaphore(slots)
        self._weights: dict[str, Optional[bytes]] = {"syncnet": syncnet, "s3fd": s3fd}
        self._lock = threading.Lock()
        self._fractions: dict[int, float] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._stopping = False
        self._cache: Optional[AnalysisCache] = None

    def ready(self) -> tuple[str, ...]:
        """Write the weights, check the settings, load the model: ``(READY, device type, node)``
        or ``(FATAL, message)``."""
        node = _node()
        try:
            syncnet, s3fd = self._weights["syncnet"], self._weights["s3fd"]
            assert syncnet is not None
            options = replace(self._options, weights=materialise("syncnet", syncnet),
                              s3fd_weights=materialise("s3fd", s3fd) if s3fd is not None else None)
            self._weights = {}
            device = warm_up(0, self._threads, options)
            fields = Settings.of(options).fields
        except SyncdeskError as exc:
            return FATAL, f"the Ray worker on {node} cannot start: {exc}"
        differ = [f"{name} {fields.get(name)!r} (driver: {value!r})" for name, value in self._settings.items()
                  if fields.get(name) != value]
        if differ:
            return FATAL, (f"the Ray worker on {node} would not analyse as the driver does: {', '.join(differ)}; "
                           "install the same syncdesk on every node")
        self._options = options
        self._cache = AnalysisCache()
        return READY, device, node

    def analyse(self, job_id: int, path: str, shipped: Optional[Shipped] = None) -> Reply:
        """One file, by ``path`` (a file system every node sees) or from ``shipped`` bytes (then
        analysed from a temporary copy of the same name, so messages name the file as locally)."""
        with self._slots:
            token = CancelToken()
            with self._lock:
                if self._stopping:
                    return CANCELLED, None, None, None
                self._tokens[job_id] = token
            try:
                outcome, analysis = self._analyse(job_id, Path(path), shipped, token)
            finally:
                with self._lock:
                    self._tokens.pop(job_id, None)
                    self._fractions.pop(job_id, None)
        if analysis is not None:
            analysis.source.path = path
        return (*outcome, analysis)

    def _analyse(self, job_id: int, path: Path, shipped: Optional[Shipped],
                 token: CancelToken) -> tuple[Outcome, Optional[Analysis]]:
        assert self._cache is not None, "ready() first"
        if shipped is None:
            return analyse_file(self._record, job_id, path, self._options, self._cache, token)
        with tempfile.TemporaryDirectory(prefix="syncdesk-shipped-") as folder:
            copy = Path(folder) / path.name
            copy.write_bytes(memoryview(shipped))
            return analyse_file(self._record, job_id, copy, self._options, self._cache, token)

    def _record(self, message: tuple[Any, ...]) -> bool:
        """The worker's ``send`` for progress: kept until :meth:`progress` is asked."""
        _, job_id, fraction = message
        with self._lock:
            if job_id in self._tokens:
                self._fractions[job_id] = fraction
        return True

    def progress(self) -> dict[int, float]:
        """How far each running file is (fraction of it)."""
        with self._lock:
            return dict(self._fractions)

    def cancel(self) -> None:
        """Cancel what runs; files sent and not started come back ``cancelled`` at once."""
        with self._lock:
            self._stopping = True
            tokens = list(self._tokens.values())
        for token in tokens:
            token.cancel()

