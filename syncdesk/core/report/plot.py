"""The report's two pictures, drawn with matplotlib: the offset over time against the tolerance
band, and which face speaks when.

matplotlib is imported inside these functions, so that importing the engine never loads it, and
figures are :class:`matplotlib.figure.Figure` objects drawn by the Agg canvas: no pyplot, whose
global figure list is not safe beside a GUI or in worker threads.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from ..media import ANALYSIS_FPS
from ..palette import track_colour
from ..results import Analysis, ToleranceVerdict
from ..sync.sync_model import MIN_POINT_CONFIDENCE, supported
from ..tolerance import Tolerance

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: up to this many points are drawn over the model's line, more go under it (a long file's thousands
#: would hide it)
FEW_POINTS = 200
#: the tolerance band's fill (opaque, so that a test can find it on a rasterised page)
BAND = "#d5ecd9"
LIMIT = "#2e7d32"
OUTSIDE = "#d32f2f"
CONFIDENT = "#0072B2"
WEAK = "#9e9e9e"
MODEL = "#1f2a44"
TEXT = "#333333"
WIDTH_IN = 7.5


def _figure(height_in: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes: "Axes") -> None:
    axes.tick_params(labelsize=8, colors=TEXT)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def offset_figure(analysis: Analysis, verdict: ToleranceVerdict, start_s: float, end_s: float) -> "Figure":
    """Offset (ms, + audio early) against time (s) on the file's clock, over ``start_s..end_s``."""
    tolerance = Tolerance(verdict.name, verdict.lead_ms, verdict.lag_ms)
    figure = _figure(3.6)
    axes = figure.add_subplot()
    _style(axes)
    axes.axhspan(-verdict.lag_ms, verdict.lead_ms, color=BAND, zorder=0, lw=0,
                 label=f"tolerance {tolerance.label()}")
    for limit, words in ((verdict.lead_ms, "lead limit"), (-verdict.lag_ms, "lag limit")):
        axes.axhline(limit, color=LIMIT, lw=0.8, ls="--", zorder=1)
        axes.annotate(f"{words} {limit:+g} ms", (1.0, limit), xycoords=("axes fraction", "data"),
                      xytext=(-2, 2 if limit >= 0 else -9), textcoords="offset points", ha="right",
                      fontsize=7, color=LIMIT)
    axes.axhline(0.0, color="#bbbbbb", lw=0.6, zorder=1)
    for number, span in enumerate(verdict.outside):  # when the file is outside: a red strip along the top
        axes.axvspan(span["start_s"], span["end_s"], ymin=0.965, ymax=1.0, color=OUTSIDE, lw=0, zorder=7,
                     label=None if number else "outside the tolerance")
    values = [verdict.lead_ms, -verdict.lag_ms, 0.0]
    over_time = analysis.sync_over_time
    if over_time is None:
        weak = verdict.result == "unknown"
        axes.plot([start_s, end_s], [analysis.offset_ms] * 2, color=MODEL, lw=2, ls=":" if weak else "-",
                  label=f"clip offset ({'too weak to judge' if weak else 'not measured over time'})")
        values.append(analysis.offset_ms)
    else:
        values += _points(axes, over_time.points)
        values += _model(axes, analysis, verdict)
    low, high = min(values), max(values)
    pad = max(10.0, 0.12 * (high - low))
    axes.set_ylim(low - pad, high + pad)
    axes.set_xlim(start_s, max(end_s, start_s + 1e-3))
    axes.set_xlabel("time in the file (s)", fontsize=8, color=TEXT)
    axes.set_ylabel("offset (ms)\n+ audio early  |  − audio late", fontsize=8, color=TEXT)
    axes.grid(True, color="#e6e6e6", lw=0.5, zorder=0.2)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=7, frameon=False)
    return figure


def _points(axes: "Axes", points: Sequence) -> list[float]:
    measured = [p for p in points if p.offset_ms is not None]
    above = 10 if len(measured) <= FEW_POINTS else 0  # added to the points' z-order
    confident = [p for p in measured if p.confidence >= MIN_POINT_CONFIDENCE]
    weak = [p for p in measured if p.confidence < MIN_POINT_CONFIDENCE]
    if confident:
        axes.scatter([p.t_s for p in confident], [p.offset_ms for p in confident], s=14, color=CONFIDENT,
                     edgecolors="white", linewidths=0.4, zorder=4 + above, label="measured (confident)")
    if weak:
        axes.scatter([p.t_s for p in weak], [p.offset_ms for p in weak], s=14, facecolors="none",
                     edgecolors=WEAK, zorder=3 + above, label=f"measured (weak, confidence < {MIN_POINT_CONFIDENCE:g})")
    return [p.offset_ms for p in measured]


def _model(axes: "Axes", analysis: Analysis, verdict: ToleranceVerdict) -> list[float]:
    """The model's segments: solid when enough of their windows measured them, dotted when not;
    the stretches outside the tolerance drawn over them in red, with a white edge to stand out from
    the points."""
    from matplotlib import patheffects

    edge = [patheffects.withStroke(linewidth=4, foreground="white")]
    over_time = analysis.sync_over_time
    assert over_time is not None
    drawn: list[float] = []
    labelled = False
    for segment in over_time.segments:
        if segment.offset_ms is None:
            continue
        end_offset = segment.offset_ms if segment.end_offset_ms is None else segment.end_offset_ms
        strong = supported(over_time, segment)
        axes.plot([segment.start_s, segment.end_s], [segment.offset_ms, end_offset], color=MODEL, lw=2,
                  ls="-" if strong else ":", zorder=5, solid_capstyle="butt", path_effects=edge,
                  label=None if labelled else f"model: {over_time.model}")
        labelled = True
        drawn += [segment.offset_ms, end_offset]
    for span in verdict.outside:
        end_offset = span.get("end_offset_ms", span["offset_ms"])
        axes.plot([span["start_s"], span["end_s"]], [span["offset_ms"], end_offset], color=OUTSIDE, lw=2.6,
                  zorder=6, solid_capstyle="butt", path_effects=edge)
    return drawn


def speaking_runs(active_speaker: Sequence[Optional[int]], track_id: int) -> list[tuple[int, int]]:
    """``(first frame, frame count)`` of each run of frames where ``track_id`` speaks."""
    speaking = np.array([s == track_id for s in active_speaker], dtype=np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], speaking, [0]))))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]


def speaking_figure(analysis: Analysis, start_s: float, end_s: float) -> Optional["Figure"]:
    """One bar per face: where it is on screen (grey) and where it is the active speaker (its
    colour); None without tracks."""
    if not analysis.tracks:
        return None
    tracks = sorted(analysis.tracks, key=lambda track: track.id)
    figure = _figure(0.75 + 0.32 * len(tracks))
    axes = figure.add_subplot()
    _style(axes)
    frame_s = 1.0 / ANALYSIS_FPS
    for row, track in enumerate(tracks):
        present = (start_s + track.start_frame * frame_s, (track.end_frame - track.start_frame + 1) * frame_s)
        axes.broken_barh([present], (row - 0.35, 0.7), color="#eeeeee", zorder=1)
        runs = [(start_s + first * frame_s, count * frame_s)
                for first, count in speaking_runs(analysis.active_speaker, track.id)]
        axes.broken_barh(runs, (row - 0.35, 0.7), facecolor=track_colour(track.id), edgecolor="#555555",
                         linewidth=0.3, zorder=2)
    axes.set_yticks(range(len(tracks)), [f"face {track.id}" for track in tracks])
    axes.set_ylim(len(tracks) - 0.5, -0.5)
    axes.set_xlim(start_s, max(end_s, start_s + 1e-3))
    axes.set_xlabel("time in the file (s)   (grey: on screen, colour: speaking)", fontsize=8, color=TEXT)
    return figure


def svg(figure: "Figure") -> bytes:
    """The figure as SVG (vector: sharp on screen and in print; no date, so a report is repeatable)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def png(figure: "Figure", dpi: int = 200) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
