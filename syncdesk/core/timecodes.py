"""Times as editors read them: ``HH:MM:SS:FF`` at the clip's nominal frame rate, the SMPTE rate an
editing program counts a file's frames in, and the timecode a file's first frame carries."""

from __future__ import annotations

import math
import os
import re
from typing import Optional

#: the frame rates SMPTE timecode counts in; the NTSC ones as their exact ratios
SMPTE_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48000 / 1001, 48.0, 50.0, 60000 / 1001, 60.0)
#: the rates whose timecode drops frame numbers to keep up with the clock
DROP_FRAME_RATES = (30000 / 1001, 60000 / 1001)

_TIMECODE = re.compile(r"^\d\d:\d\d:\d\d[:;]\d\d$")


def nominal_rate(fps: float) -> int:
    """The whole frame rate a timecode counts in (29.97 counts 30 frames a second, non-drop)."""
    return max(1, round(fps)) if fps > 0 else 25


def timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF`` for a time in seconds (clamped at zero)."""
    rate = nominal_rate(fps)
    frames = math.floor(max(0.0, seconds) * rate + 1e-6)
    hours, rest = divmod(frames, 3600 * rate)
    minutes, rest = divmod(rest, 60 * rate)
    secs, frame = divmod(rest, rate)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{frame:02d}"


def smpte_rate(fps: float) -> float:
    """The SMPTE rate nearest a file's measured frame rate: a container's 29.97 or 29.97003 is
    exactly 30000/1001. A rate timecode has no count for (15, 120, a variable rate's average)
    gets the nearest one, which keeps marker times right to within one of its frames."""
    if not (math.isfinite(fps) and fps > 0):
        return 25.0
    return min(SMPTE_RATES, key=lambda rate: abs(rate - fps))


def is_drop_frame(rate: float) -> bool:
    """Whether timecode at this SMPTE rate is drop-frame (29.97 and 59.94 are, by broadcast habit)."""
    return rate in DROP_FRAME_RATES


def start_timecode(path: os.PathLike | str) -> Optional[str]:
    """The timecode of the file's first frame as its container or a stream carries it (a MOV/MP4
    ``tmcd`` track, MXF), e.g. ``10:00:00:00`` or drop-frame ``01:00:00;00``; None when the file
    has none or cannot be read."""
    import av  # here, not at the top: formatting times must not load FFmpeg

    try:
        with av.open(os.fspath(path)) as container:
            tags = [container.metadata, *(stream.metadata for stream in container.streams)]
    except (OSError, ValueError, av.FFmpegError):
        return None
    found = (tag.get("timecode", "").strip() for tag in tags)
    return next((value for value in found if _TIMECODE.match(value)), None)
