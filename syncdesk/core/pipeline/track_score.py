"""A track's distance rows turned into its offset, confidence and notes (the published maths)."""

from __future__ import annotations

import numpy as np

from ..options import AnalysisOptions
from ..results import Track
from ..sync import scoring
from ..sync.embed import WindowScorer


def silence_weights(sounding: np.ndarray, window_index: np.ndarray, vshift: int) -> np.ndarray:
    """1 for a scored window with sound anywhere within its +-vshift search range, else 0
    (``sounding``: per audio window of the track)."""
    if sounding.size == 0:
        return np.ones(len(window_index))
    heard = np.concatenate([[0], np.cumsum(sounding)])
    lo = np.clip(window_index - vshift, 0, sounding.size)
    hi = np.clip(window_index + vshift + 1, 0, sounding.size)
    return (heard[hi] - heard[lo] > 0).astype(np.float64)


def score_track(track_id: int, start: int, end: int, boxes: list[list[float]], scorer: WindowScorer,
                sounding: np.ndarray, options: AnalysisOptions) -> Track:
    """Score one finished track's distance rows (silent windows left out in fast mode; ``sounding``:
    per audio window of the track, whether it has sound)."""
    if scorer.windows < 1:  # the audio ends before the track's first window
        return Track(track_id, start, end, boxes, 0, 0.0, 0.0, 0.0, [], windows=0)
    dists = scorer.distances()
    index = scorer.window_index
    weights = None
    silent = 0
    if not options.exact:
        weights = silence_weights(sounding, index, options.vshift)
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
