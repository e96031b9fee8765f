"""The analysis as stages over one :class:`AnalysisContext`.

Each stage is a function ``stage(context)`` that reads some fields of the context and sets
others, times itself, reports its own progress and checks for cancellation; the frame stages
also take the frames to consume (default: the whole clip, decoded and dropped frame by frame),
so a caller can run them on a window of a stream. :func:`syncdesk.core.analysis.analyze` runs them
on a whole file:

open_media -> load_engine -> read_audio -> follow_faces or embed_whole_frame -> find_speaker -> decide_verdict
(decide_verdict ends with measure_over_time: the offset over time, which may correct the verdict)
"""

from __future__ import annotations

from .context import AnalysisContext, Stage, Timer, run_stages
from .embed_stage import embed_whole_frame
from .engine_stage import load_engine, load_model
from .faces_stage import detection_frames, follow_faces
from .clip_audio import ClipAudio
from .media_stage import decode_frames, open_media, read_audio
from .over_time_stage import measure_over_time
from .verdict_stage import build_analysis, decide_verdict, find_speaker

__all__ = [
    "AnalysisContext", "ClipAudio", "Stage", "Timer", "build_analysis", "decide_verdict", "decode_frames",
    "detection_frames", "embed_whole_frame", "find_speaker", "follow_faces", "load_engine",
    "load_model", "measure_over_time", "open_media", "read_audio", "run_stages",
]
