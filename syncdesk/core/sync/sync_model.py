"""The model of a whole file's sync, chosen from its points: constant, drift, steps or unknown.

Only confident points count. The simplest model that explains most of them within a tolerance
wins, in the order constant, drift (a Theil-Sen line), steps (runs of constant offset); the
tolerance follows the points' own scatter within bounds (:func:`tolerance`), so a few wrong windows (a cut inside a window, a moment of someone else's voice) change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..results import SyncOverTime, SyncPoint, SyncSegment

#: a point weaker than this says nothing (the relaxed preset's minimum confidence)
MIN_POINT_CONFIDENCE = 2.0
#: fewer confident points than this, or than this share of the file's windows: "unknown"
MIN_POINTS = 3
MIN_CONFIDENT_SHARE = 0.25
#: a segment is acted on (fixed, judged against a tolerance) only when at least this share of its
#: windows measured an offset confidently
MIN_SEGMENT_SUPPORT = 0.5
#: a drift's line is fitted only to confident points spanning this share of the file (else it is
#: extrapolated from a corner of it)
MIN_DRIFT_SPAN = 0.5
#: agreement between a point and a model, at least (half a frame at 25 fps) ...
TOLERANCE_MS = 20.0
#: ... and at most (two frames: points more scattered than this follow no model)
MAX_TOLERANCE_MS = 80.0
#: a model explains the points when this share of them agree with it
INLIER_SHARE = 0.8
#: a new step needs this many consecutive points at its level (one odd point is noise)
MIN_STEP_POINTS = 2
#: Theil-Sen looks at the pairs of at most this many points (evenly picked)
_SLOPE_POINTS = 300


@dataclass(frozen=True)
class _Confident:
    t: np.ndarray
    offset: np.ndarray
    confidence: np.ndarray


def _confident(points: Sequence[SyncPoint]) -> _Confident:
    kept = [p for p in points if p.offset_ms is not None and p.confidence >= MIN_POINT_CONFIDENCE]
    kept.sort(key=lambda p: p.t_s)
    return _Confident(np.array([p.t_s for p in kept]), np.array([p.offset_ms for p in kept]),
                      np.array([p.confidence for p in kept]))


def tolerance(offsets: np.ndarray) -> float:
    """Three times the scatter of consecutive points (robust to jumps and slopes), within
    ``TOLERANCE_MS .. MAX_TOLERANCE_MS``."""
    if len(offsets) < 3:
        return TOLERANCE_MS
    steps = np.diff(offsets)
    scatter = 1.4826 * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2.0)
    return min(MAX_TOLERANCE_MS, max(TOLERANCE_MS, 3.0 * float(scatter)))


def theil_sen(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the median line (median of pairwise slopes)."""
    pick = np.unique(np.linspace(0, len(t) - 1, min(len(t), _SLOPE_POINTS)).round().astype(int))
    t, y = t[pick], y[pick]
    i, j = np.triu_indices(len(t), k=1)
    distinct = t[j] != t[i]
    slope = float(np.median((y[j] - y[i])[distinct] / (t[j] - t[i])[distinct])) if distinct.any() else 0.0
    return slope, float(np.median(y - slope * t))


def held_steps(runs: list[tuple[int, int]], min_points: int) -> bool:
    """Whether every run of a steps model has ``min_points`` points: neighbouring windows share most
    of their sound, so fewer may all come from one short stretch of wrong evidence."""
    return all(stop - start >= min_points for start, stop in runs)


def absorb_blends(runs: list[tuple[int, int]], offsets: np.ndarray, min_points: int,
                  tol: float) -> list[tuple[int, int]]:
    """Runs too short to be held that lie between two runs, at levels between theirs, are the
    windows that straddle the change (they hear some of each offset): each of their points joins
    the neighbour it is nearer. Short runs elsewhere stay, for :func:`held_steps` to refuse."""
    def level(run: tuple[int, int]) -> float:
        return float(np.median(offsets[slice(*run)]))

    kept: list[tuple[int, int]] = []
    i = 0
    while i < len(runs):
        j = i
        while j < len(runs) and runs[j][1] - runs[j][0] < min_points:
            j += 1
        if j == i or not kept or j == len(runs):  # a held run, or short runs at either end
            kept.extend(runs[i : max(j, i + 1)])
            i = max(j, i + 1)
            continue
        before, after = level(kept[-1]), level(runs[j])
        start, stop = runs[i][0], runs[j - 1][1]
        block = offsets[start:stop]
        if np.any(block < min(before, after) - tol) or np.any(block > max(before, after) + tol):
            kept.extend(runs[i:j])  # not a blend of the two: left for held_steps
            i = j
            continue
        nearer_after = np.abs(block - after) < np.abs(block - before)
        cut = start + (int(np.argmax(nearer_after)) if nearer_after.any() else len(block))
        kept[-1] = (kept[-1][0], cut)
        kept.append((cut, runs[j][1]))
        i = j + 1
    return kept


def step_runs(offsets: np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of points at one level: a new run starts where ``MIN_STEP_POINTS``
    consecutive points leave the current run's median by more than ``tol``."""
    runs: list[tuple[int, int]] = []
    start, i = 0, 1
    while i < len(offsets):
        level = np.median(offsets[start:i])
        ahead = offsets[i : i + MIN_STEP_POINTS]
        moved = len(ahead) == MIN_STEP_POINTS and np.all(np.abs(ahead - level) > tol)
        together = moved and np.ptp(ahead) <= 2 * tol
        if together:
            runs.append((start, i))
            start = i
        i += 1
    runs.append((start, len(offsets)))
    merged: list[tuple[int, int]] = []
    for run in runs:  # neighbours that settled at the same level are one run
        if merged and abs(np.median(offsets[slice(*merged[-1])]) - np.median(offsets[slice(*run)])) <= tol:
            merged[-1] = (merged[-1][0], run[1])
        else:
            merged.append(run)
    return merged


def segment_support(over_time: SyncOverTime, segment: SyncSegment) -> tuple[int, int]:
    """How many of the windows centred in ``segment`` measured an offset confidently, of how many."""
    inside = [p for p in over_time.points if segment.start_s <= p.t_s <= segment.end_s]
    confident = [p for p in inside if p.offset_ms is not None and p.confidence >= MIN_POINT_CONFIDENCE]
    return len(confident), len(inside)


def supported(over_time: SyncOverTime, segment: SyncSegment) -> bool:
    """Whether enough of ``segment``'s own windows measured an offset confidently for it to be acted
    on: the model's test is over the whole file, so one segment could rest on a few windows."""
    confident, windows = segment_support(over_time, segment)
    return windows > 0 and confident >= MIN_SEGMENT_SUPPORT * windows


def snap_to_cut(t: float, cuts_s: Sequence[float], within: float) -> float:
    """A change point moves onto the nearest shot cut within ``within`` seconds, if any."""
    near = [c for c in cuts_s if abs(c - t) <= within]
    return min(near, key=lambda c: abs(c - t)) if near else t


def fit_model(points: Sequence[SyncPoint], start_s: float, end_s: float, window_s: float, hop_s: float,
              cuts_s: Sequence[float] = ()) -> SyncOverTime:
    """The model of the file from ``start_s`` to ``end_s`` from its points; ``cuts_s``: shot cuts
    a change point may snap to."""
    ok = _confident(points)
    result = SyncOverTime(window_s, hop_s, list(points), "unknown")
    if len(ok.t) < max(MIN_POINTS, MIN_CONFIDENT_SHARE * len(points)):
        return result
    tol = tolerance(ok.offset)

    def share(residuals: np.ndarray) -> float:
        return float(np.mean(np.abs(residuals) <= tol))

    def mean_confidence() -> float:
        return round(float(np.mean(ok.confidence)), 4)

    level = float(np.median(ok.offset))
    if share(ok.offset - level) >= INLIER_SHARE:
        result.model = "constant"
        result.segments = [SyncSegment(start_s, end_s, round(level, 3), mean_confidence())]
        return result

    slope, intercept = theil_sen(ok.t, ok.offset)
    spans_the_file = ok.t[-1] - ok.t[0] >= MIN_DRIFT_SPAN * (end_s - start_s - window_s)
    if spans_the_file and share(ok.offset - (intercept + slope * ok.t)) >= INLIER_SHARE:
        result.model = "drift"
        result.drift_ms_per_min = round(slope * 60.0, 3)
        result.segments = [SyncSegment(start_s, end_s, round(intercept + slope * start_s, 3), mean_confidence(),
                                        end_offset_ms=round(intercept + slope * end_s, 3))]
        return result

    held = round(window_s / hop_s) + 1
    runs = absorb_blends(step_runs(ok.offset, tol), ok.offset, held, tol)
    levels = [float(np.median(ok.offset[slice(*run)])) for run in runs]
    fitted = np.concatenate([np.full(stop - start, lv) for (start, stop), lv in zip(runs, levels, strict=True)])
    if len(runs) > 1 and held_steps(runs, held) and share(ok.offset - fitted) >= INLIER_SHARE:
        bounds = [start_s]
        for (_, stop), (start, _) in zip(runs[:-1], runs[1:], strict=True):
            middle = 0.5 * float(ok.t[stop - 1] + ok.t[start])
            bounds.append(round(float(snap_to_cut(middle, cuts_s, hop_s)), 3))
        bounds.append(end_s)
        result.model = "steps"
        result.segments = [
            SyncSegment(bounds[n], bounds[n + 1], round(lv, 3), round(float(np.mean(ok.confidence[start:stop])), 4))
            for n, ((start, stop), lv) in enumerate(zip(runs, levels, strict=True))
        ]
    return result
