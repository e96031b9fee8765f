"""The sound's min/max envelope, small whatever the file's length: what the app's waveform lane draws
(computed here, in the caller's worker thread)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from .cancel import CancelToken
from .media import AUDIO_RATE, stream_audio

#: one envelope column per 10 ms
ENVELOPE_BIN_S = 0.01


def envelope(chunks: Iterable[np.ndarray], rate: int = AUDIO_RATE, bin_s: float = ENVELOPE_BIN_S) -> tuple[np.ndarray, np.ndarray]:
    """Per ``bin_s`` of int16 sound, its lowest and highest sample as -1..1 (the last bin may be short)."""
    size = max(1, round(rate * bin_s))
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    carry = np.zeros(0, np.int16)
    for chunk in chunks:
        samples = np.concatenate([carry, chunk]) if carry.size else chunk
        whole = samples.size - samples.size % size
        if whole:
            bins = samples[:whole].reshape(-1, size)
            lows.append(bins.min(axis=1))
            highs.append(bins.max(axis=1))
        carry = samples[whole:]
    if carry.size:
        lows.append(carry.min(keepdims=True))
        highs.append(carry.max(keepdims=True))
    if not lows:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    scale = np.float32(1 / 32768)
    return np.concatenate(lows).astype(np.float32) * scale, np.concatenate(highs).astype(np.float32) * scale


def read_envelope(path: Path, start: Fraction, cancel: CancelToken) -> tuple[np.ndarray, np.ndarray]:
    """``path``'s envelope with column 0 at source time ``start`` (the first frame)."""

    def chunks() -> Iterable[np.ndarray]:
        for chunk in stream_audio(path, start, rate=AUDIO_RATE, cancel=cancel):
            cancel.check()
            yield chunk

    return envelope(chunks())
