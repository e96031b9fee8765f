"""The one entry for the CLI, GUI and batch: a file in, an :class:`Analysis` out.

The work is done by the stages of :mod:`syncdesk.core.pipeline`; this module runs them in order
on a whole file and keeps the names the rest of the code imports from here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from .cancel import CancelToken
from .errors import SyncdeskError
from .options import AnalysisOptions, validate_options
from .pipeline import (AnalysisContext, build_analysis, decide_verdict, embed_whole_frame, find_speaker, follow_faces,
                       load_engine, open_media, read_audio, run_stages)
from .progress import ProgressCallback
from .results import Analysis, Track

if TYPE_CHECKING:
    from .cache import AnalysisCache

__all__ = ["analyze", "analyze_cached"]

log = logging.getLogger(__name__)


def analyze(
    path: os.PathLike | str,
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_track: Optional[Callable[[Track], None]] = None,
) -> Analysis:
    """Measure the audio-video offset of ``path``. Raises :class:`SyncdeskError` subclasses.

    ``on_track`` receives each track as soon as it is scored (before the active speaker and
    the verdict, which need them all), so a view can show results as they come.
    """
    options = options or AnalysisOptions()
    validate_options(options)
    context = AnalysisContext(Path(path), options, progress, cancel or CancelToken())
    if on_track is not None:
        context.on_track = on_track
    run_stages(context, open_media, load_engine, read_audio)
    if context.whole_frame:
        run_stages(context, embed_whole_frame)
    else:
        run_stages(context, follow_faces)
    run_stages(context, find_speaker, decide_verdict)
    return build_analysis(context)


def analyze_cached(
    path: os.PathLike | str,
    options: AnalysisOptions,
    cache: AnalysisCache,
    reuse: bool = True,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_track: Optional[Callable[[Track], None]] = None,
) -> tuple[Analysis, bool]:
    """:func:`analyze` through ``cache``: a result made with the same settings and weights is
    reused unless ``reuse`` is off (then ``True``: loaded from the cache), a new one is stored. A
    full or read-only cache costs a re-analysis later, nothing more."""
    if reuse:
        cached = cache.get(path, options)
        if cached is not None:
            return cached, True
    analysis = analyze(path, options, progress=progress, cancel=cancel, on_track=on_track)
    try:
        cache.put(path, options, analysis)
    except SyncdeskError as exc:
        log.warning("%s", exc)
    return analysis, False
