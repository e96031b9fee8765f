"""What one analysis carries from stage to stage: :class:`AnalysisContext`."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from ..cancel import CancelToken
from ..media import ANALYSIS_FPS, MediaInfo, VideoLog
from ..memory import HeapWatch
from ..options import AnalysisOptions
from ..progress import ProgressCallback, report
from ..results import StreamDamage, Track

if TYPE_CHECKING:
    import torch

    from ..faces.detectors import FaceDetector
    from ..faces.tracking import FaceTrack
    from ..results import SyncOverTime
    from ..speaker import ClipVerdict
    from ..sync.over_time import TrackEvidence
    from .clip_audio import ClipAudio

#: frames between two progress reports in the streaming loops
REPORT_EVERY = 25
#: frames between two looks at resident memory in the streaming loops
HEAP_CHECK_EVERY = 50
#: process-wide, like the heap it watches
_HEAP_WATCH = HeapWatch()


class Timer:
    """Seconds per named stage; a stage timed twice adds up."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


def _ignore_track(track: Track) -> None:
    pass


@dataclass
class AnalysisContext:
    """The inputs of one analysis and what each stage adds to them.

    A field a stage adds stays at its empty default until that stage has run; each stage's
    docstring says which fields it reads and which it sets.
    """

    path: Path
    options: AnalysisOptions
    progress: Optional[ProgressCallback] = None
    cancel: CancelToken = field(default_factory=CancelToken)
    #: receives each track as soon as it is scored
    on_track: Callable[[Track], None] = _ignore_track
    timer: Timer = field(default_factory=Timer)

    # open_media
    info: Optional[MediaInfo] = None
    # load_engine
    weights_path: Optional[Path] = None
    weights_sha: str = ""
    detector_name: str = ""
    device: Optional[torch.device] = None
    dtype: Optional[torch.dtype] = None
    model: Optional[torch.nn.Module] = None
    detector: Optional[FaceDetector] = None
    # read_audio
    audio: Optional[ClipAudio] = None
    start_s: float = 0.0  # the first video frame's time on the file's clock
    audio_damage: Optional[StreamDamage] = None  # the sound's packets that did not decode
    # the pass over the frames (follow_faces or embed_whole_frame, through decode_frames)
    video_log: Optional[VideoLog] = None

    # follow_faces (the face-track path) or embed_whole_frame
    frames: int = 0
    shots: list[list[int]] = field(default_factory=list)
    faces: list[FaceTrack] = field(default_factory=list)
    # embed_whole_frame or follow_faces
    tracks: list[Track] = field(default_factory=list)
    evidence: list[TrackEvidence] = field(default_factory=list)  # per track, for the offset over time
    # find_speaker
    speaker: list[Optional[int]] = field(default_factory=list)
    # decide_verdict
    verdict: Optional[ClipVerdict | Track] = None
    verdict_source: str = ""
    verdict_tracks: list[int] = field(default_factory=list)
    # measure_over_time
    sync_over_time: Optional[SyncOverTime] = None
    #: the wide search's minimum over the whole clip (frames), when measured on both sides of it
    wide_minimum: Optional[int] = None
    notes: list[str] = field(default_factory=list)  # what a stage adds to the document's warnings

    @property
    def whole_frame(self) -> bool:
        """Every frame is the face: no face detection, one track over the whole clip."""
        return self.detector_name == "whole-frame"

    @property
    def expected_frames(self) -> int:
        """The analysis frames the clip's duration promises (the scale of progress reports)."""
        duration = self.info.duration_s if self.info is not None else 0.0
        return max(1, round(duration * ANALYSIS_FPS))

    def report(self, stage: str, fraction: float) -> None:
        report(self.progress, stage, fraction)

    def tick(self, stage: str, index: int, expected: int) -> None:
        """Per frame of a streaming loop: report progress now and then, and trim the heap if it grew."""
        if index % REPORT_EVERY == 0:
            self.report(stage, index / expected)
        if index % HEAP_CHECK_EVERY == HEAP_CHECK_EVERY - 1:
            _HEAP_WATCH.check()


#: a stage: reads some fields of the context, sets others
Stage = Callable[[AnalysisContext], None]


def run_stages(context: AnalysisContext, *stages: Stage) -> None:
    """Run ``stages`` in order, with a cancel point before each."""
    for stage in stages:
        context.cancel.check()
        stage(context)
