"""The waveform lane: the sound's min/max envelope per 10 ms, drawn where the audio shift puts it.

The envelope is computed in a worker from the engine's audio stream (:class:`Envelope` holds two
small arrays per 10 ms, whatever the length); the lane draws it with two curves created once and
moves them with ``setPos`` when the shift changes, so the sound is seen sliding against the picture.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np
import pyqtgraph as pg

from ..core import CancelToken, stream_audio

RATE = 16_000
BIN_S = 0.01  # one envelope column per 10 ms
COLOUR = (0, 158, 115)  # bluish green (Okabe-Ito)


def envelope(chunks: Iterable[np.ndarray], rate: int = RATE, bin_s: float = BIN_S) -> tuple[np.ndarray, np.ndarray]:
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
    """``path``'s envelope with column 0 at source time ``start`` (the first frame). Off the GUI thread."""

    def chunks() -> Iterable[np.ndarray]:
        for chunk in stream_audio(path, start, rate=RATE, cancel=cancel):
            cancel.check()
            yield chunk

    return envelope(chunks())


class WaveformLane:
    """The envelope on ``plot`` (x linked to the timeline), shifted by the audio shift."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.shift_ms = 0.0
        pen = pg.mkPen(COLOUR, width=1)
        brush = pg.mkBrush(*COLOUR, 150)
        self.high = pg.PlotDataItem(pen=pen, fillLevel=0.0, fillBrush=brush, skipFiniteCheck=True)
        self.low = pg.PlotDataItem(pen=pen, fillLevel=0.0, fillBrush=brush, skipFiniteCheck=True)
        for curve in (self.high, self.low):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            plot.addItem(curve)
        plot.setYRange(-1.0, 1.0, padding=0.05)

    def set_envelope(self, lows: np.ndarray, highs: np.ndarray) -> None:
        x = (np.arange(lows.size) + 0.5) * BIN_S
        self.low.setData(x, lows)
        self.high.setData(x, highs)

    def clear(self) -> None:
        self.set_envelope(np.zeros(0), np.zeros(0))

    def set_shift(self, shift_ms: float) -> None:
        """Delaying the audio by ``shift_ms`` draws it that much later (to the right)."""
        self.shift_ms = shift_ms
        for curve in (self.high, self.low):
            curve.setPos(shift_ms / 1000.0, 0.0)
