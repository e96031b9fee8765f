"""A stderr progress bar (tqdm) fed by the engine's ``progress(stage, fraction)`` callback.

Quiet when stderr is not a terminal or when the user passed ``--quiet``.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Optional

from tqdm import tqdm


class StageBar:
    """One bar per stage; a new stage name closes the previous bar."""

    def __init__(self, quiet: bool = False) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._stage: Optional[str] = None
        self._bar: Optional[tqdm] = None

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=100, desc=f"{stage:<10}", unit="%", file=sys.stderr,
                             leave=False, bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")
        assert self._bar is not None
        self._bar.n = round(fraction * 100)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "StageBar":
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
