"""Stage "over_time": the offset as a function of time, the model of the whole file, and the clip
verdict's check against the wide search (an offset beyond the published ±vshift frames)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..media import ANALYSIS_FPS
from ..results import SyncOverTime
from ..speaker import MIN_SPEAKER_CONFIDENCE, ClipVerdict
from ..sync.over_time import (HOP_S, WINDOW_S, CurveReading, locate_change, measure_points, pool,
                              read_curve)
from ..sync.sync_model import fit_model, snap_to_cut
from .context import AnalysisContext


def _per_hop(frames: np.ndarray, hops: int, hop_frames: int) -> np.ndarray:
    """How many of ``frames`` (frame numbers) fall in each hop."""
    return np.bincount(frames // hop_frames, minlength=hops)[:hops].astype(np.float64)


def _wide_clip_reading(context: AnalysisContext,
                       hops: int) -> Optional[tuple[CurveReading, list[int], list[float], Optional[int]]]:
    """The whole clip read over the wide range, tracks pooled as the verdict pools them (or, when
    the verdict has none, by confidence times frames on screen): reading, tracks, weights, and the
    reading's offset if the curve is measured on both sides of it (else None)."""
    curves = {e.track_id: e.curve(range(hops)) for e in context.evidence}
    curves = {i: c for i, c in curves.items() if c is not None and np.isfinite(c).sum() >= 3}
    if context.verdict_source != "no-confident-speaker":
        # whole-frame: the verdict is the one track itself, a Track rather than a pooled ClipVerdict
        pooled = isinstance(context.verdict, ClipVerdict) and context.verdict.weights
        weights = context.verdict.weights if pooled else [1.0] * len(context.verdict_tracks)
        weight = dict(zip(context.verdict_tracks, weights, strict=True))
    else:
        weight = {t.id: (t.end_frame - t.start_frame + 1) * max(read_curve(curves[t.id]).confidence, 0.0)
                  for t in context.tracks if t.id in curves}
    used = [i for i in curves if weight.get(i, 0.0) > 0]
    pooled = pool([curves[i] for i in used], [weight[i] for i in used])
    if pooled is None:
        return None
    total = sum(weight[i] for i in used)
    reading = read_curve(pooled)
    best = len(pooled) // 2 - reading.offset_frames
    measured = 0 < best < len(pooled) - 1 and np.isfinite(pooled[best - 1]) and np.isfinite(pooled[best + 1])
    return reading, used, [round(weight[i] / total, 4) for i in used], reading.offset_frames if measured else None


def _over_time_agrees(over_time: Optional[SyncOverTime], offset_ms: float) -> bool:
    """Whether the file's model is one constant offset within a frame of ``offset_ms``: the wide
    search over the whole clip is trusted beyond ±vshift only when its windows say the same."""
    if over_time is None or over_time.model != "constant" or not over_time.segments:
        return False
    level = over_time.segments[0].offset_ms
    return level is not None and abs(level - offset_ms) <= 1000.0 / ANALYSIS_FPS


def _check_range(context: AnalysisContext, hops: int) -> None:
    """Fast mode reports an offset the wide search finds beyond ±vshift (with more confidence than
    the published reading) instead of a wrong in-range one; exact mode keeps the published maths
    and says so in a note."""
    found = _wide_clip_reading(context, hops)
    vshift, verdict = context.options.vshift, context.verdict
    if found is None:
        return
    reading, used, weights, context.wide_minimum = found
    if abs(reading.offset_frames) <= vshift or reading.confidence < max(verdict.confidence, MIN_SPEAKER_CONFIDENCE):
        return
    if not _over_time_agrees(context.sync_over_time, reading.offset_ms):
        return  # a far minimum the windows along the file do not confirm: chance, on a short or quiet clip
    beyond = f"{reading.offset_ms:+.0f} ms ({reading.offset_frames:+d} frames), beyond the published ±{vshift} frames"
    if context.options.exact:
        context.notes.append(f"the wide search finds the offset at {beyond}: --exact keeps the published reading "
                             "over that range, which cannot see it; analyse without --exact to measure it")
        return
    context.verdict = ClipVerdict(reading.offset_frames, round(reading.offset_ms, 3), reading.min_dist,
                                  reading.confidence, used, weights)
    if context.verdict_source == "no-confident-speaker":
        context.verdict_source = "speaking-tracks"
    context.verdict_tracks = used
    context.notes.append(f"the offset is {beyond}: read from the wide search")


def measure_over_time(context: AnalysisContext) -> None:
    """Sets ``sync_over_time`` (points every hop, the model of the file) and may replace the
    clip verdict (see :func:`_check_range`); needs ``evidence``, ``tracks``, ``speaker``, ``shots``
    and ``verdict``. Run, and timed, as the end of the "scoring" stage ``decide_verdict``."""
    hop_frames = round(HOP_S * ANALYSIS_FPS)
    hops = max(1, -(-context.frames // hop_frames))
    speaker = np.array([-1 if s is None else s for s in context.speaker], dtype=np.int64)
    frame_numbers = np.arange(len(speaker))
    speaking = {t.id: _per_hop(frame_numbers[speaker == t.id], hops, hop_frames) for t in context.tracks}
    present = {t.id: _per_hop(np.arange(t.start_frame, min(t.end_frame + 1, context.frames)), hops, hop_frames)
               for t in context.tracks}
    points = measure_points(context.evidence, speaking, present, hops, context.start_s, WINDOW_S, HOP_S)
    start = round(context.start_s, 3)
    end = round(context.start_s + context.frames / ANALYSIS_FPS, 3)
    cuts_s = [context.start_s + shot[0] / ANALYSIS_FPS for shot in context.shots[1:]]
    context.sync_over_time = fit_model(points, start, end, WINDOW_S, HOP_S, cuts_s)
    if context.sync_over_time.model == "steps":
        _place_changes(context, hops, cuts_s)
    _check_range(context, hops)


def _place_changes(context: AnalysisContext, hops: int, cuts_s: list[float]) -> None:
    """Move each change point of a steps model to the hop edge the evidence says (the model's
    points are 8 s windows, so it can only say roughly where), then onto a cut within a hop."""
    segments = context.sync_over_time.segments
    reach = round((WINDOW_S / 2 + HOP_S) / HOP_S)  # how far from the model's guess to look, in hops
    for before, after in zip(segments[:-1], segments[1:], strict=True):
        guess = round((before.end_s - context.start_s) / HOP_S)
        lo = max(1, guess - reach, round((before.start_s - context.start_s) / HOP_S) + 1)
        hi = min(hops - 1, guess + reach, round((after.end_s - context.start_s) / HOP_S) - 1)
        if lo > hi or before.offset_ms is None or after.offset_ms is None:
            continue
        edge = locate_change(context.evidence, range(lo, hi), before.offset_ms, after.offset_ms)
        boundary = round(snap_to_cut(context.start_s + edge * HOP_S, cuts_s, HOP_S), 3)
        before.end_s = after.start_s = boundary
