"""What a fix over time applies: segment lists checked, read from JSON, and turned into a time map.

A :class:`SegmentFix` is a piece of the file (seconds on its own clock) whose offset goes from
``offset_ms`` at its start to ``end_offset_ms`` at its end: equal for a step, different for a drift
line. Same sign as everywhere: a positive offset means the audio leads and is delayed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from ..results import SyncOverTime, SyncSegment
from .result import ExportError
from .timemap import Piece

MAX_OFFSET_MS = 60_000  # as for a constant shift: beyond a minute it is a typo
MAX_DRIFT_MS_PER_S = 100.0  # 10 % of speed: beyond that it is not a sample-rate drift
SLACK_S = 0.02  # gaps and overlaps this small between segments are rounding: the later start wins
OVERHANG_S = 1.0  # how far past the file's end a segment may reach (the last analysis window)


def clock(seconds: float) -> str:
    """``HH:MM:SS``, as the analysis prints segment times."""
    total = max(0, round(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def signed_ms(value: float) -> str:
    return f"{value:+.0f} ms" if abs(value - round(value)) < 0.05 else f"{value:+.1f} ms"


@dataclass(frozen=True)
class SegmentFix:
    start_s: float
    end_s: float
    offset_ms: float
    end_offset_ms: float

    @property
    def drift_ms_per_min(self) -> float:
        return 60.0 * (self.end_offset_ms - self.offset_ms) / (self.end_s - self.start_s)

    @property
    def is_line(self) -> bool:
        return self.end_offset_ms != self.offset_ms

    def at(self, t_s: float) -> float:
        """The offset at ``t_s`` (the line extended past the segment's ends)."""
        return self.offset_ms + (self.end_offset_ms - self.offset_ms) * (t_s - self.start_s) / (self.end_s - self.start_s)

    def stretched(self, start_s: float, end_s: float) -> SegmentFix:
        return SegmentFix(start_s, end_s, self.at(start_s), self.at(end_s))

    def describe_ends(self) -> str:
        return (f"{signed_ms(self.offset_ms)} at {clock(self.start_s)} "
                f"to {signed_ms(self.end_offset_ms)} at {clock(self.end_s)}")

    def describe(self) -> str:
        span = f"{clock(self.start_s)}-{clock(self.end_s)}"
        if not self.is_line:
            return f"{span} {signed_ms(self.offset_ms)}"
        return f"{span} {signed_ms(self.offset_ms)} to {signed_ms(self.end_offset_ms)}"


def _number(value: Any, what: str, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        number = math.nan
    if not math.isfinite(number):
        raise ExportError(f"{what} is not a number: {str(value)[:40]!r}")
    return number


def check_segments(segments: Sequence[SyncSegment]) -> list[SegmentFix]:
    """Numbers, order, no overlap, no gap, sane offsets; raises :class:`ExportError` saying which segment."""
    if not segments:
        raise ExportError("the segment list is empty")
    fixes: list[SegmentFix] = []
    for number, segment in enumerate(segments, 1):
        name = f"segment {number}"
        start = _number(segment.start_s, f"{name}: start_s")
        end = _number(segment.end_s, f"{name}: end_s")
        offset = _number(segment.offset_ms, f"{name}: offset_ms", allow_none=True)
        end_offset = _number(segment.end_offset_ms, f"{name}: end_offset_ms", allow_none=True)
        assert start is not None and end is not None
        if offset is None:
            raise ExportError(f"{name} ({clock(start)}-{clock(end)}) has no offset (no evidence there): "
                              f"give it one in a segment list")
        end_offset = offset if end_offset is None else end_offset
        if start < 0 or end <= start:
            raise ExportError(f"{name} runs from {start:g} s to {end:g} s: it must start at 0 s or later "
                              f"and end after it starts")
        if max(abs(offset), abs(end_offset)) > MAX_OFFSET_MS:
            raise ExportError(f"{name}: offset out of range (at most {MAX_OFFSET_MS} ms either way)")
        if abs(end_offset - offset) / (end - start) > MAX_DRIFT_MS_PER_S:
            raise ExportError(f"{name}: a drift of {60 * (end_offset - offset) / (end - start):+.0f} ms/min is "
                              f"not a sample-rate drift (at most {60 * MAX_DRIFT_MS_PER_S:.0f} ms/min)")
        if fixes:
            previous = fixes[-1]
            if start < previous.start_s:
                raise ExportError(f"{name} starts at {start:g} s, before segment {number - 1}: "
                                  f"segments must be in order")
            if start < previous.end_s - SLACK_S:
                raise ExportError(f"{name} starts at {start:g} s, inside segment {number - 1} "
                                  f"(which ends at {previous.end_s:g} s): segments must not overlap")
            if start > previous.end_s + SLACK_S:
                raise ExportError(f"segments {number - 1} and {number} leave a gap from {previous.end_s:g} s to "
                                  f"{start:g} s: segments must cover the file")
        fixes.append(SegmentFix(start, end, offset, end_offset))
    return fixes


def fixes_for(over_time: SyncOverTime, start_s: float, end_s: float) -> list[SegmentFix]:
    """The checked segments of ``over_time``, the first stretched back to ``start_s`` and the last on to
    ``end_s`` (the file's ends); raises :class:`ExportError` for a model that cannot be applied."""
    if over_time.model == "unknown":
        raise ExportError("the sync over time is unknown (too little evidence to model it): nothing to apply; "
                          "give an offset or a segment list instead")
    if over_time.model not in ("constant", "drift", "steps"):
        raise ExportError(f"unknown sync model {over_time.model!r}")
    if not over_time.segments:
        raise ExportError(f"the {over_time.model} model carries no segments: nothing to apply")
    fixes = check_segments(over_time.segments)
    if fixes[0].start_s >= end_s:
        raise ExportError(f"the segments start at {clock(fixes[0].start_s)}, after the end of the file "
                          f"({clock(end_s)})")
    for number, fix in enumerate(fixes, 1):
        if fix.end_s > end_s + OVERHANG_S:
            raise ExportError(f"segment {number} ends at {fix.end_s:g} s, beyond the end of the file "
                              f"({end_s:.3f} s)")
    if len(fixes) == 1:
        return [fixes[0].stretched(start_s, end_s)]
    inner = [SegmentFix(a.start_s, b.start_s, a.offset_ms, a.at(b.start_s)) if a.is_line else
             SegmentFix(a.start_s, b.start_s, a.offset_ms, a.offset_ms) for a, b in zip(fixes, fixes[1:])]
    kept = [*inner, fixes[-1]]
    kept = [fix for fix in kept if fix.start_s < end_s] or kept[:1]
    first, last = kept[0], kept[-1]
    kept[0] = first.stretched(min(start_s, first.start_s), first.end_s)
    kept[-1] = last.stretched(kept[-1].start_s, max(end_s, kept[-1].start_s + 1e-3))
    return kept


def constant_offset(fixes: Sequence[SegmentFix]) -> Optional[float]:
    """The one offset when every segment has the same constant one, else None."""
    offsets = {fix.offset_ms for fix in fixes} | {fix.end_offset_ms for fix in fixes}
    return offsets.pop() if len(offsets) == 1 else None


def pieces(fixes: Sequence[SegmentFix], rate: int, first_sample: int) -> list[Piece]:
    """The time map in output samples, sample 0 being the file's sample ``first_sample``.

    Constant segments delay by whole samples (exact copies); lines keep the fractional delay.
    """
    made: list[Piece] = []
    for fix in fixes:
        start = round(fix.start_s * rate) - first_sample
        shift = fix.offset_ms * rate / 1000
        slope = (fix.end_offset_ms - fix.offset_ms) / 1000 / (fix.end_s - fix.start_s)
        if slope == 0:
            shift = float(round(shift))
        fade_in = start
        if made:
            fade_in += max(0, round(shift - made[-1].delay(start)))
        made.append(Piece(start=start, shift=shift, slope=slope, fade_in=fade_in))
    return made


def load_segments(path: Path) -> SyncOverTime:
    """A segment list from JSON: a list of segments, or an object with a ``segments`` array (e.g. a
    document's ``sync_over_time``), or a whole Analysis document. Checked; raises :class:`ExportError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # a nesting too deep to read is not a list
        raise ExportError(f"{path} is not JSON: {str(exc)[:200]}") from None
    if isinstance(data, dict) and "segments" not in data and isinstance(data.get("sync_over_time"), dict):
        data = data["sync_over_time"]
    items = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ExportError(f"{path} holds no segment list (a JSON list, or an object with a \"segments\" array)")
    segments = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not {"start_s", "end_s", "offset_ms"} <= item.keys():
            raise ExportError(f"segment {number} in {path} needs start_s, end_s and offset_ms")
        segments.append(SyncSegment(start_s=item["start_s"], end_s=item["end_s"], offset_ms=item["offset_ms"],
                                    confidence=item.get("confidence", 0.0),
                                    end_offset_ms=item.get("end_offset_ms")))
    fixes = check_segments(segments)
    lines = any(fix.is_line for fix in fixes)
    model = ("constant" if constant_offset(fixes) is not None else
             "drift" if lines and len(fixes) == 1 else "steps")
    drift = fixes[0].drift_ms_per_min if model == "drift" else None
    return SyncOverTime(window_s=0.0, hop_s=0.0, points=[], model=model, drift_ms_per_min=drift, segments=segments)
