"""Face tracks within a shot, as the published pipeline builds them (syncnet-facts.md).

Greedy IoU association (IoU > 0.5 with the last box or the mean of the last three; a track survives
up to 25 frames without a detection); tracks never cross a cut. With detections a fifth of a second
apart, a box also continues a track when the face moved less than half its size and kept its size
within 1.5x (a head turning, which the pipeline's every-frame detection saw in small steps). A track
is kept if at least ``min_track`` frames long with a mean face size of at least ``min_face_size`` px;
boxes are linearly interpolated over gaps, then centre and size median-filtered over 13 frames.
"""

from __future__ import annotations

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
    def mean_size(self) -> float:
        return float(np.mean(np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])))


@dataclass
class _Open:
    frames: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


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


def _link(detections: Sequence[Sequence[Detection]], start: int, end: int) -> list[_Open]:
    """Greedy frame-by-frame association inside one shot ``[start, end]``."""
    done: list[_Open] = []
    active: list[_Open] = []
    for frame in range(start, end + 1):
        active, expired = [t for t in active if frame - t.frames[-1] <= MAX_GAP], \
            [t for t in active if frame - t.frames[-1] > MAX_GAP]
        done.extend(expired)
        candidates = sorted(detections[frame], key=lambda d: -d.score)
        taken: set[int] = set()
        for detection in candidates:
            box = (detection.x1, detection.y1, detection.x2, detection.y2)
            scores = [(overlap(t.boxes, box), i) for i, t in enumerate(active) if i not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] > IOU_THRESHOLD:
                track = active[best[1]]
                taken.add(best[1])
            else:
                track = _Open()
                active.append(track)
                taken.add(len(active) - 1)
            track.frames.append(frame)
            track.boxes.append(box)
    return done + active


def _running_median(values: np.ndarray, size: int = SMOOTHING) -> np.ndarray:
    """Centred running median, the ends padded with the edge values (scipy's mode="nearest",
    without importing scipy.ndimage: 0.1 s of start-up)."""
    half = size // 2
    padded = np.pad(values, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, size), axis=1)


def _finish(track: _Open, last: int) -> FaceTrack:
    """Interpolate over gaps and hold the last box up to ``last``, then smooth."""
    frames = np.arange(track.frames[0], max(last, track.frames[-1]) + 1)
    known = np.asarray(track.boxes, dtype=np.float64)
    boxes = np.stack([np.interp(frames, track.frames, known[:, i]) for i in range(4)], axis=1)
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    centre_x, centre_y, size = (_running_median(v) for v in (centre_x, centre_y, size))
    half = size / 2
    return FaceTrack(frames, np.stack([centre_x - half, centre_y - half, centre_x + half, centre_y + half], axis=1))


def link_tracks(detections: Sequence[Sequence[Detection]], shots: Sequence[Sequence[int]],
                hold: int = 0) -> list[FaceTrack]:
    """Every track, before the length and size rules, ordered by start frame then left edge.

    ``hold``: when faces are detected only every ``hold + 1`` frames, a track's last box stands
    for the frames up to the next detection (within its shot).
    """
    tracks = [_finish(t, min(t.frames[-1] + hold, end)) for start, end in shots for t in _link(detections, start, end)]
    return sorted(tracks, key=lambda t: (t.start, t.boxes[0, 0]))


def keep_tracks(tracks: Sequence[FaceTrack], min_track: int = 100, min_face_size: float = 100.0) -> list[FaceTrack]:
    return [t for t in tracks if len(t.frames) >= min_track and t.mean_size >= min_face_size]
