"""Sizes as syncdesk prints them: powers of 1000, like the published model sizes."""

from __future__ import annotations

MB = 1000 * 1000


def human_size(size: float) -> str:
    """``52.1 MB`` style sizes."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
