"""Times as editors read them: ``HH:MM:SS:FF`` at the clip's nominal frame rate."""

from __future__ import annotations

import math


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
