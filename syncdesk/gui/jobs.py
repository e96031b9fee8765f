"""The app's long jobs as workers: analysis (with the cache), export, and the timeline's waveform
and thumbnails. Core calls only; the window connects their signals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal

from ..core import (
    Analysis, AnalysisCache, AnalysisOptions, CancelToken, ExportResult, ProgressCallback, SyncdeskError,
    SyncOverTime, read_envelope, read_thumbnails, shift_audio,
)
from .thumbnails import COUNT, HEIGHT
from .workers import Worker


class TrackFeed(QObject):
    """Carries each track from the analysis thread to the GUI thread as soon as it is scored."""

    track_ready = Signal(object)  # Track


def analysis_worker(path: Path, options: AnalysisOptions, cache: AnalysisCache, feed: TrackFeed,
                    use_cache: bool = True) -> Worker:
    """Analyse ``path`` (or read it from the cache, unless ``use_cache`` is off) and store the
    result in the cache; the worker finishes with the analysis and whether it came from the cache."""

    def job(progress: ProgressCallback, cancel: CancelToken) -> tuple[Analysis, bool]:
        from ..core import analyze_cached  # torch: imported off the GUI thread, after the window shows

        return analyze_cached(path, options, cache, reuse=use_cache, progress=progress, cancel=cancel,
                              on_track=lambda track: feed.track_ready.emit(track))

    return Worker(job, name="analysis")


def export_worker(source: Path, target: Path, shift_ms: float, over_time: Optional[SyncOverTime] = None) -> Worker:
    """Write ``target``: ``source`` with its audio delayed by ``shift_ms`` (negative: advanced), or,
    given ``over_time`` (a drift or steps model), corrected along the file as it says.
    The user has already agreed to replace ``target`` in the save dialog if it exists."""

    def job(progress: ProgressCallback, cancel: CancelToken) -> ExportResult:
        if over_time is None:
            return shift_audio(source, target, shift_ms, overwrite=True, progress=progress, cancel=cancel)
        try:
            from ..core import correct_audio  # the drift / per-segment writer
        except ImportError as exc:
            raise SyncdeskError("This build cannot write a drift or per-segment correction yet; "
                                "select the constant shift or use `syncdesk fix`.") from exc
        return correct_audio(source, target, over_time, overwrite=True, progress=progress, cancel=cancel)

    return Worker(job, name="export")


class ThumbnailFeed(QObject):
    """Carries each thumbnail from its worker to the GUI thread as soon as it is decoded."""

    thumbnail_ready = Signal(int, object)  # index, HEIGHT x width x 3 uint8


def waveform_worker(path: Path, start: Fraction) -> Worker:
    """The sound's min/max envelope (``(lows, highs)``), column 0 at source time ``start``."""
    return Worker(lambda _progress, cancel: read_envelope(path, start, cancel), name="waveform")


def thumbnail_worker(path: Path, duration_s: float, width: int, feed: ThumbnailFeed) -> Worker:
    """The thumbnail strip's frames, each sent through ``feed`` as it comes."""

    def job(_progress: ProgressCallback, cancel: CancelToken) -> int:
        return read_thumbnails(path, duration_s, HEIGHT, width, COUNT, cancel, feed.thumbnail_ready.emit)

    return Worker(job, name="thumbnails")

