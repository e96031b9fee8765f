"""Progress reporting shared by the CLI (terminal bar) and the GUI (Qt signal)."""

from __future__ import annotations

import time
from typing import Callable, Optional

#: ``progress(stage, fraction)``: ``stage`` names the current step ("decoding", "embedding",
#: "scoring", "downloading" ...), ``fraction`` is that step's completion in ``[0, 1]``.
ProgressCallback = Callable[[str, float], None]


def report(progress: Optional[ProgressCallback], stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, min(max(fraction, 0.0), 1.0))


#: each stage of an analysis as a share of the whole: (start, end)
ANALYSIS_STAGES = {"audio": (0.0, 0.05), "faces": (0.05, 1.0)}  # one pass: faces found, then scored
WHOLE_FRAME_STAGES = {"audio": (0.0, 0.05), "embeddings": (0.05, 1.0)}  # no face stage


def analysis_stages(detector: str) -> dict[str, tuple[float, float]]:
    return WHOLE_FRAME_STAGES if detector == "whole-frame" else ANALYSIS_STAGES


class StageProgress:
    """``progress(stage, fraction)`` as one overall fraction of a job (``span`` of it, by the stages'
    shares), passed to ``send(overall, stage)`` at most every ``every_s`` seconds: a worker in
    another process should not flood its pipe."""

    def __init__(self, send: Callable[[float, str], object], stages: dict[str, tuple[float, float]],
                 every_s: float, span: tuple[float, float] = (0.0, 1.0)) -> None:
        self._send, self._stages, self._every_s, self._span = send, stages, every_s, span
        self._next = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        part = self._stages.get(stage)
        now = time.monotonic()
        if part is None or now < self._next:
            return
        self._next = now + self._every_s
        within = part[0] + (part[1] - part[0]) * min(max(fraction, 0.0), 1.0)
        self._send(self._span[0] + (self._span[1] - self._span[0]) * within, stage)
