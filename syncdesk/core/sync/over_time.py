"""The offset over time: each track's wide distance rows, summed per hop, read through a sliding window.

A track's scorer hands its :class:`TrackEvidence` the distances of every scored window over
``±WIDE_REACH`` shifts; the evidence keeps only their sum per hop (``HOP_S``), so memory grows
with the number of hops, never with frames or windows. :func:`measure_points` slides a window of
``WINDOW_S`` over the hops, pools the tracks in each as the clip verdict pools them, and reads an
offset and a confidence off the pooled curve with the published maths.

The window is long enough that a few seconds of speech inside it make a reliable estimate (the
published averaging over many windows) and short enough to follow a drift and to place a
change of offset within about one hop; the hop is a fraction of the window so a change point
is seen by several overlapping windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..media import ANALYSIS_FPS
from ..results import SyncPoint
from .scoring import subframe_shift
from .windows import WINDOW_FRAMES

WINDOW_S = 8.0
HOP_S = 2.0
#: shifts searched either way for the offset over time: ±5 s at 25 fps
WIDE_REACH = 125
#: a shift counts in a window when at least this share of the window's rows could compare at it
#: (near the ends of the sound, far shifts have no audio to compare with)
MIN_SHARE = 0.5
#: a window of 5 frames stands for its middle frame
_WINDOW_CENTRE = WINDOW_FRAMES // 2


class TrackEvidence:
    """One track's wide distance rows summed per hop; rows of silent windows are left out.

    ``sounding[j]`` says whether audio window ``j`` of the track has sound; a scored window counts
    when there is sound within ``vshift`` of it (as the clip verdict's silence weighting).
    """

    def __init__(self, track_id: int, start_frame: int, sounding: np.ndarray, vshift: int,
                 reach: int = WIDE_REACH, hop_frames: int = round(HOP_S * ANALYSIS_FPS)) -> None:
        self.track_id = track_id
        self.start_frame = start_frame
        self.reach = reach
        self.hop_frames = hop_frames
        self._vshift = vshift
        self._sound_before = np.concatenate([[0], np.cumsum(np.asarray(sounding, dtype=bool))])
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, np.ndarray] = {}

    def end(self, windows: int) -> None:
        """The track's sound ends after ``windows`` windows (it was given to the clip's end)."""
        self._sound_before = self._sound_before[: windows + 1]

    def add(self, window_index: np.ndarray, rows: np.ndarray) -> None:
        windows = len(self._sound_before) - 1
        lo = np.clip(window_index - self._vshift, 0, windows)
        hi = np.clip(window_index + self._vshift + 1, 0, windows)
        heard = self._sound_before[hi] - self._sound_before[lo] > 0
        hops = (self.start_frame + window_index + _WINDOW_CENTRE) // self.hop_frames
        for hop, row in zip(hops[heard].tolist(), rows[heard], strict=True):
            if hop not in self.sums:
                self.sums[hop] = np.zeros(2 * self.reach + 1)
                self.counts[hop] = np.zeros(2 * self.reach + 1, dtype=np.int32)
            valid = ~np.isnan(row)
            self.sums[hop][valid] += row[valid]
            self.counts[hop] += valid

    def shift_cost(self, hops: range, offset_frames: int) -> np.ndarray:
        """The summed distances at one shift (``offset_frames``, the published sign) per hop of
        ``hops`` (0 where a hop has no rows): what a change point between two levels weighs."""
        index = self.reach - offset_frames
        if not 0 <= index < 2 * self.reach + 1:
            return np.zeros(len(hops))
        return np.array([self.sums[h][index] if h in self.sums else 0.0 for h in hops])

    def curve(self, hops: range) -> Optional[np.ndarray]:
        """Mean distance per shift over ``hops`` (inf where too few rows compare), None if no rows."""
        present = [h for h in hops if h in self.sums]
        if not present:
            return None
        total = np.sum([self.sums[h] for h in present], axis=0)
        count = np.sum([self.counts[h] for h in present], axis=0)
        usable = count >= MIN_SHARE * count.max()
        return np.where(usable, total / np.maximum(count, 1), np.inf)


@dataclass(frozen=True)
class CurveReading:
    """The published reading of a distance curve over shifts ``-reach..reach``."""

    offset_frames: int
    offset_ms: float
    min_dist: float
    confidence: float


def read_curve(curve: np.ndarray, fps: float = ANALYSIS_FPS) -> CurveReading:
    """Offset (sub-frame), minimum and confidence (median - minimum over the usable shifts)."""
    reach = len(curve) // 2
    finite = np.isfinite(curve)
    best = int(np.argmin(np.where(finite, curve, np.inf)))
    usable = curve[finite]
    # the parabola needs both neighbours measured
    neighbours = best > 0 and best < len(curve) - 1 and finite[best - 1] and finite[best + 1]
    fraction = subframe_shift(curve, best) if neighbours else 0.0
    offset = reach - best
    return CurveReading(offset, (offset - fraction) * 1000.0 / fps, float(curve[best]),
                        float(np.median(usable) - curve[best]))


def pool(curves: Sequence[np.ndarray], weights: Sequence[float]) -> Optional[np.ndarray]:
    """Weighted mean of the curves with a positive weight, or None."""
    used = [(c, w) for c, w in zip(curves, weights, strict=True) if w > 0]
    if not used:
        return None
    total = sum(w for _, w in used)
    return sum(w * c for c, w in used) / total


def locate_change(evidence: Sequence[TrackEvidence], hops: range, before_ms: float, after_ms: float,
                  fps: float = ANALYSIS_FPS) -> int:
    """The hop in ``hops`` where the offset changes from ``before_ms`` to ``after_ms``: the edge that
    makes the distances least, read at the first level's shift before it and the second's after
    it (each window's own rows, finer than the windows the points were read over)."""
    before = round(before_ms * fps / 1000.0)
    after = round(after_ms * fps / 1000.0)
    cost_before = sum((track.shift_cost(hops, before) for track in evidence), np.zeros(len(hops)))
    cost_after = sum((track.shift_cost(hops, after) for track in evidence), np.zeros(len(hops)))
    # total(e) = sum of cost_before over hops < e, plus cost_after over hops >= e, for each edge e
    after_edge = np.concatenate([np.cumsum(cost_after[::-1])[::-1], [0.0]])
    totals = np.concatenate([[0.0], np.cumsum(cost_before)]) + after_edge
    return hops.start + int(np.argmin(totals))


def measure_points(evidence: Sequence[TrackEvidence], speaking: dict[int, np.ndarray], present: dict[int, np.ndarray],
                   hops: int, start_s: float = 0.0, window_s: float = WINDOW_S,
                   hop_s: float = HOP_S) -> list[SyncPoint]:
    """One point per window position, every hop, over the clip's ``hops`` hops.

    ``speaking[id]`` and ``present[id]`` count, per hop, the frames where track ``id`` is the
    active speaker and where it is on screen. In a window, each track's curve is weighted by its
    confidence there times its speaking frames, as the clip verdict weights tracks; where the
    active speaker names nobody in the window (an offset beyond the published range hides the
    speaker), by its confidence times its frames on screen.
    """
    span = max(1, min(hops, round(window_s / hop_s)))
    points = []
    for first in range(0, max(1, hops - span + 1)):
        window = range(first, first + span)
        curves, readings, ids = [], [], []
        for track in evidence:
            curve = track.curve(window)
            if curve is not None and np.isfinite(curve).sum() >= 3:
                curves.append(curve)
                readings.append(read_curve(curve))
                ids.append(track.track_id)
        spoken = {i: float(speaking[i][window.start:window.stop].sum()) for i in ids}
        frames = spoken if any(spoken.values()) else {i: float(present[i][window.start:window.stop].sum()) for i in ids}
        weights = [max(r.confidence, 0.0) * frames[i] for r, i in zip(readings, ids, strict=True)]
        pooled = pool(curves, weights)
        t_s = round(start_s + (first + span / 2) * hop_s, 3)
        if pooled is None:
            points.append(SyncPoint(t_s, None, 0.0))
            continue
        reading = read_curve(pooled)
        points.append(SyncPoint(t_s, round(reading.offset_ms, 3), round(reading.confidence, 4)))
    return points
