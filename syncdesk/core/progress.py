"""Progress reporting shared by the CLI (terminal bar) and the GUI (Qt signal)."""

from __future__ import annotations

from typing import Callable, Optional

#: ``progress(stage, fraction)``: ``stage`` names the current step ("decoding", "embedding",
#: "scoring", "downloading" ...), ``fraction`` is that step's completion in ``[0, 1]``.
ProgressCallback = Callable[[str, float], None]


def report(progress: Optional[ProgressCallback], stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, min(max(fraction, 0.0), 1.0))
