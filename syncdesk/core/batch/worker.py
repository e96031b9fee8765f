"""A worker process of the batch pool: it analyses one file per request from the parent.

Spawned (never forked: torch's threads do not survive a fork) with one end of a duplex pipe.
First the worker checks the options, picks the device and loads the model (once: ``analysis``
keeps it per process), and replies ``("ready", device_type)``, or ``("fatal", message)`` for a
problem of the whole batch (bad option, no such device, unreadable weights) and exits.
Requests: ``(job_id, path)``, :data:`CANCEL` (every running job), or ``None`` to exit. Replies:
``("progress", job_id, fraction)`` now and then, and one ``("finished", job_id, outcome, result,
message)`` per request, where ``outcome`` is a store state (``done``, ``error``, ``skipped``),
:data:`CANCELLED` or :data:`FATAL`. Results are small dicts, never frames. Each analysis also goes
into the :class:`AnalysisCache`, so the app opens a batch job at once.

Each request runs in a thread of its own; the main thread only reads the pipe, so a cancel (or the
parent's death) is seen at once. On CPU the parent sends one request at a time. On a GPU only
worker 0 loads the model (the others reply ``ready`` at once and the parent lets them go) and the
parent sends it several files at once: their decoders, face scans and crops run in parallel
threads while the one model on the device serves them all. Nothing heavy is imported before
Ctrl-C is ignored.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Optional

from ..cache import AnalysisCache
from ..cancel import CancelToken
from ..errors import Cancelled, SyncdeskError, WeightsError
from ..media import open_input
from ..options import AnalysisOptions
from ..progress import StageProgress, analysis_stages
from ..results import Analysis
from ..tolerance import confident_parts
from .store import DONE, ERROR, SKIPPED

CANCEL = "cancel"
#: the kinds of replies
READY, PROGRESS, FINISHED = "ready", "progress", "finished"
#: outcomes of a request besides the store's states; FATAL is also the reply of a failed start
CANCELLED, FATAL = "cancelled", "fatal"
#: seconds between progress replies
PROGRESS_EVERY_S = 0.5
#: share of a file's time per stage: (start, end)

Outcome = tuple[str, Optional[dict[str, Any]], Optional[str]]


def _progress(send: Callable[[tuple[Any, ...]], bool], job_id: int, detector: str) -> StageProgress:
    """The engine's progress as one fraction of the file, sent to the runner now and then."""
    return StageProgress(lambda overall, _stage: send((PROGRESS, job_id, overall)), analysis_stages(detector),
                         PROGRESS_EVERY_S)


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
        # what a tolerance judges (any tolerance, at report time, like the presets)
        "parts": [asdict(part) for part in confident_parts(analysis)],
    }


def _has_video(path: Path) -> bool:
    with open_input(path) as container:
        return bool(container.streams.video)


def analyse_file(send: Callable[[tuple[Any, ...]], bool], job_id: int, path: Path, options: AnalysisOptions,
                 cache: AnalysisCache, cancel: CancelToken) -> tuple[Outcome, Optional[Analysis]]:
    """One job: its outcome and, when ``done``, the whole document (a Ray worker sends it to the
    driver's cache; a local worker shares that cache already)."""
    from ..analysis import analyze_cached

    try:
        if not _has_video(path):
            return (SKIPPED, None, f"{path.name} has no video stream"), None
        analysis, _ = analyze_cached(path, options, cache, cancel=cancel,
                                     progress=_progress(send, job_id, options.detector))
        return (DONE, summary(analysis), analysis.warnings[0] if analysis.warnings else None), analysis
    except Cancelled:
        return (CANCELLED, None, None), None
    except WeightsError as exc:
        return (FATAL, None, str(exc)), None
    except SyncdeskError as exc:
        return (ERROR, None, str(exc)), None
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch: it becomes an error row
        return (ERROR, None, f"{path.name}: unexpected error: {type(exc).__name__}: {exc}"), None


def _analyse(send: Callable[[tuple[Any, ...]], bool], job_id: int, path: Path, options: AnalysisOptions,
             cache: AnalysisCache, cancel: CancelToken) -> Outcome:
    return analyse_file(send, job_id, path, options, cache, cancel)[0]


def warm_up(index: int, threads: int, options: AnalysisOptions) -> str:
    """Check the options, pick the device, load the model; the device type. ``threads``: torch's
    threads on CPU (a GPU's process keeps torch's default, one per core)."""
    import torch

    from ..pipeline import load_model  # the engine's per-process model
    from ..options import validate_options
    from ..models.device import resolve_device
    from ..models.weights import locate

    validate_options(options)
    device = resolve_device(options.device)
    if device.type != "cpu" and index > 0:
        return device.type
    if device.type == "cpu":
        torch.set_num_threads(threads)
    load_model(locate("syncnet", options.weights), device)
    return device.type


class _Jobs:
    """The analyses running in this process, a thread each; replies go through one lock."""

    def __init__(self, conn: Connection, options: AnalysisOptions) -> None:
        self._conn = conn
        self._options = options
        self._cache = AnalysisCache()
        self._send_lock = threading.Lock()
        self._tokens: dict[int, CancelToken] = {}
        self._threads: list[threading.Thread] = []

    def send(self, message: tuple[Any, ...]) -> bool:
        with self._send_lock:
            return _send(self._conn, message)

    def start(self, job_id: int, path: Path) -> None:
        token = self._tokens[job_id] = CancelToken()
        thread = threading.Thread(target=self._run, args=(job_id, path, token), name=f"syncdesk-job-{job_id}",
                                  daemon=True)
        self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
        thread.start()

    def _run(self, job_id: int, path: Path, token: CancelToken) -> None:
        outcome = _analyse(self.send, job_id, path, self._options, self._cache, token)
        self._tokens.pop(job_id, None)
        self.send((FINISHED, job_id, *outcome))

    def cancel_all(self) -> None:
        for token in list(self._tokens.values()):
            token.cancel()

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()


def serve(conn: Connection, index: int, threads: int, options: AnalysisOptions) -> None:
    """The process's main loop (the ``target`` the parent spawns)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent handles it
    from ..memory import tune_malloc  # here, not at the top: the parent (the app, the command line) imports this module

    tune_malloc()  # before torch's threads and the job threads first allocate
    try:
        device = warm_up(index, threads, options)
    except SyncdeskError as exc:
        _send(conn, (FATAL, str(exc)))
        return
    if not _send(conn, (READY, device)):
        return
    jobs = _Jobs(conn, options)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the parent is gone (killed): stop what runs
                return
            if request is None:
                return
            if request == CANCEL:
                jobs.cancel_all()
                continue
            job_id, path = request
            jobs.start(job_id, Path(path))
    finally:
        jobs.cancel_all()
        jobs.wait()
