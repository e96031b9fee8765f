"""A worker process of the batch pool: it analyses one file per request from the parent.

Spawned (never forked: torch's threads do not survive a fork) with one end of a duplex pipe.
First the worker checks the options, picks the device and loads the model (once: ``analysis``
keeps it per process), and replies ``("ready", device_type)``, or ``("fatal", message)`` for a
problem of the whole batch (bad option, no such device, unreadable weights) and exits.
Requests: ``(job_id, path)``, :data:`CANCEL`, or ``None`` to exit. Replies: ``("progress",
job_id, fraction)`` now and then, and one ``("finished", job_id, outcome, result, message)`` per
request, where ``outcome`` is a store state (``done``, ``error``, ``skipped``), :data:`CANCELLED`
or :data:`FATAL`. Results are small dicts, never frames. Each analysis also goes into the
:class:`AnalysisCache`, so the app opens a batch job at once.

On a GPU only worker 0 loads the model: the others reply ``ready`` at once and the parent lets
them go (one process owns the device). Nothing heavy is imported before Ctrl-C is ignored.
"""

from __future__ import annotations

import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

from ..cache import AnalysisCache
from ..cancel import CancelToken
from ..errors import Cancelled, SyncdeskError, WeightsError
from ..media import open_input
from ..options import AnalysisOptions
from ..results import Analysis
from .store import DONE, ERROR, SKIPPED

CANCEL = "cancel"
#: the kinds of replies
READY, PROGRESS, FINISHED = "ready", "progress", "finished"
#: outcomes of a request besides the store's states; FATAL is also the reply of a failed start
CANCELLED, FATAL = "cancelled", "fatal"
#: seconds between progress replies, and between looks at the pipe for a cancel
PROGRESS_EVERY_S = 0.5
POLL_EVERY_S = 0.1
#: share of a file's time per stage: (start, end)
_STAGES = {"audio": (0.0, 0.05), "faces": (0.05, 0.5), "embeddings": (0.5, 1.0)}
_WHOLE_FRAME_STAGES = {"audio": (0.0, 0.05), "embeddings": (0.05, 1.0)}

Outcome = tuple[str, Optional[dict[str, Any]], Optional[str]]


class _PipeToken(CancelToken):
    """Cancelled when the parent sends anything (a cancel) or goes away (the pipe closes)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn
        self._lock = threading.Lock()  # the decoder thread checks too
        self._next = 0.0

    def check(self) -> None:
        now = time.monotonic()
        if now >= self._next and not self.cancelled and self._lock.acquire(blocking=False):
            try:
                self._next = now + POLL_EVERY_S
                if self._conn.poll():
                    self.cancel()
            except OSError:
                self.cancel()
            finally:
                self._lock.release()
        super().check()


class _Progress:
    """The engine's ``progress(stage, fraction)`` as one fraction of the file, sent now and then."""

    def __init__(self, conn: Connection, job_id: int, whole_frame: bool) -> None:
        self._conn = conn
        self._job_id = job_id
        self._stages = _WHOLE_FRAME_STAGES if whole_frame else _STAGES
        self._next = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        span = self._stages.get(stage)
        now = time.monotonic()
        if span is None or now < self._next:
            return
        self._next = now + PROGRESS_EVERY_S
        _send(self._conn, (PROGRESS, self._job_id, span[0] + (span[1] - span[0]) * fraction))


def _send(conn: Connection, message: tuple[Any, ...]) -> bool:
    try:
        conn.send(message)
        return True
    except OSError:  # the parent is gone
        return False


def summary(analysis: Analysis) -> dict[str, Any]:
    """What the queue keeps of an analysis (the whole document is in the cache)."""
    return {
        "offset_frames": analysis.offset_frames,
        "offset_ms": analysis.offset_ms,
        "confidence": analysis.confidence,
        "min_dist": analysis.min_dist,
        "verdict_source": analysis.verdict_source,
        "tracks": len(analysis.tracks),
        "duration_s": analysis.source.duration_s,
    }


def _has_video(path: Path) -> bool:
    with open_input(path) as container:
        return bool(container.streams.video)


def _analyse(conn: Connection, job_id: int, path: Path, options: AnalysisOptions, cache: AnalysisCache) -> Outcome:
    from ..analysis import analyze

    try:
        if not _has_video(path):
            return SKIPPED, None, f"{path.name} has no video stream"
        analysis = cache.get(path, options)
        if analysis is None:
            analysis = analyze(path, options, progress=_Progress(conn, job_id, options.detector == "whole-frame"),
                               cancel=_PipeToken(conn))
            try:
                cache.put(path, options, analysis)
            except SyncdeskError:  # a full or read-only cache costs a re-analysis in the app, nothing more
                pass
        return DONE, summary(analysis), analysis.warnings[0] if analysis.warnings else None
    except Cancelled:
        return CANCELLED, None, None
    except WeightsError as exc:
        return FATAL, None, str(exc)
    except SyncdeskError as exc:
        return ERROR, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch: it becomes an error row
        return ERROR, None, f"{path.name}: unexpected error: {type(exc).__name__}: {exc}"


def _warm_up(index: int, threads: int, options: AnalysisOptions) -> str:
    """Check the options, pick the device, load the model; the device type. ``threads``: torch's
    threads on CPU (a GPU's process keeps torch's default, one per core)."""
    import torch

    from ..analysis import load_model, validate_options  # the engine's own checks and its per-process model
    from ..sync.loading import resolve_device
    from ..sync.weights import locate

    validate_options(options)
    device = resolve_device(options.device)
    if device.type != "cpu" and index > 0:
        return device.type
    if device.type == "cpu":
        torch.set_num_threads(threads)
    load_model(locate("syncnet", options.weights), device)
    return device.type


def serve(conn: Connection, index: int, threads: int, options: AnalysisOptions) -> None:
    """The process's main loop (the ``target`` the parent spawns)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent handles it
    try:
        device = _warm_up(index, threads, options)
    except SyncdeskError as exc:
        _send(conn, (FATAL, str(exc)))
        return
    if not _send(conn, (READY, device)):
        return
    cache = AnalysisCache()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone (killed)
            return
        if request is None:
            return
        if request == CANCEL:  # came after the job it was meant for had finished
            continue
        job_id, path = request
        outcome = _analyse(conn, job_id, Path(path), options, cache)
        if not _send(conn, (FINISHED, job_id, *outcome)):
            return
