"""Face tracks within a shot, as the published pipeline builds them (syncnet-facts.md).

Greedy IoU association (IoU > 0.5 with the last box or the mean of the last three; a track survives
up to 25 frames without a detection); tracks never cross a cut. With detections a fifth of a second
apart, a box also continues a track when the face moved less than half its size and kept its size
within 1.5x (a head turning, which the pipeline's every-frame detection saw in small steps). A track
is kept if at least ``min_track`` frames long with a mean face size of at least ``min_face_size`` px;
boxes are linearly interpolated over gaps, then centre and size median-filtered over 13 frames.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .detectors import Detection, iou

IOU_THRESHOLD = 0.5
MAX_GAP = 25
SMOOTHING = 13
RECENT_BOXES = 3  # detections averaged for the link test
#: a face that moved less than this much of its size since its track's last box continues the track ...
MAX_STEP = 0.5
#: ... if its size changed by less than this factor
MAX_SIZE_CHANGE = 1.5


@dataclass
class FaceTrack:
    frames: np.ndarray  # consecutive analysis frames
    boxes: np.ndarray  # len(frames) x 4: x1, y1, x2, y2 (smoothed)

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])

    @property
    def order(self) -> tuple[int, float]:
        """What tracks are numbered by: start frame, then left edge."""
        return self.start, float(self.boxes[0, 0])

    @property
    def mean_size(self) -> float:
        return float(np.mean(np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])))


@dataclass
class OpenTrack:
    """A track being linked: its detections so far."""

    key: int  # in order of opening
    frames: list[int] = field(default_factory=list)  # frames with a detection
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def settled(self) -> int:
        """The last frame whose smoothed box no later detection can change."""
        return self.frames[-1] - SMOOTHING // 2

    def boxes_between(self, lo: int, hi: int) -> np.ndarray:
        """The smoothed boxes of frames ``lo..hi`` (up to :attr:`settled`)."""
        return _smoothed(self.frames, self.boxes, lo, hi, self.frames[0], hi + SMOOTHING // 2)


def overlap(boxes: Sequence[Sequence[float]], box: Sequence[float]) -> float:
    """How well ``box`` continues a track whose latest boxes are ``boxes``: IoU with the last one,
    or with the mean of the last few if that is higher (a detector's box size jitters from frame to
    frame, and one jittery box must not split a track). A face that moved a little more
    (:func:`small_step`) scores just above the link threshold."""
    recent = np.mean(boxes[-RECENT_BOXES:], axis=0)
    score = max(iou(boxes[-1], box), iou(recent, box))
    if score <= IOU_THRESHOLD and small_step(boxes[-1], box):
        return IOU_THRESHOLD + 1e-3
    return score


def small_step(last: Sequence[float], box: Sequence[float]) -> bool:
    """Whether ``box`` is where a face at ``last`` could be a few frames on: its centre moved less than
    MAX_STEP of its size, and its size changed by less than MAX_SIZE_CHANGE."""
    size_last, size = max(last[2] - last[0], last[3] - last[1]), max(box[2] - box[0], box[3] - box[1])
    if size_last <= 0 or size <= 0 or max(size / size_last, size_last / size) >= MAX_SIZE_CHANGE:
        return False
    step = np.hypot((box[0] + box[2] - last[0] - last[2]) / 2, (box[1] + box[3] - last[1] - last[3]) / 2)
    return bool(step < MAX_STEP * size_last)


class TrackLinker:
    """Greedy frame-by-frame association, one frame at a time: call :meth:`add` on every frame of a
    shot in order, then :meth:`finish`. A track closes at a cut, after ``MAX_GAP`` frames without a
    detection, or at the end; its last box then stands for up to ``hold`` more frames (detections
    ``hold + 1`` frames apart)."""

    def __init__(self, hold: int = 0) -> None:
        self.hold = hold
        self.active: list[OpenTrack] = []
        self._opened = 0
        self._last = -1  # the last frame added

    def add(self, index: int, detections: Sequence[Detection], cut: bool = False) -> list[tuple[OpenTrack, FaceTrack]]:
        """Link frame ``index``'s detections (``cut``: the first frame of a new shot); returns the
        tracks this closed, each with its finished boxes."""
        closed = []
        for track in list(self.active):
            if cut or index - track.frames[-1] > MAX_GAP:
                self.active.remove(track)
                closed.append((track, self._close(track, index - 1)))
        taken: set[int] = set()
        for detection in sorted(detections, key=lambda d: -d.score):
            box = (detection.x1, detection.y1, detection.x2, detection.y2)
            scores = [(overlap(t.boxes, box), i) for i, t in enumerate(self.active) if i not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] > IOU_THRESHOLD:
                track = self.active[best[1]]
                taken.add(best[1])
            else:
                track = OpenTrack(self._opened)
                self._opened += 1
                self.active.append(track)
                taken.add(len(self.active) - 1)
            track.frames.append(index)
            track.boxes.append(box)
        self._last = index
        return closed

    def finish(self) -> list[tuple[OpenTrack, FaceTrack]]:
        """Close every track at the last frame added."""
        closed = [(track, self._close(track, self._last)) for track in self.active]
        self.active = []
        return closed

    def _close(self, track: OpenTrack, shot_last: int) -> FaceTrack:
        last = max(min(track.frames[-1] + self.hold, shot_last), track.frames[-1])
        frames = np.arange(track.frames[0], last + 1)
        return FaceTrack(frames, _smoothed(track.frames, track.boxes, track.frames[0], last, track.frames[0], last))


def _smoothed(frames: Sequence[int], boxes: Sequence[Sequence[float]], lo: int, hi: int, first: int,
              last: int) -> np.ndarray:
    """The boxes of frames ``lo..hi`` of a track over ``first..last`` detected on ``frames``:
    linearly interpolated (the last box held after the last detection), then centre and size
    median-filtered over SMOOTHING frames, the window padded with the track's end values (scipy's
    mode="nearest", without importing scipy.ndimage: 0.1 s of start-up). Only the detections near
    ``lo..hi`` are read: a long track costs no more per call."""
    half = SMOOTHING // 2
    a, b = max(first, lo - half), min(last, hi + half)
    k, m = max(0, bisect_right(frames, a) - 1), bisect_left(frames, b) + 1
    span = np.arange(a, b + 1)
    known = np.asarray(boxes[k:m], dtype=np.float64)
    raw = np.stack([np.interp(span, frames[k:m], known[:, i]) for i in range(4)], axis=1)
    centre_x, centre_y = (raw[:, 0] + raw[:, 2]) / 2, (raw[:, 1] + raw[:, 3]) / 2
    size = np.maximum(raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1])
    pad = (half - (lo - a), half - (b - hi))
    centre_x, centre_y, size = (np.median(np.lib.stride_tricks.sliding_window_view(np.pad(v, pad, mode="edge"),
                                                                                 SMOOTHING), axis=1)
                                for v in (centre_x, centre_y, size))
    half_size = size / 2
    return np.stack([centre_x - half_size, centre_y - half_size, centre_x + half_size, centre_y + half_size], axis=1)


def keep_tracks(tracks: Sequence[FaceTrack], min_track: int = 100, min_face_size: float = 100.0) -> list[FaceTrack]:
    return [t for t in tracks if len(t.frames) >= min_track and t.mean_size >= min_face_size]
