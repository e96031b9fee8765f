"""The live view's history plot: the offset (ms) over the monitor's clock, scrolling, with the
tolerance's band, as the timeline's offset lane draws it (pyqtgraph, items made once, data replaced).

Points within the tolerance are sky blue, outside vermilion; windows without evidence are gaps.
The x axis follows the latest update over the chosen span (it grows until the span is filled);
while the view is paused it stands still and can be panned and zoomed with the mouse.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ..core import Tolerance
from .live_history import HistoryPoint, stream_clock
from .offset_lane import POINT_COLOUR, MsAxis

OUTSIDE_COLOUR = (213, 94, 0)  # vermilion (Okabe-Ito), the app's "poor"
BAND_BRUSH = (0, 158, 115, 45)  # green (Okabe-Ito), the app's "good", faint
BAND_PEN = (0, 158, 115, 140)
BACKGROUND = "#16181B"
#: the spans the x axis can show (seconds), and the first one
SPANS_S = (60.0, 300.0, 900.0, 3600.0)
DEFAULT_SPAN_S = 300.0
MIN_SPAN_S = 30.0  # the axis starts this wide, then grows with the stream up to the span


class ClockAxis(pg.AxisItem):
    """A bottom axis that writes the monitor's clock as ``HH:MM:SS``."""

    def __init__(self) -> None:
        super().__init__(orientation="bottom")

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [stream_clock(value)[:-2] if spacing >= 1 else stream_clock(value) for value in values]


class HistoryPlot(pg.PlotWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent, background=BACKGROUND, axisItems={"bottom": ClockAxis(), "left": MsAxis()})
        self.setObjectName("live_history")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setLabel("left", "offset (ms, + audio early)")
        self.getViewBox().setMouseEnabled(x=True, y=False)
        self.getViewBox().setLimits(xMin=0.0)
        self.span_s = DEFAULT_SPAN_S
        self.following = True
        self.tolerance: Optional[Tolerance] = None
        self.band = pg.LinearRegionItem((0.0, 0.0), orientation="horizontal", movable=False,
                                        brush=pg.mkBrush(*BAND_BRUSH), pen=pg.mkPen(BAND_PEN, width=1))
        self.band.setZValue(-10)
        self.zero = pg.InfiniteLine(0.0, angle=0, movable=False,
                                    pen=pg.mkPen("#8A8F96", width=1, style=Qt.PenStyle.DashLine))
        self.trace = pg.PlotDataItem(pen=pg.mkPen((*POINT_COLOUR, 140), width=1.5), connect="finite")
        # one item per colour: a brush per point would be thousands of brushes at every update
        self.points = pg.ScatterPlotItem(pen=None, size=6, brush=pg.mkBrush(*POINT_COLOUR))
        self.outside_points = pg.ScatterPlotItem(pen=None, size=6, brush=pg.mkBrush(*OUTSIDE_COLOUR))
        for item in (self.band, self.zero):
            self.addItem(item, ignoreBounds=True)
        for item in (self.trace, self.points, self.outside_points):
            self.addItem(item)
        self.band.hide()
        self._t = np.zeros(0)
        self._offsets = np.zeros(0)
        self._outside = np.zeros(0, dtype=bool)
        self._latest_t = 0.0
        self._scroll()

    def set_tolerance(self, tolerance: Optional[Tolerance]) -> None:
        self.tolerance = tolerance
        if tolerance is None:
            self.band.hide()
        else:
            self.band.setRegion((-tolerance.lag_ms, tolerance.lead_ms))
            self.band.show()
        self._fit_y()

    def set_span(self, span_s: float) -> None:
        self.span_s = span_s
        self._scroll()

    def set_following(self, following: bool) -> None:
        """Follow the latest update (live), or stand still where the user can pan and zoom (paused)."""
        self.following = following
        if following:
            self._scroll()

    def set_points(self, points: Iterable[HistoryPoint]) -> None:
        points = list(points)
        self._t = np.array([p.t_s for p in points], dtype=float)
        self._offsets = np.array([p.offset_ms for p in points], dtype=float)
        self._outside = np.array([p.outside for p in points], dtype=bool)
        self._latest_t = float(self._t.max()) if self._t.size else 0.0
        self.trace.setData(self._t, self._offsets)
        known = ~np.isnan(self._offsets)
        within, outside = known & ~self._outside, known & self._outside
        self.points.setData(x=self._t[within], y=self._offsets[within])
        self.outside_points.setData(x=self._t[outside], y=self._offsets[outside])
        if self.following:
            self._scroll()

    def point_count(self) -> tuple[int, int]:
        """Points drawn (within the tolerance, outside it)."""
        return len(self.points.data), len(self.outside_points.data)

    def visible_x(self) -> tuple[float, float]:
        return tuple(self.getViewBox().viewRange()[0])

    def _scroll(self) -> None:
        right = max(self._latest_t + 1.0, min(self.span_s, MIN_SPAN_S))
        left = max(0.0, right - self.span_s)
        self.setXRange(left, right, padding=0)
        self._fit_y()

    def _fit_y(self) -> None:
        """Every point shown, the tolerance's band and zero in view; at least +-100 ms."""
        left, right = self.visible_x()
        shown = (self._t >= left) & (self._t <= right) & ~np.isnan(self._offsets)
        values = [self._offsets[shown], [-100.0, 100.0]]
        if self.tolerance is not None:
            values.append([-self.tolerance.lag_ms, self.tolerance.lead_ms])
        values = np.concatenate([np.asarray(v, dtype=float) for v in values])
        low, high = float(values.min()), float(values.max())
        margin = max(20.0, 0.1 * (high - low))
        self.setYRange(low - margin, high + margin, padding=0)
