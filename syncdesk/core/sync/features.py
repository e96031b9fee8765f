"""Audio features: SyncNet's MFCC input and a per-window loudness used to spot silence."""

from __future__ import annotations

import numpy as np

from ..media import ANALYSIS_FPS, AUDIO_RATE
from .windows import MFCC_PER_FRAME, WINDOW_MFCC

SAMPLES_PER_FRAME = AUDIO_RATE // ANALYSIS_FPS  # 640
#: int16 full scale, for dBFS
FULL_SCALE = 32768.0


#: MFCC columns computed per block: the maths works in float64 on a frames x 400 matrix, so a
#: whole 5-minute clip at once would take ~250 MB; blocks keep it flat
MFCC_BLOCK = 6000
MFCC_STEP, MFCC_WINDOW = 160, 400  # 10 ms step, 25 ms window at 16 kHz
PREEMPHASIS = 0.97
#: python_speech_features.mfcc's defaults: FFT size, mel filters over 0..8 kHz, coefficients kept, lifter
NFFT, MEL_FILTERS, CEPSTRA, LIFTER = 512, 26, 13, 22


def _mel_filterbank() -> np.ndarray:
    """26 x 257 triangles over FFT bins spaced evenly in mel, as ``get_filterbanks(26, 512, 16000)``."""
    high_mel = 2595 * np.log10(1 + AUDIO_RATE / 2 / 700.0)
    mel_points = np.linspace(0.0, high_mel, MEL_FILTERS + 2)
    bins = np.floor((NFFT + 1) * (700 * (10 ** (mel_points / 2595.0) - 1)) / AUDIO_RATE)
    bank = np.zeros((MEL_FILTERS, NFFT // 2 + 1))
    for j, (left, centre, right) in enumerate(zip(bins, bins[1:], bins[2:])):
        rising, falling = np.arange(int(left), int(centre)), np.arange(int(centre), int(right))
        bank[j, rising] = (rising - left) / (centre - left)
        bank[j, falling] = (right - falling) / (right - centre)
    return bank


def _cepstrum_matrix() -> np.ndarray:
    """12 x 26: orthonormal DCT-II rows 1..12 times the sinusoidal lifter (row 0 becomes the log
    energy). A matrix, not scipy's DCT, whose import costs 80 ms of start-up."""
    k, n = np.arange(1, CEPSTRA)[:, None], np.arange(MEL_FILTERS)
    lift = 1 + (LIFTER / 2.0) * np.sin(np.pi * k / LIFTER)
    return lift * np.sqrt(2.0 / MEL_FILTERS) * np.cos(np.pi * k * (2 * n + 1) / (2 * MEL_FILTERS))


MEL_FILTERBANK = _mel_filterbank()
CEPSTRUM_MATRIX = _cepstrum_matrix()


def _frame_count(samples: int) -> int:
    return 1 if samples <= MFCC_WINDOW else 1 + int(np.ceil((samples - MFCC_WINDOW) / MFCC_STEP))


def _mfcc_block(signal: np.ndarray) -> np.ndarray:
    """``python_speech_features.mfcc(signal, 16000, preemph=0)``: frames x 13, column 0 = log energy.

    Its steps, so the spectrum, frame energies and filter-bank outputs are bit-identical (its
    default window multiplies by 1); only the DCT, a matrix product here, differs in the last bits.
    """
    frames = _frame_count(len(signal))
    padded = np.concatenate([signal, np.zeros((frames - 1) * MFCC_STEP + MFCC_WINDOW - len(signal))])
    windows = np.lib.stride_tricks.sliding_window_view(padded, MFCC_WINDOW)[::MFCC_STEP]
    power = 1.0 / NFFT * np.square(np.absolute(np.fft.rfft(windows, NFFT)))
    eps = np.finfo(float).eps  # the library's floor for log(0)
    energy = np.sum(power, 1)
    energy = np.where(energy == 0, eps, energy)
    bands = np.dot(power, MEL_FILTERBANK.T)
    cepstra = np.log(np.where(bands == 0, eps, bands)) @ CEPSTRUM_MATRIX.T
    return np.column_stack([np.log(energy), cepstra])


def mfcc(pcm: np.ndarray) -> np.ndarray:
    """13 x T MFCC as the published demo computes it (library defaults, first row = log energy).

    ``pcm`` is int16 at 16 kHz; the values stay in int16 scale, as the demo reads its wav file.
    Computed in blocks of columns, each with the one sample before it for the pre-emphasis, so the
    result equals ``python_speech_features.mfcc(pcm, 16000)`` (to float32 rounding) while memory
    stays flat.
    """
    total = _frame_count(len(pcm))
    columns = []
    for first in range(0, total, MFCC_BLOCK):
        last = min(total, first + MFCC_BLOCK)
        start = first * MFCC_STEP
        stop = len(pcm) if last == total else (last - 1) * MFCC_STEP + MFCC_WINDOW
        block = pcm[max(start - 1, 0) : stop].astype(np.float64)
        emphasised = np.append(block[0], block[1:] - PREEMPHASIS * block[:-1])
        if start > 0:
            emphasised = emphasised[1:]
        columns.append(_mfcc_block(emphasised))
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
