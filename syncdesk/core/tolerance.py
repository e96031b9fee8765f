"""Broadcast lip-sync tolerances (contract.md, "Tolerances") and a file's verdict against one.

A tolerance is an allowed window for the audio's lead, asymmetric because early sound is noticed
sooner than late sound. A file is judged by its confident parts: the clip's verdict when its sync
is constant (or was not modelled), else each segment of the drift or steps found over time that
enough of its own windows measured. It is ``outside`` when any confident part is.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Optional

from .quality import PRESETS
from .results import Analysis, SyncSegment, ToleranceVerdict
from .sync.sync_model import supported


@dataclass(frozen=True)
class Tolerance:
    name: str  # a key of TOLERANCES, or "custom"
    lead_ms: float  # the audio may lead by at most this ...
    lag_ms: float  # ... and lag by at most this (both >= 0)

    @property
    def title(self) -> str:
        """The standard's name as people write it ("EBU R37"), or "LEAD/LAG" for a custom one."""
        return _TITLES.get(self.name, "custom tolerance")

    def label(self) -> str:
        return f"{self.title} (+{self.lead_ms:g}/-{self.lag_ms:g} ms)"

    def excess_ms(self, offset_ms: float) -> float:
        """How far ``offset_ms`` lies beyond the nearer limit: > 0 outside, <= 0 within (the margin)."""
        return max(offset_ms - self.lead_ms, -offset_ms - self.lag_ms)

    def allows(self, offset_ms: float) -> bool:
        return self.excess_ms(offset_ms) <= 0

    def limit_for(self, offset_ms: float) -> str:
        """Which limit ``offset_ms`` is judged against: "lead" (audio early) or "lag" (audio late)."""
        return "lead" if offset_ms - self.lead_ms >= -offset_ms - self.lag_ms else "lag"


#: the published limits (anchors.md; ITU-R BT.1359-1's "acceptable" figures)
TOLERANCES: dict[str, Tolerance] = {
    tolerance.name: tolerance
    for tolerance in (
        Tolerance("ebu-r37", 40.0, 60.0),
        Tolerance("atsc-is191", 15.0, 45.0),
        Tolerance("itu-bt1359", 90.0, 185.0),
    )
}
_TITLES = {"ebu-r37": "EBU R37", "atsc-is191": "ATSC IS-191", "itu-bt1359": "ITU-R BT.1359"}

#: what QC reports and NLE markers judge against when no tolerance is given
DEFAULT_TOLERANCE = "ebu-r37"
#: a limit above this is a typo (ten seconds), not a tolerance
MAX_LIMIT_MS = 10_000.0

_CUSTOM = re.compile(r"^\s*\+?(\d+(?:\.\d*)?)\s*/\s*-?(\d+(?:\.\d*)?)\s*$")


def parse_tolerance(text: str) -> Tolerance:
    """A standard's name or ``LEAD/LAG`` in ms (``40/60``; ``+40/-60`` reads the same).

    Raises ValueError with a one-line reason."""
    name = text.strip().lower()
    if name in TOLERANCES:
        return TOLERANCES[name]
    match = _CUSTOM.match(text)
    if match is None:
        raise ValueError(f"not a tolerance: {text!r} (one of {', '.join(TOLERANCES)}, or LEAD/LAG in ms like 40/60)")
    lead, lag = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(lead) and math.isfinite(lag)) or max(lead, lag) > MAX_LIMIT_MS:
        raise ValueError(f"tolerance limits must be 0 to {MAX_LIMIT_MS:g} ms: {text!r}")
    return Tolerance("custom", lead, lag)


@dataclass(frozen=True)
class Part:
    """A confident stretch of the file and its offset (with a drift, the line's value at each end)."""

    start_s: float
    end_s: float
    offset_ms: float
    confidence: float
    end_offset_ms: Optional[float] = None

    def offset_at(self, t_s: float) -> float:
        if self.end_offset_ms is None or self.end_s <= self.start_s:
            return self.offset_ms
        share = (t_s - self.start_s) / (self.end_s - self.start_s)
        return self.offset_ms + share * (self.end_offset_ms - self.offset_ms)

    def ends(self) -> tuple[float, ...]:
        return (self.offset_ms,) if self.end_offset_ms is None else (self.offset_ms, self.end_offset_ms)


def confident_parts(analysis: Analysis) -> list[Part]:
    """The stretches of the file whose offset is known well enough to be judged."""
    over_time = analysis.sync_over_time
    if over_time is not None and over_time.model in ("drift", "steps"):
        return [_part(segment) for segment in over_time.segments
                if segment.offset_ms is not None and supported(over_time, segment)]
    if analysis.verdict_source == "no-confident-speaker" or analysis.confidence < PRESETS["relaxed"].min_confidence:
        return []
    return [Part(0.0, analysis.source.duration_s, analysis.offset_ms, analysis.confidence)]


def _part(segment: SyncSegment) -> Part:
    assert segment.offset_ms is not None
    return Part(segment.start_s, segment.end_s, segment.offset_ms, segment.confidence, segment.end_offset_ms)


def outside_parts(analysis: Analysis, tolerance: Tolerance) -> list[Part]:
    """The confident stretches of ``analysis`` outside ``tolerance``."""
    return outside(confident_parts(analysis), tolerance)


def outside(parts: list[Part], tolerance: Tolerance) -> list[Part]:
    """The stretches of ``parts`` outside ``tolerance``; a drift's line is cut where it crosses a limit."""
    found: list[Part] = []
    for part in parts:
        if part.end_offset_ms is None:
            if not tolerance.allows(part.offset_ms):
                found.append(part)
            continue
        cuts = sorted({part.start_s, part.end_s, *_crossings(part, tolerance)})
        for start, end in zip(cuts[:-1], cuts[1:]):
            if not tolerance.allows(part.offset_at(0.5 * (start + end))):
                found.append(Part(start, end, round(part.offset_at(start), 3), part.confidence,
                                  round(part.offset_at(end), 3)))
    return found


def _crossings(part: Part, tolerance: Tolerance) -> list[float]:
    """Where a drift's line meets either limit, inside the part."""
    assert part.end_offset_ms is not None
    slope = (part.end_offset_ms - part.offset_ms) / max(part.end_s - part.start_s, 1e-9)
    if slope == 0:
        return []
    times = [part.start_s + (limit - part.offset_ms) / slope for limit in (tolerance.lead_ms, -tolerance.lag_ms)]
    return [round(t, 3) for t in times if part.start_s < t < part.end_s]


def describe(verdict: ToleranceVerdict) -> str:
    """One line: ``outside: audio 73 ms early: EBU R37 allows 40``."""
    tolerance = Tolerance(verdict.name, verdict.lead_ms, verdict.lag_ms)
    if verdict.worst_ms is None or verdict.limit is None:
        return f"{tolerance.label()}: unknown (no confident measurement to judge)"
    allowed = tolerance.lead_ms if verdict.limit == "lead" else tolerance.lag_ms
    worst = verdict.worst_ms
    words = f"audio {_ms(abs(worst), allowed)} ms {'early' if worst > 0 else 'late'}" if worst else "audio in sync"
    if verdict.result == "outside":
        first = verdict.outside[0]["start_s"] if verdict.outside else 0.0
        where = f" from {first:.1f} s" if first > 0 else ""
        return f"outside: {words}{where}: {tolerance.title} allows {allowed:g}"
    return f"within {tolerance.label()}: at worst {words}"


def _ms(value: float, limit: float) -> str:
    """Whole ms, unless rounding would make an outside value read as the limit itself."""
    whole = f"{value:.0f}"
    return f"{value:.1f}" if float(whole) == limit and value != limit else whole


def judge(analysis: Analysis, tolerance: Tolerance) -> ToleranceVerdict:
    """``analysis`` against ``tolerance``."""
    return judge_parts(confident_parts(analysis), tolerance)


def judge_parts(parts: list[Part], tolerance: Tolerance) -> ToleranceVerdict:
    """A file known by its confident parts (what the batch queue keeps) against ``tolerance``."""
    verdict = ToleranceVerdict(tolerance.name, tolerance.lead_ms, tolerance.lag_ms, "unknown", None)
    if not parts:
        return verdict
    worst = max((offset for part in parts for offset in part.ends()), key=tolerance.excess_ms)
    verdict.worst_ms = round(worst, 3)
    verdict.limit = tolerance.limit_for(worst)
    verdict.excess_ms = round(tolerance.excess_ms(worst), 3)
    verdict.result = "outside" if verdict.excess_ms > 0 else "within"
    verdict.outside = [_span(part) for part in outside(parts, tolerance)]
    return verdict


def _span(part: Part) -> dict[str, float]:
    """A part as the document writes it (``end_offset_ms`` only for a drift's line)."""
    return {name: value for name, value in asdict(part).items() if value is not None}
