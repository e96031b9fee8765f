"""Active speaker per analysis frame from each track's framewise confidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np

from .media import ANALYSIS_FPS
from .sync.scoring import subframe_shift

#: framewise confidence a track needs to count as speaking (SyncNet distance units)
SPEAKING_THRESHOLD = 1.0
#: a track whose overall confidence fails even the relaxed preset (2.0) is nobody's voice ...
MIN_SPEAKER_CONFIDENCE = 2.0
#: ... and so is one far less confident than the clip's best track (chance agreement of a
#: silent face with someone else's voice)
RELATIVE_CONFIDENCE = 0.5
#: a window of 5 frames stands for its middle frame
WINDOW_CENTRE = 2


class _Scored(Protocol):
    id: int
    start_frame: int
    confidence: float
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


def speaker_candidates(tracks: Sequence[_Scored]) -> list[_Scored]:
    """The tracks confident enough overall to be anyone's voice."""
    best = max((track.confidence for track in tracks), default=0.0)
    floor = max(MIN_SPEAKER_CONFIDENCE, RELATIVE_CONFIDENCE * best)
    return [track for track in tracks if track.confidence >= floor]


def active_speaker(tracks: Sequence[_Scored], frames: int,
                   threshold: float = SPEAKING_THRESHOLD) -> list[Optional[int]]:
    """Per frame, among :func:`speaker_candidates`, the id of the track whose (smoothed)
    framewise confidence is highest and above ``threshold``, else ``None``; a tie goes to
    the track listed first."""
    tracks = speaker_candidates(tracks)
    if not tracks or frames <= 0:
        return [None] * max(frames, 0)
    curves = np.vstack([frame_confidence(track, frames) for track in tracks])
    filled = np.where(np.isnan(curves), -np.inf, curves)
    best = np.argmax(filled, axis=0)
    best_value = filled[best, np.arange(frames)]
    ids = [track.id for track in tracks]
    return [ids[b] if v > threshold else None for b, v in zip(best.tolist(), best_value.tolist(), strict=True)]


@dataclass(frozen=True)
class ClipVerdict:
    offset_frames: int
    offset_ms: float
    min_dist: float
    confidence: float
    tracks: list[int]  # the speaking tracks it combines; empty: no confident speaker
    weights: list[float]


class _Evidence(_Scored, Protocol):
    confidence: float
    mean_dists: list[float]


def clip_verdict(tracks: Sequence[_Evidence], speaker: Sequence[Optional[int]], vshift: int) -> ClipVerdict:
    """One offset for the clip from its speaking tracks, confidence-weighted.

    A file has one audio-video offset, so the tracks' evidence is pooled: each speaking track's
    mean-distance curve ``D(k)`` is weighted by its confidence times its speaking frames, and
    the verdict is read off the pooled curve as for one track (one speaking track: its own
    result). No speaking frame at all gives offset 0 with confidence 0: nothing is measured.
    """
    speaking = {t.id: sum(1 for s in speaker if s == t.id) for t in tracks}
    used = [t for t in tracks if speaking[t.id] > 0 and t.confidence > 0 and len(t.mean_dists) == 2 * vshift + 1]
    if not used:
        floor = min((t.min_dist for t in tracks), default=0.0)
        return ClipVerdict(0, 0.0, floor, 0.0, [], [])
    weights = np.array([t.confidence * speaking[t.id] for t in used])
    pooled = (weights[:, None] * np.array([t.mean_dists for t in used])).sum(axis=0) / weights.sum()
    best = int(np.argmin(pooled))
    offset = vshift - best
    offset_ms = (offset - subframe_shift(pooled, best)) * 1000.0 / ANALYSIS_FPS
    return ClipVerdict(offset, round(offset_ms, 3), float(pooled[best]), float(np.median(pooled) - pooled[best]),
                       [t.id for t in used], [round(float(w / weights.sum()), 4) for w in weights])
