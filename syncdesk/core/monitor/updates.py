"""What the monitor says at each update: the contract's JSON line and a line for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..tolerance import Tolerance

OK, OUTSIDE, NO_EVIDENCE, LOST = "ok", "outside", "no-evidence", "lost"
STATUSES = (OK, OUTSIDE, NO_EVIDENCE, LOST)


@dataclass
class MonitorUpdate:
    """One update (contract.md, "Live monitor"); the first five fields are the contract's."""

    t_s: float  # the monitor's clock at the window's centre (seconds since the first picture)
    offset_ms: Optional[float]  # positive: the audio leads; None without evidence
    confidence: float
    status: str  # ok, outside, no-evidence, lost
    latency_s: Optional[float]  # wall time from the window's last picture arriving to this update
    offset_frames: Optional[float] = None  # the offset in the source's own frames
    window_s: float = 0.0  # the stretch of stream the reading rests on
    speaker: Optional[int] = None  # the track that carries the reading
    faces: int = 0  # face tracks in the window long and big enough to count
    epoch: int = 0  # changes at every discontinuity or reconnect
    stream_s: Optional[float] = None  # the stream's own timestamp at the window's centre
    tolerance: Optional[str] = None  # the tolerance's label, when one was given
    outside_s: float = 0.0  # how long the reading has been outside (0 when within)
    alarm: bool = False  # this update raises an alarm
    reason: Optional[str] = None  # why: no evidence, or what was lost
    boxes: dict[int, list[float]] = field(default_factory=dict)  # track -> x1, y1, x2, y2 at the window's end

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["boxes"] = {str(k): [round(v, 1) for v in box] for k, box in self.boxes.items()}
        return data


def clock(seconds: float) -> str:
    """``HH:MM:SS.s`` for the monitor's clock."""
    tenths = round(max(0.0, seconds) * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d}:{minutes:02d}:{rest / 10:04.1f}"


def status_words(update: MonitorUpdate, tolerance: Optional[Tolerance]) -> str:
    if update.status == LOST:
        return f"LOST: {update.reason or 'no data'}; reconnecting"
    if update.status == NO_EVIDENCE or update.offset_ms is None:
        return f"no evidence ({update.reason or 'nothing to measure'})"
    if tolerance is None:
        return "measured"
    early = update.offset_ms > 0
    allowed = tolerance.lead_ms if early else tolerance.lag_ms
    if update.status == OUTSIDE:
        return (f"OUTSIDE {tolerance.title} for {update.outside_s:.0f} s: audio {abs(update.offset_ms):.0f} ms "
                f"{'early' if early else 'late'}, {allowed:g} allowed")
    return f"within {tolerance.title}"


def human_line(update: MonitorUpdate, tolerance: Optional[Tolerance]) -> str:
    """``00:01:23.0  +160.2 ms (+4.0 fr)  conf 4.52  OUTSIDE EBU R37 ...  [latency 0.4 s]``."""
    if update.offset_ms is None:
        reading = f"{'--':>9}    {'':9}  {'':9}"
    else:
        frames = f"({update.offset_frames:+.1f} fr)" if update.offset_frames is not None else ""
        reading = f"{update.offset_ms:+7.1f} ms {frames:>11}  conf {update.confidence:4.2f}"
    latency = f"  [latency {update.latency_s:.1f} s]" if update.latency_s is not None else ""
    return f"{clock(update.t_s)}  {reading}  {status_words(update, tolerance)}{latency}"


def alarm_line(update: MonitorUpdate, tolerance: Tolerance, source: str) -> str:
    early = (update.offset_ms or 0.0) > 0
    return (f"ALARM {clock(update.t_s)}  {source}: outside {tolerance.label()} for {update.outside_s:.1f} s, "
            f"audio {abs(update.offset_ms or 0.0):.0f} ms {'early' if early else 'late'}")
