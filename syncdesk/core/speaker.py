"""Active speaker per analysis frame from each track's framewise confidence."""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

import numpy as np

#: framewise confidence a track needs to count as speaking (SyncNet distance units)
SPEAKING_THRESHOLD = 1.0
#: a window of 5 frames stands for its middle frame
WINDOW_CENTRE = 2


class _Scored(Protocol):
    id: int
    start_frame: int
    framewise_confidence: list[float]


def frame_confidence(track: _Scored, frames: int) -> np.ndarray:
    """The track's framewise confidence placed on the clip's frames (NaN where it has none)."""
    curve = np.full(frames, np.nan)
    values = np.asarray(track.framewise_confidence, dtype=np.float64)
    first = track.start_frame + WINDOW_CENTRE
    stop = min(frames, first + len(values))
    if stop > first:
        curve[first:stop] = values[: stop - first]
    return curve


def active_speaker(tracks: Sequence[_Scored], frames: int,
                   threshold: float = SPEAKING_THRESHOLD) -> list[Optional[int]]:
    """Per frame, the id of the most confident track above ``threshold``, else ``None``."""
    if not tracks or frames <= 0:
        return [None] * max(frames, 0)
    curves = np.vstack([frame_confidence(track, frames) for track in tracks])
    filled = np.where(np.isnan(curves), -np.inf, curves)
    best = np.argmax(filled, axis=0)
    best_value = filled[best, np.arange(frames)]
    ids = [track.id for track in tracks]
    return [ids[b] if v > threshold else None for b, v in zip(best.tolist(), best_value.tolist(), strict=True)]
