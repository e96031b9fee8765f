"""The timeline: a strip of thumbnails, the audio waveform (moved by the audio shift), the offset
measured over time (when the analysis has it), then one framewise-confidence curve per face track,
the active-speaker lane, shot boundaries, a timecode ruler and a playhead that can be dragged
(pyqtgraph). The lanes are plots of their own whose x axes are linked to the curves' plot.

x is seconds from the first frame (analysis time); the ruler writes it as ``HH:MM:SS:FF``.
The wheel zooms and the mouse pans the time axis only; "fit" shows the whole clip.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..core import (
    ANALYSIS_FPS, SPEAKING_THRESHOLD, Analysis, SyncOverTime, Track, frame_confidence, timecode, track_colour,
)
from .offset_lane import MsAxis, OffsetLane
from .thumbnails import HEIGHT as THUMBNAIL_HEIGHT
from .thumbnails import ThumbnailStrip
from .waveform import WaveformLane

LANE_SHARE, LANE_GAP = 0.12, 0.04  # the active-speaker lane under the lowest curve, as shares of its range
PLAYHEAD_COLOUR = "#F0E442"
BACKGROUND = "#16181B"
AXIS_WIDTH = 64  # every lane's left axis, so that their x axes line up
OFFSET_LANE_HEIGHT = 76
WAVEFORM_HEIGHT = 30


class TimecodeAxis(pg.AxisItem):
    """A bottom axis that writes seconds as timecode at the clip's frame rate."""

    def __init__(self) -> None:
        super().__init__(orientation="bottom")
        self.fps = float(ANALYSIS_FPS)

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [timecode(value, self.fps) for value in values]


class Timeline(QWidget):
    """Emits ``seek_requested(seconds)`` when the user drags the playhead or clicks a lane, and
    ``segment_clicked(index)`` when a segment of the offset lane is clicked."""

    seek_requested = Signal(float)
    segment_clicked = Signal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.axis = TimecodeAxis()
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis}, background=BACKGROUND)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", "conf.")  # short: rotated labels of squeezed lanes must not overlap
        self.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.plot.addLegend(offset=(8, 4), labelTextColor="#DDDDDD", brush=pg.mkBrush(22, 24, 27, 200))
        view = self.plot.getViewBox()
        view.setMouseEnabled(x=True, y=False)  # wheel zooms time, drag pans time
        view.setLimits(xMin=0.0)
        self.duration = 0.0
        self.curves: dict[int, pg.PlotDataItem] = {}
        self._items: list[pg.GraphicsObject] = []
        self.thumbnail_plot = self._lane("", THUMBNAIL_HEIGHT + 2)
        self.thumbnail_plot.getAxis("left").setStyle(showValues=False)
        self.thumbnails = ThumbnailStrip(self.thumbnail_plot.getPlotItem())
        self.waveform_plot = self._lane("", WAVEFORM_HEIGHT)  # both too short for a rotated label
        self.waveform_plot.getAxis("left").setStyle(showValues=False)
        self.waveform = WaveformLane(self.waveform_plot.getPlotItem())
        self.offset_plot = self._lane("ms", OFFSET_LANE_HEIGHT, MsAxis())
        self.offset_plot.showGrid(x=True, y=True, alpha=0.15)
        self.offset_lane = OffsetLane(self.offset_plot.getPlotItem())
        self.offset_plot.hide()
        self.playheads: list[pg.InfiniteLine] = []
        for plot in (self.thumbnail_plot, self.waveform_plot, self.offset_plot, self.plot):
            self.playheads.append(self._playhead(plot))
        self.playhead = self.playheads[-1]
        self.plot.scene().sigMouseClicked.connect(lambda event: self._clicked(self.plot, event))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for plot in (self.thumbnail_plot, self.waveform_plot, self.offset_plot):
            layout.addWidget(plot)
        layout.addWidget(self.plot, 1)
        self.clear()

    def _lane(self, label: str, height: int, left: Optional[pg.AxisItem] = None) -> pg.PlotWidget:
        """A plot above the curves with the same x axis (linked) and no ruler of its own."""
        plot = pg.PlotWidget(axisItems={"left": left} if left is not None else None, background=BACKGROUND)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.hideAxis("bottom")
        if label:
            plot.setLabel("left", label)
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.setMinimumHeight(24)  # a small window squeezes the lanes before the curves
        plot.setMaximumHeight(height)
        view = plot.getViewBox()
        view.setMouseEnabled(x=True, y=False)
        view.setLimits(xMin=0.0)
        view.disableAutoRange()  # the curves' plot (``fit``) decides what time is shown, never a lane's data
        view.setXLink(self.plot.getViewBox())
        plot.scene().sigMouseClicked.connect(lambda event: self._clicked(plot, event))
        return plot

    def _playhead(self, plot: pg.PlotWidget) -> pg.InfiniteLine:
        line = pg.InfiniteLine(0.0, angle=90, movable=True, pen=pg.mkPen(PLAYHEAD_COLOUR, width=2),
                               hoverPen=pg.mkPen(PLAYHEAD_COLOUR, width=4))
        line.setZValue(100)
        line.sigDragged.connect(lambda moved: self.seek_requested.emit(max(0.0, float(moved.value()))))
        plot.addItem(line, ignoreBounds=True)
        return line

    # ----------------------------------------------------------------- content
    def clear(self, duration_s: float = 0.0, fps: float = ANALYSIS_FPS) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items.clear()
        self.curves.clear()
        self.plot.getPlotItem().legend.clear()
        self.duration = duration_s
        self.axis.fps = fps
        margin = 0.01 * max(duration_s, 1.0)  # the playhead at 0 or at the end is whole, and can be grabbed
        for plot in (self.plot, self.thumbnail_plot, self.waveform_plot, self.offset_plot):
            plot.getViewBox().setLimits(xMin=-margin, xMax=max(duration_s, 1.0) + margin)
        self.plot.setYRange(-2.0, 12.0, padding=0.02)
        self.set_over_time(None)
        self.fit()

    def clear_media(self) -> None:
        """No waveform and no thumbnails (a new file: its own are on the way)."""
        self.waveform.clear()
        self.thumbnails.reset(0.0, 1)

    def set_over_time(self, over_time: Optional[SyncOverTime]) -> None:
        """The offset lane, shown only when the analysis measured the offset over time."""
        self.offset_lane.set_over_time(over_time)
        self.offset_plot.setVisible(over_time is not None)

    def set_segment(self, index: Optional[int]) -> None:
        self.offset_lane.set_segment(index)

    def set_shots(self, shots: Sequence[Sequence[int]]) -> None:
        for start, _ in shots[1:]:
            line = pg.InfiniteLine(start / ANALYSIS_FPS, angle=90, movable=False,
                                   pen=pg.mkPen("#8A8F96", width=1, style=Qt.PenStyle.DashLine))
            self._add(line)

    def add_track(self, track: Track, frames: int) -> None:
        """One track's framewise confidence, as soon as it is scored."""
        values = frame_confidence(track, frames)
        x = np.arange(frames) / ANALYSIS_FPS
        curve = pg.PlotDataItem(x, values, pen=pg.mkPen(track_colour(track.id), width=2), connect="finite",
                                name=f"#{track.id}")
        self.curves[track.id] = curve
        self._add(curve)

    def set_analysis(self, analysis: Analysis) -> None:
        """Everything at once: curves, shots, the speaker lane and the speaking threshold."""
        frames = len(analysis.active_speaker) or analysis.source.frames
        self.clear(frames / ANALYSIS_FPS, analysis.source.fps)
        self.set_shots(analysis.shots)
        threshold = pg.InfiniteLine(SPEAKING_THRESHOLD, angle=0, movable=False,
                                    pen=pg.mkPen("#5F6368", width=1, style=Qt.PenStyle.DotLine))
        self._add(threshold)
        low, high = 0.0, 10.0
        for track in analysis.tracks:
            self.add_track(track, frames)
            values = np.asarray(track.framewise_confidence, dtype=float)
            if values.size:
                low, high = min(low, float(values.min())), max(high, float(values.max()))
        span = high - low  # the lane keeps its share of the plot whatever the curves' scale
        lane = (low - (LANE_GAP + LANE_SHARE) * span, low - LANE_GAP * span)
        self._speaker_lane(analysis.active_speaker, lane)
        self.plot.setYRange(lane[0], high + LANE_GAP * span, padding=0.02)

    def _speaker_lane(self, speaker: Sequence[Optional[int]], lane: tuple[float, float]) -> None:
        """Coloured bars under the curves: who speaks when (gaps: nobody)."""
        starts, widths, brushes = [], [], []
        run_start = 0
        for index in range(1, len(speaker) + 1):
            if index == len(speaker) or speaker[index] != speaker[run_start]:
                if speaker[run_start] is not None:
                    starts.append(run_start / ANALYSIS_FPS)
                    widths.append((index - run_start) / ANALYSIS_FPS)
                    brushes.append(pg.mkBrush(track_colour(speaker[run_start])))
                run_start = index
        if starts:
            bars = pg.BarGraphItem(x0=starts, width=widths, y0=lane[0], height=lane[1] - lane[0],
                                   brushes=brushes, pen=pg.mkPen(None))
            self._add(bars)
        label = pg.TextItem("speaker", color="#9AA0A6", anchor=(0, 0.5))
        label.setPos(0, (lane[0] + lane[1]) / 2)
        self._add(label)

    def _add(self, item: pg.GraphicsObject) -> None:
        self.plot.addItem(item)
        self._items.append(item)

    # ---------------------------------------------------------------- playhead
    def set_position(self, seconds: float) -> None:
        """Move the playhead without emitting ``seek_requested``; keep it in view while playing."""
        for line in self.playheads:
            line.blockSignals(True)
            line.setValue(seconds)
            line.blockSignals(False)
        (left, right), _ = self.plot.getViewBox().viewRange()
        if not left <= seconds <= right:
            span = right - left
            self.plot.setXRange(seconds - 0.1 * span, seconds + 0.9 * span, padding=0)

    def position(self) -> float:
        return float(self.playhead.value())

    def fit(self) -> None:
        self.plot.setXRange(0.0, max(self.duration, 1.0), padding=0.01)

    def _clicked(self, plot: pg.PlotWidget, event) -> None:  # a pyqtgraph MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or event.isAccepted():
            return
        view = plot.getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        seconds = float(view.mapSceneToView(event.scenePos()).x())
        if plot is self.offset_plot:  # a segment is picked, as a clip is in an editor; the playhead stays
            index = self.offset_lane.segment_at(seconds)
            if index is not None:
                self.segment_clicked.emit(index)
            return
        self.seek_requested.emit(min(max(0.0, seconds), self.duration))
