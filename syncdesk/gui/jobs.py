"""The app's long jobs as workers: analysis (with the cache) and export. Core calls only; the
window connects their signals."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..core import (
    Analysis, AnalysisCache, AnalysisOptions, CancelToken, ExportResult, ProgressCallback, SyncdeskError,
    shift_audio,
)
from .workers import Worker

log = logging.getLogger(__name__)


class TrackFeed(QObject):
    """Carries each track from the analysis thread to the GUI thread as soon as it is scored."""

    track_ready = Signal(object)  # Track


def analysis_worker(path: Path, options: AnalysisOptions, cache: AnalysisCache, feed: TrackFeed,
                    use_cache: bool = True) -> Worker:
    """Analyse ``path`` (or read it from the cache, unless ``use_cache`` is off) and store the
    result in the cache."""

    def job(progress: ProgressCallback, cancel: CancelToken) -> Analysis:
        from ..core import analyze  # torch: imported off the GUI thread, after the window shows

        cached = cache.get(path, options) if use_cache else None
        if cached is not None:
            return cached
        result = analyze(path, options, progress=progress, cancel=cancel,
                         on_track=lambda track: feed.track_ready.emit(track))
        try:
            cache.put(path, options, result)
        except SyncdeskError as exc:  # a full or read-only cache dir costs a re-analysis later, nothing more
            log.warning("%s", exc)
        return result

    return Worker(job, name="analysis")


def export_worker(source: Path, target: Path, shift_ms: float) -> Worker:
    """Write ``target``: ``source`` with its audio delayed by ``shift_ms`` (negative: advanced).
    The user has already agreed to replace ``target`` in the save dialog if it exists."""

    def job(progress: ProgressCallback, cancel: CancelToken) -> ExportResult:
        return shift_audio(source, target, shift_ms, overwrite=True, progress=progress, cancel=cancel)

    return Worker(job, name="export")

