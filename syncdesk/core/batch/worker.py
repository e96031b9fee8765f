"""What a batch's worker process does: it analyses one file per job, with the engine loaded once.

The processes, their pipe and its messages are :mod:`.processes`' (the pool the server uses too);
this module is the batch's part: :class:`AnalyseFiles` checks the options, picks the device and
loads the model once (``analysis`` keeps it per process), then analyses one file per job, its
outcome a store state (``done``, ``error``, ``skipped``), ``cancelled`` or ``fatal`` (unreadable
weights: a problem of the whole batch). Results are small dicts, never frames. Each analysis also
goes into the :class:`AnalysisCache`, so the app opens a batch job at once. A Ray actor
(:mod:`.ray_actor`) analyses with the same :func:`analyse_file` and :func:`warm_up`.

On CPU the parent sends one file at a time. On a GPU only worker 0 loads the model (the others
reply ``ready`` at once and the parent lets them go) and the parent sends it several files at
once: their decoders, face scans and crops run in parallel threads while the one model on the
device serves them all.
"""

from __future__ import annotations

import os
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
from . import processes
from .executors import JobId
from .processes import CANCELLED, FATAL, PROGRESS, JobFunctions, Outcome, ReportProgress
from .processes import READY as READY  # for the Ray actor: the same words as a local process
from .store import DONE, ERROR, SKIPPED

#: seconds between progress replies
PROGRESS_EVERY_S = 0.5


def _progress(send: Callable[[tuple[Any, ...]], bool], job_id: int, detector: str) -> StageProgress:
    """The engine's progress as one fraction of the file, sent to the runner now and then."""
    return StageProgress(lambda overall, _stage: send((PROGRESS, job_id, overall)), analysis_stages(detector),
                         PROGRESS_EVERY_S)


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


def warm_up(index: int, threads: int, options: AnalysisOptions) -> str:
    """Check the options, pick the device, load the model; the device type. ``threads``: torch's
    threads on CPU (a GPU's process keeps torch's default, one per core)."""
    import torch

    from ..pipeline import load_model  # the engine's per-process model
    from ..options import validate_options
    from ..models.device import analysis_dtype, resolve_device
    from ..models.weights import locate

    validate_options(options)
    device = resolve_device(options.device)
    if device.type != "cpu" and index > 0:
        return device.type
    if device.type == "cpu":
        torch.set_num_threads(threads)
    load_model(locate("syncnet", options.weights), device, analysis_dtype(options, device))
    return device.type


class AnalyseFiles(JobFunctions):
    """A batch's worker processes (pickled into each): one file per job, its payload the file's path."""

    def __init__(self, options: AnalysisOptions) -> None:
        self.options = options
        self._cache: Optional[AnalysisCache] = None

    def warm_up(self, index: int, threads: int) -> str:
        self._cache = AnalysisCache()
        return warm_up(index, threads, self.options)

    def run(self, job_id: JobId, payload: Any, progress: ReportProgress, cancel: CancelToken) -> Outcome:
        def send(message: tuple[Any, ...]) -> bool:  # analyse_file's progress: (PROGRESS, job_id, fraction)
            progress(message[2], None)
            return True

        assert self._cache is not None, "warm_up() first"
        return analyse_file(send, job_id, Path(payload), self.options, self._cache, cancel)[0]


def serve(conn: Connection, index: int, threads: int, options: AnalysisOptions) -> None:
    """Run as a batch's worker process on ``conn`` (what the pool's processes run, for a caller of its own)."""
    processes.serve(conn, AnalyseFiles(options), index, threads, os.getppid())
