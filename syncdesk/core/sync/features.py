"""Audio features: SyncNet's MFCC input and a per-window loudness used to spot silence."""

from __future__ import annotations

import numpy as np
import python_speech_features

from ..media import ANALYSIS_FPS, AUDIO_RATE
from .model import MFCC_PER_FRAME, WINDOW_MFCC

SAMPLES_PER_FRAME = AUDIO_RATE // ANALYSIS_FPS  # 640
#: int16 full scale, for dBFS
FULL_SCALE = 32768.0


#: MFCC columns computed per block: python_speech_features works in float64 on a frames x 400
#: matrix, so a whole 5-minute clip at once would take ~250 MB; blocks keep it flat
MFCC_BLOCK = 6000
MFCC_STEP, MFCC_WINDOW = 160, 400  # 10 ms step, 25 ms window at 16 kHz
PREEMPHASIS = 0.97


def mfcc(pcm: np.ndarray, rate: int = AUDIO_RATE) -> np.ndarray:
    """13 x T MFCC exactly as the published demo computes it (defaults, first row = log energy).

    ``pcm`` is int16 at ``rate``; the values stay in int16 scale, as the demo reads its wav file.
    Computed in blocks of columns, each with the one sample before it for the pre-emphasis, so the
    result equals ``python_speech_features.mfcc(pcm, rate)`` while memory stays flat.
    """
    total = 1 if len(pcm) <= MFCC_WINDOW else 1 + int(np.ceil((len(pcm) - MFCC_WINDOW) / MFCC_STEP))
    columns = []
    for first in range(0, total, MFCC_BLOCK):
        last = min(total, first + MFCC_BLOCK)
        start = first * MFCC_STEP
        stop = len(pcm) if last == total else (last - 1) * MFCC_STEP + MFCC_WINDOW
        block = pcm[max(start - 1, 0) : stop].astype(np.float64)
        emphasised = np.append(block[0], block[1:] - PREEMPHASIS * block[:-1])
        if start > 0:
            emphasised = emphasised[1:]
        columns.append(python_speech_features.mfcc(emphasised, rate, preemph=0))
    return np.concatenate(columns).T.astype(np.float32)


def window_loudness_db(pcm: np.ndarray, windows: int) -> np.ndarray:
    """RMS level in dBFS of each audio window (0.2 s starting at frame ``j``)."""
    frames = len(pcm) // SAMPLES_PER_FRAME
    power = np.empty(frames)
    for first in range(0, frames, MFCC_BLOCK):
        block = pcm[first * SAMPLES_PER_FRAME : min(frames, first + MFCC_BLOCK) * SAMPLES_PER_FRAME]
        power[first : first + len(block) // SAMPLES_PER_FRAME] = np.square(
            block.reshape(-1, SAMPLES_PER_FRAME).astype(np.float64)).sum(axis=1)
    span = WINDOW_MFCC // MFCC_PER_FRAME  # 5 frames
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(windows)
    ends = np.minimum(starts + span, frames)
    mean_power = (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1) / SAMPLES_PER_FRAME
    return 10.0 * np.log10(np.maximum(mean_power, 1e-12) / FULL_SCALE**2)


def silent_windows(loudness_db: np.ndarray, floor_db: float = -60.0, below_peak_db: float = 40.0) -> np.ndarray:
    """Windows quieter than ``floor_db`` or ``below_peak_db`` under the clip's loud level (95th pct)."""
    if loudness_db.size == 0:
        return np.zeros(0, dtype=bool)
    threshold = max(floor_db, float(np.percentile(loudness_db, 95)) - below_peak_db)
    return loudness_db < threshold
