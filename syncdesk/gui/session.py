"""What the window is looking at, without Qt: the file, the frame on screen, the audio shift, the
selected track, the tolerance judged against and the analysis (napari's model/view split: views and controllers bind to this).

Every setter fires its event only when the value really changes, so a view that writes back what
it was just told (the playhead echoing the player) ends the loop instead of starting one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..core import (
    ANALYSIS_FPS, Analysis, MediaInfo, SyncOverTime, SyncSegment, Tolerance, Track, VideoFrame, track_colour,
)

#: the models whose correction is more than one constant shift (written with ``correct_audio``)
VARYING_MODELS = ("drift", "steps")


class Event:
    """A list of callbacks called in the order they were connected."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class SessionEvents:
    def __init__(self) -> None:
        self.file = Event()  # (path, info), or (None, None) when closed
        self.frame = Event()  # VideoFrame now on screen
        self.shift = Event()  # ms, positive = delay the audio
        self.selected = Event()  # track id or None
        self.analysis = Event()  # Analysis or None (cleared, or a new one on the way)
        self.track = Event()  # Track scored while the analysis goes on
        self.boxes = Event()  # () the face boxes changed (query ``boxes_at``)
        self.over_time = Event()  # SyncOverTime being edited, or None (a new analysis or an edit)
        self.segment = Event()  # index of the selected over-time segment, or None
        self.tolerance = Event()  # Tolerance the verdicts are judged against, or None (the preset only)


@dataclass(frozen=True)
class FaceBox:
    """One track's box on a frame, in source pixels."""

    track_id: int
    box: tuple[float, float, float, float]
    colour: str
    speaking: bool
    selected: bool = False


class Session:
    def __init__(self) -> None:
        self.events = SessionEvents()
        self.path: Optional[Path] = None
        self.info: Optional[MediaInfo] = None
        self.frame: Optional[VideoFrame] = None
        self.shift_ms = 0.0
        self.selected: Optional[int] = None
        self.analysis: Optional[Analysis] = None
        self.over_time: Optional[SyncOverTime] = None  # the user's copy of the analysis's, edited
        self.segment: Optional[int] = None
        self.tolerance: Optional[Tolerance] = None
        self._boxes: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (first frame, rows of x1 y1 x2 y2)

    # -------------------------------------------------------------------- file
    def set_file(self, path: Optional[Path], info: Optional[MediaInfo]) -> None:
        """A new file (or none): everything known about the previous one is dropped."""
        self.set_analysis(None)
        self.select(None)
        self.frame = None
        self.path, self.info = path, info
        self.events.file.emit(path, info)

    @property
    def time_s(self) -> float:
        """The time of the frame on screen (seconds from the first frame)."""
        return self.frame.time_s if self.frame is not None else 0.0

    @property
    def fps(self) -> float:
        return self.info.fps if self.info is not None and self.info.fps > 0 else ANALYSIS_FPS

    def show_frame(self, frame: VideoFrame) -> None:
        if self.frame is not None and frame.time_s == self.frame.time_s and frame.image is self.frame.image:
            return
        self.frame = frame
        self.events.frame.emit(frame)

    # ------------------------------------------------------------ user choices
    def set_shift(self, shift_ms: float) -> None:
        if shift_ms != self.shift_ms:
            self.shift_ms = shift_ms
            self.events.shift.emit(shift_ms)

    def set_tolerance(self, tolerance: Optional[Tolerance]) -> None:
        """The broadcast tolerance to judge against (None: the preset alone); kept across files."""
        if tolerance != self.tolerance:
            self.tolerance = tolerance
            self.events.tolerance.emit(tolerance)

    def select(self, track_id: Optional[int]) -> None:
        if track_id != self.selected:
            self.selected = track_id
            self.events.selected.emit(track_id)
            self.events.boxes.emit()

    def track_start_s(self, track_id: int) -> float:
        """Where a known track starts (0 for an unknown one)."""
        return self._boxes.get(track_id, (0, None))[0] / ANALYSIS_FPS

    # ---------------------------------------------------------------- analysis
    def set_analysis(self, analysis: Optional[Analysis]) -> None:
        if analysis is None and self.analysis is None and not self._boxes:
            return
        self.analysis = analysis
        self._boxes = {}
        for track in analysis.tracks if analysis is not None else ():
            self._keep_boxes(track)
        self.select_segment(None)
        detected = getattr(analysis, "sync_over_time", None)  # tests and old documents may lack it
        changed = detected is not None or self.over_time is not None
        self.over_time = copy.deepcopy(detected)  # edits never reach the document (or the cache)
        self.events.analysis.emit(analysis)
        if changed:
            self.events.over_time.emit(self.over_time)
        self.events.boxes.emit()

    def add_track(self, track: Track) -> None:
        """A track scored before the analysis ends: its curve and boxes can be shown now."""
        self._keep_boxes(track)
        self.events.track.emit(track)
        self.events.boxes.emit()

    def _keep_boxes(self, track: Track) -> None:
        self._boxes[track.id] = (track.start_frame, np.asarray(track.boxes, dtype=float).reshape(-1, 5)[:, 1:5])

    def boxes_at(self, time_s: float) -> list[FaceBox]:
        """Each track's box at ``time_s`` (analysis frames), the active speaker's marked."""
        frame = round(time_s * ANALYSIS_FPS)
        speaker = None
        if self.analysis is not None and 0 <= frame < len(self.analysis.active_speaker):
            speaker = self.analysis.active_speaker[frame]
        boxes = []
        for track_id, (start, rows) in self._boxes.items():
            if start <= frame < start + len(rows):
                x1, y1, x2, y2 = (float(v) for v in rows[frame - start])
                boxes.append(FaceBox(track_id, (x1, y1, x2, y2), track_colour(track_id), speaker == track_id,
                                     self.selected == track_id))
        return boxes

    # --------------------------------------------------------------- over time
    @property
    def varying(self) -> bool:
        """True when the file's correction is a drift or per-segment one, not one shift."""
        return self.over_time is not None and self.over_time.model in VARYING_MODELS and bool(self.over_time.segments)

    def select_segment(self, index: Optional[int]) -> None:
        if index is not None and (self.over_time is None or not 0 <= index < len(self.over_time.segments)):
            index = None
        if index != self.segment:
            self.segment = index
            self.events.segment.emit(index)

    def segment_at(self, time_s: float) -> Optional[int]:
        """The segment that holds ``time_s`` (the last one for the file's very end), or None."""
        segments = self.over_time.segments if self.over_time is not None else []
        for index, segment in enumerate(segments):
            if segment.start_s <= time_s < segment.end_s:
                return index
        if segments and time_s == segments[-1].end_s:
            return len(segments) - 1
        return None

    def set_segments(self, segments: list[SyncSegment]) -> None:
        """Replace the edited model's segments (a nudge or its undo), one event for the lot."""
        assert self.over_time is not None
        if self.over_time.segments != segments:
            self.over_time.segments = list(segments)
            self.events.over_time.emit(self.over_time)

    def nudged_segments(self, index: Optional[int], delta_ms: float) -> list[SyncSegment]:
        """The segments with ``index`` (None: every one) moved by ``delta_ms``, a drift's line
        piece at both ends; the others are the same objects."""
        assert self.over_time is not None
        return [nudged(segment, delta_ms) if index in (None, position) else segment
                for position, segment in enumerate(self.over_time.segments)]


def nudged(segment: SyncSegment, delta_ms: float) -> SyncSegment:
    end = segment.end_offset_ms
    return replace(segment, offset_ms=round((segment.offset_ms or 0.0) + delta_ms, 3),
                   end_offset_ms=None if end is None else round(end + delta_ms, 3))


def segment_shift(segment: SyncSegment) -> float:
    """The one shift that stands for a segment (a drift piece: its value half way)."""
    start = segment.offset_ms or 0.0
    return start if segment.end_offset_ms is None else (start + segment.end_offset_ms) / 2
