"""A track's distance rows turned into its offset, confidence and notes (the published maths)."""

from __future__ import annotations

import numpy as np

from ..options import AnalysisOptions
from ..results import Track
from ..sync import features, scoring
from ..sync.embed import WindowScorer


def sounding_windows(pcm: np.ndarray, audio_windows: int) -> np.ndarray:
    """Per audio window, whether it has sound (all True when the level cannot be told)."""
    silent = features.silent_windows(features.window_loudness_db(pcm, audio_windows))
    return ~silent if silent.size else np.ones(audio_windows, dtype=bool)


def silence_weights(pcm: np.ndarray, window_index: np.ndarray, audio_windows: int, vshift: int) -> np.ndarray:
    """1 for a scored window with sound anywhere within its +-vshift search range, else 0."""
    silent = features.silent_windows(features.window_loudness_db(pcm, audio_windows))
    if silent.size == 0:
        return np.ones(len(window_index))
    sounding = np.concatenate([[0], np.cumsum(~silent)])
    lo = np.clip(window_index - vshift, 0, audio_windows)
    hi = np.clip(window_index + vshift + 1, 0, audio_windows)
    return (sounding[hi] - sounding[lo] > 0).astype(np.float64)


def score_track(track_id: int, start: int, end: int, boxes: list[list[float]], scorer: WindowScorer,
                pcm: np.ndarray, audio_windows: int, options: AnalysisOptions) -> Track:
    """Score one finished track's distance rows (silent windows left out in fast mode)."""
    if scorer.windows < 1:  # the audio ends before the track's first window
        return Track(track_id, start, end, boxes, 0, 0.0, 0.0, 0.0, [], windows=0)
    dists = scorer.distances()
    index = scorer.window_index
    weights = None
    silent = 0
    if not options.exact:
        weights = silence_weights(pcm, index, audio_windows, options.vshift)
        silent = int(np.sum(weights == 0))
    if silent == len(index):  # nothing to hear: no evidence either way
        return Track(track_id, start, end, boxes, 0, 0.0, 0.0, 0.0, [0.0] * scorer.windows, windows=scorer.windows,
                     windows_scored=len(index), silent_windows=silent)
    result = scoring.score(dists, options.vshift, index, scorer.windows, weights)
    return Track(
        id=track_id,
        start_frame=start,
        end_frame=end,
        boxes=boxes,
        offset_frames=result.offset_frames,
        offset_ms=round(result.offset_ms, 3),
        min_dist=result.min_dist,
        confidence=result.confidence,
        framewise_confidence=[round(float(c), 5) for c in result.framewise_confidence],
        dists=dists.tolist() if options.save_dists else None,
        windows=scorer.windows,
        windows_scored=len(index),
        silent_windows=silent,
        mean_dists=[round(float(d), 5) for d in result.mean_dists],
    )


def track_warnings(track: Track, tracks: int) -> list[str]:
    """What the document should say about this track's sound (``tracks``: how many the clip has)."""
    name = "the clip" if tracks == 1 else f"track {track.id}"
    if track.windows_scored and track.silent_windows == track.windows_scored:
        return [f"the sound is silent throughout {name}: there is nothing to sync"]
    if track.silent_windows:
        return [f"{track.silent_windows} of {track.windows_scored} scored windows of {name} were silent "
                "and left out of the verdict"]
    return []
