"""The timeline's offset lane: the offset in ms measured over time, each point as strong as its
confidence, no-evidence windows left empty, the model (a drift's line or constant steps) over it and
the selected segment marked. x is seconds, as on the rest of the timeline.

Every item is created once; a new or edited model only changes their data.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ..core import SyncOverTime

POINT_COLOUR = (86, 180, 233)  # sky blue (Okabe-Ito), as the lane's points
MODEL_COLOUR = "#E69F00"  # orange: the model drawn over the points
SELECTED_COLOUR = "#F0E442"
MIN_STRENGTH = 0.2  # the weakest point still shows


class MsAxis(pg.AxisItem):
    """A left axis that writes offsets as signed milliseconds (``+80``, ``0``, ``-120``)."""

    def __init__(self) -> None:
        super().__init__(orientation="left")

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [f"{value:+.0f}" if round(value) else "0" for value in values]


def point_strengths(confidences: np.ndarray) -> np.ndarray:
    """Each point's confidence as a 0..1 strength (relative to the file's most confident window)."""
    top = float(confidences.max()) if confidences.size else 0.0
    if top <= 0:
        return np.full(confidences.shape, MIN_STRENGTH)
    return np.clip(confidences / top, MIN_STRENGTH, 1.0)


def model_curve(over_time: SyncOverTime) -> tuple[np.ndarray, np.ndarray]:
    """The model as one polyline: per segment its start and end value, NaN between segments that do
    not join and where a segment has no offset."""
    xs: list[float] = []
    ys: list[float] = []
    for segment in over_time.segments:
        start = np.nan if segment.offset_ms is None else segment.offset_ms
        end = start if segment.end_offset_ms is None else segment.end_offset_ms
        if xs:  # a step is drawn as a vertical jump, a gap (no offset) as a break
            xs.append(segment.start_s)
            ys.append(np.nan if np.isnan(start) or np.isnan(ys[-1]) else ys[-1])
        xs += [segment.start_s, segment.end_s]
        ys += [start, end]
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


class OffsetLane:
    """The lane's items on ``plot`` (a PlotItem whose x axis is linked to the timeline's)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.over_time: Optional[SyncOverTime] = None
        self.zero = pg.InfiniteLine(0.0, angle=0, movable=False,
                                    pen=pg.mkPen("#8A8F96", width=1, style=Qt.PenStyle.DashLine))
        # the points joined where consecutive windows both have evidence, so gaps read as gaps
        self.trace = pg.PlotDataItem(pen=pg.mkPen((*POINT_COLOUR, 90), width=1), connect="finite")
        self.points = pg.ScatterPlotItem(pen=None)
        self.model = pg.PlotDataItem(pen=pg.mkPen(MODEL_COLOUR, width=2), connect="finite")
        self.selected = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(240, 228, 66, 40),
                                            pen=pg.mkPen(SELECTED_COLOUR, width=1))
        self.selected.setZValue(-10)
        self.selected.hide()
        for item in (self.zero, self.selected, self.trace, self.points, self.model):
            plot.addItem(item, ignoreBounds=item in (self.zero, self.selected))
        self.set_over_time(None)

    def set_over_time(self, over_time: Optional[SyncOverTime]) -> None:
        self.over_time = over_time
        points = over_time.points if over_time is not None else []
        t = np.array([point.t_s for point in points], dtype=float)
        offsets = np.array([np.nan if point.offset_ms is None else point.offset_ms for point in points], dtype=float)
        self.trace.setData(t, offsets)
        known = ~np.isnan(offsets)
        strengths = point_strengths(np.array([point.confidence for point in points], dtype=float)[known])
        brushes = [pg.mkBrush(*POINT_COLOUR, int(255 * strength)) for strength in strengths]
        self.points.setData(x=t[known], y=offsets[known], size=4 + 6 * strengths, brush=brushes)
        self.model.setData(*model_curve(over_time) if over_time is not None else ([], []))
        self._fit_y(offsets[known])

    def set_segment(self, index: Optional[int]) -> None:
        segments = self.over_time.segments if self.over_time is not None else []
        if index is None or not 0 <= index < len(segments):
            self.selected.hide()
            return
        self.selected.setRegion((segments[index].start_s, segments[index].end_s))
        self.selected.show()

    def segment_at(self, seconds: float) -> Optional[int]:
        for index, segment in enumerate(self.over_time.segments if self.over_time is not None else []):
            if segment.start_s <= seconds <= segment.end_s:
                return index
        return None

    def _fit_y(self, offsets: np.ndarray) -> None:
        _, model = model_curve(self.over_time) if self.over_time is not None else (None, np.zeros(0))
        values = np.concatenate([offsets, model[~np.isnan(model)], [0.0]])
        low, high = float(values.min()), float(values.max())
        margin = max(20.0, 0.15 * (high - low))
        self.plot.setYRange(low - margin, high + margin, padding=0)
