"""What the live view keeps of a monitored stream: the offset history, the alarm log and the traffic
light. Qt-free, like the Session: the view feeds it each update and draws what it holds.

Memory stays flat over a shift: the history keeps the last hour of stream (and never more than
:data:`MAX_POINTS` points), the alarm log its last :data:`MAX_ALARMS` rows.

The traffic light reads each update with the alarm log: green within the tolerance, yellow while
there is no evidence or while the offset is outside for less than the alarm delay, red once that
became an alarm, and it stays red until a reading is back within (a window without evidence in
the middle of an alarm does not clear it), grey while the source is lost.
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

#: the stream time the history keeps, and the most points it ever holds (1 h at --every 0.5)
HISTORY_S = 3600.0
MAX_POINTS = 7500
#: alarm log rows kept (the oldest go first); an hour of flapping every 2 s is 1 800 rows
MAX_ALARMS = 10_000

#: the light's states
WAITING, GREEN, YELLOW, RED, GREY = "waiting", "ok", "warning", "alarm", "lost"
#: alarm kinds in the log
OUTSIDE_ALARM, LOST_ALARM = "outside", "lost"

CSV_COLUMNS = ("time_of_day", "stream_time", "t_s", "alarm", "offset_ms", "offset_frames", "confidence",
               "lasted_s", "tolerance", "reason", "source")


def stream_clock(seconds: float) -> str:
    """``HH:MM:SS.s`` (the monitor's clock, as its command line writes it)."""
    tenths = round(max(0.0, seconds) * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d}:{minutes:02d}:{rest / 10:04.1f}"


def time_of_day(wall: float) -> str:
    """Local time of day, ISO 8601 with the zone (what a logger's clock reads)."""
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")


@dataclass
class LiveUpdate:
    """One monitor update on its way to the view: the engine's ``MonitorUpdate``, its status in the
    engine's words and the wall clock when it was made."""

    update: Any  # syncdesk.core.monitor.MonitorUpdate (imported in the worker: it loads torch)
    words: str
    wall: float


@dataclass
class HistoryPoint:
    t_s: float
    offset_ms: float  # NaN: no evidence, or a break (lost, new epoch)
    confidence: float
    outside: bool


@dataclass
class AlarmRow:
    """One alarm: the offset outside the tolerance for the alarm delay, or the source lost."""

    wall: float  # when it was raised
    t_s: float  # the monitor's clock there
    kind: str  # OUTSIDE_ALARM or LOST_ALARM
    offset_ms: Optional[float] = None
    offset_frames: Optional[float] = None
    confidence: Optional[float] = None
    lasted_s: float = 0.0  # outside for (stream seconds), or lost for (wall seconds); grows while open
    tolerance: str = ""
    reason: str = ""
    open: bool = True

    def csv_row(self, source: str) -> list[str]:
        def number(value: Optional[float], digits: int) -> str:
            return "" if value is None else f"{value:.{digits}f}"

        return [time_of_day(self.wall), stream_clock(self.t_s), f"{self.t_s:.3f}", self.kind,
                number(self.offset_ms, 2), number(self.offset_frames, 2), number(self.confidence, 3),
                f"{self.lasted_s:.1f}", self.tolerance, self.reason, source]


class LiveState:
    """The history, the alarm log and the light of one monitored stream."""

    def __init__(self, alarm_after_s: float, history_s: float = HISTORY_S, max_points: int = MAX_POINTS,
                 max_alarms: int = MAX_ALARMS) -> None:
        self.alarm_after_s = alarm_after_s
        self.history_s = history_s
        self.points: deque[HistoryPoint] = deque(maxlen=max_points)
        self.alarms: deque[AlarmRow] = deque(maxlen=max_alarms)
        self.light = WAITING
        self.latest: Optional[LiveUpdate] = None
        self.updates = 0
        self._open: Optional[AlarmRow] = None
        self._epoch: Optional[int] = None

    @property
    def open_alarm(self) -> Optional[AlarmRow]:
        return self._open

    def add(self, live: LiveUpdate) -> Optional[AlarmRow]:
        """Take one update; returns the alarm row it raised or changed (the last row), if any."""
        update = live.update
        self.latest = live
        self.updates += 1
        if update.status == "lost":
            return self._lost(live)
        changed = self._close(LOST_ALARM)
        if self._epoch is not None and update.epoch != self._epoch:
            self._break(update.t_s)
        self._epoch = update.epoch
        offset = math.nan if update.offset_ms is None else float(update.offset_ms)
        self._append(HistoryPoint(update.t_s, offset, float(update.confidence), update.status == "outside"))
        if update.status == "outside":
            open_row = self._open if self._open is not None and self._open.kind == OUTSIDE_ALARM else None
            if open_row is None and (update.alarm or update.outside_s >= self.alarm_after_s):
                open_row = self._raise(live, OUTSIDE_ALARM)
            if open_row is not None:
                open_row.lasted_s = float(update.outside_s)
                changed = open_row
            self.light = RED if open_row is not None else YELLOW
        elif update.status == "ok":
            changed = self._close(OUTSIDE_ALARM) or changed
            self.light = GREEN
        else:  # no evidence: an alarm going on stays one until a reading is back within
            self.light = RED if self._open is not None else YELLOW
        return changed

    def end(self) -> None:
        """The monitor stopped: an alarm going on ends with it."""
        if self._open is not None:
            self._close(self._open.kind)

    def _lost(self, live: LiveUpdate) -> Optional[AlarmRow]:
        self._close(OUTSIDE_ALARM)  # the monitor starts counting again after a loss
        self._break(live.update.t_s)
        self.light = GREY
        row = self._open if self._open is not None and self._open.kind == LOST_ALARM else None
        if row is None:
            row = self._raise(live, LOST_ALARM)
        row.lasted_s = max(0.0, live.wall - row.wall)
        return row

    def _raise(self, live: LiveUpdate, kind: str) -> AlarmRow:
        update = live.update
        row = AlarmRow(live.wall, float(update.t_s), kind, reason=update.reason or "", tolerance=update.tolerance or "")
        if kind == OUTSIDE_ALARM:
            row.offset_ms, row.offset_frames = update.offset_ms, update.offset_frames
            row.confidence = update.confidence
        self.alarms.append(row)
        self._open = row
        return row

    def _close(self, kind: str) -> Optional[AlarmRow]:
        row = self._open
        if row is None or row.kind != kind:
            return None
        row.open = False
        self._open = None
        return row

    def _break(self, t_s: float) -> None:
        """A gap in the history's line: the stream was lost, or its clock started again."""
        if self.points and not math.isnan(self.points[-1].offset_ms):
            self._append(HistoryPoint(t_s, math.nan, 0.0, False))

    def _append(self, point: HistoryPoint) -> None:
        self.points.append(point)
        while self.points and self.points[0].t_s < point.t_s - self.history_s:
            self.points.popleft()

    def csv_text(self, source: str) -> str:
        """The alarm log as CSV (one header line, then a row per alarm, oldest first)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.alarms:
            writer.writerow(row.csv_row(source))
        return out.getvalue()


def write_csv(text: str, path: Path, overwrite: bool) -> Path:
    """Write ``text`` to ``path`` through a hidden temporary file renamed into place; an existing file
    is replaced only with ``overwrite`` (the save dialog's consent). Run in a worker."""
    from ..core import SyncdeskError, atomic_output

    if path.exists() and not overwrite:
        raise SyncdeskError(f"{path.name} exists and was not chosen to be replaced: pick it in the save dialog, "
                            "or give another name.")
    with atomic_output(path) as part:
        part.write_text(text, encoding="utf-8", newline="")
        if path.exists() and not overwrite:  # created meanwhile by someone else: leave it alone
            raise SyncdeskError(f"{path.name} appeared while the log was written: it was left as it is.")
    return path
