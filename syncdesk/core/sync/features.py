"""Audio features: SyncNet's MFCC input and a per-window loudness used to spot silence."""

from __future__ import annotations

import numpy as np
import python_speech_features

from ..media import ANALYSIS_FPS, AUDIO_RATE
from .model import MFCC_PER_FRAME, WINDOW_MFCC

SAMPLES_PER_FRAME = AUDIO_RATE // ANALYSIS_FPS  # 640
#: int16 full scale, for dBFS
FULL_SCALE = 32768.0


def mfcc(pcm: np.ndarray, rate: int = AUDIO_RATE) -> np.ndarray:
    """13 x T MFCC exactly as the published demo computes it (defaults, first row = log energy).

    ``pcm`` is int16 at ``rate``; the values stay in int16 scale, as the demo reads its wav file.
    """
    return python_speech_features.mfcc(pcm, rate).T.astype(np.float32)


def window_loudness_db(pcm: np.ndarray, windows: int) -> np.ndarray:
    """RMS level in dBFS of each audio window (0.2 s starting at frame ``j``)."""
    span = WINDOW_MFCC // MFCC_PER_FRAME * SAMPLES_PER_FRAME  # 3200 samples
    power = np.square(pcm.astype(np.float64))
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(windows) * SAMPLES_PER_FRAME
    ends = np.minimum(starts + span, len(pcm))
    mean_power = (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1)
    return 10.0 * np.log10(np.maximum(mean_power, 1e-12) / FULL_SCALE**2)


def silent_windows(loudness_db: np.ndarray, floor_db: float = -60.0, below_peak_db: float = 40.0) -> np.ndarray:
    """Windows quieter than ``floor_db`` or ``below_peak_db`` under the clip's loud level (95th pct)."""
    if loudness_db.size == 0:
        return np.zeros(0, dtype=bool)
    threshold = max(floor_db, float(np.percentile(loudness_db, 95)) - below_peak_db)
    return loudness_db < threshold
