"""The waveform lane: the sound's min/max envelope per 10 ms, drawn where the audio shift puts it.

The envelope is computed in a worker (``core.read_envelope``: two small arrays per 10 ms, whatever
the length); the lane draws it with two curves created once and moves them with ``setPos`` when the
shift changes, so the sound is seen sliding against the picture.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..core import ENVELOPE_BIN_S

COLOUR = (0, 158, 115)  # bluish green (Okabe-Ito)


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
        x = (np.arange(lows.size) + 0.5) * ENVELOPE_BIN_S
        self.low.setData(x, lows)
        self.high.setData(x, highs)

    def clear(self) -> None:
        self.set_envelope(np.zeros(0), np.zeros(0))

    def set_shift(self, shift_ms: float) -> None:
        """Delaying the audio by ``shift_ms`` draws it that much later (to the right)."""
        self.shift_ms = shift_ms
        for curve in (self.high, self.low):
            curve.setPos(shift_ms / 1000.0, 0.0)
