"""The live monitor: a stream's lip sync measured over a rolling window, updated as it plays.

:class:`Monitor` runs it; :func:`parse_source` says what a SOURCE is; each update is a
:class:`MonitorUpdate` (contract.md, "Live monitor").
"""

from .monitor import LivePicture, Monitor, MonitorSettings, check_settings
from .sources import Source, parse_source
from .updates import LOST, NO_EVIDENCE, OK, OUTSIDE, STATUSES, MonitorUpdate, alarm_line, clock, human_line, status_words

__all__ = ["LivePicture", "Monitor", "MonitorSettings", "check_settings", "Source", "parse_source", "LOST",
           "NO_EVIDENCE", "OK", "OUTSIDE", "STATUSES", "MonitorUpdate", "alarm_line", "clock", "human_line",
           "status_words"]
