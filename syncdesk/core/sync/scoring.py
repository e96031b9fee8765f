"""Offset, minimum distance and confidence from distance rows (syncnet-facts.md, "Offset and confidence").

With ``D(k)`` the mean over windows of ``d_i(k)``: ``k* = argmin D``, AV offset ``= -k*``
(positive: the audio leads the video), min dist ``= D(k*)``, confidence ``= median D - D(k*)``;
framewise confidence ``c_i = median D - d_i(k*)`` median-filtered over 9 windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..media import ANALYSIS_FPS

FRAMEWISE_FILTER = 9


@dataclass(frozen=True)
class SyncScore:
    offset_frames: int
    offset_ms: float  # sub-frame estimate, same sign convention
    min_dist: float
    confidence: float
    mean_dists: np.ndarray  # D(k), k = -vshift..vshift
    framewise_confidence: np.ndarray  # one per window of the track


def medfilt(values: np.ndarray, kernel_size: int) -> np.ndarray:
    """``scipy.signal.medfilt`` (zero-padded running median), without importing scipy.signal (0.3 s)."""
    half = kernel_size // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), half)
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, kernel_size), axis=1)


def subframe_shift(mean_dists: np.ndarray, index: int) -> float:
    """Vertex of the parabola through D at ``index-1, index, index+1`` (0 at either end)."""
    if index <= 0 or index >= len(mean_dists) - 1:
        return 0.0
    left, centre, right = (float(x) for x in mean_dists[index - 1 : index + 2])
    curvature = left - 2.0 * centre + right
    if curvature <= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def score(
    dists: np.ndarray,
    vshift: int,
    window_index: Optional[np.ndarray] = None,
    windows: Optional[int] = None,
    weights: Optional[np.ndarray] = None,
    fps: float = ANALYSIS_FPS,
) -> SyncScore:
    """Score distance rows of shape ``scored windows x (2*vshift+1)``.

    ``window_index`` gives each row's window number when only some windows were scored; the
    framewise curve is then interpolated to all ``windows``. ``weights`` (one per row) weight
    the mean ``D(k)``; ``None`` is the published plain mean.
    """
    if dists.ndim != 2 or dists.shape[1] != 2 * vshift + 1 or len(dists) == 0:
        raise ValueError("need at least one row of 2*vshift+1 distances")
    if weights is None or not np.any(weights > 0):
        mean_dists = dists.mean(axis=0)
    else:
        mean_dists = (weights[:, None] * dists).sum(axis=0) / weights.sum()
    best = int(np.argmin(mean_dists))
    median = float(np.median(mean_dists))
    min_dist = float(mean_dists[best])
    offset = vshift - best
    offset_ms = (offset - subframe_shift(mean_dists, best)) * 1000.0 / fps

    framewise = median - dists[:, best]
    if window_index is not None and windows is not None and len(window_index) != windows:
        framewise = np.interp(np.arange(windows), window_index, framewise)
    framewise = medfilt(framewise.astype(np.float64), kernel_size=FRAMEWISE_FILTER)
    return SyncScore(offset, offset_ms, min_dist, median - min_dist, mean_dists, framewise)
