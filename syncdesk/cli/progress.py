"""stderr progress bars (tqdm) fed by the engine's callbacks.

Quiet when stderr is not a terminal or when the user passed ``--quiet``.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from tqdm import tqdm


def new_tqdm(**kwargs: Any) -> tqdm:
    """A bar on stderr that leaves no line behind; tqdm is imported only when a bar is shown."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, leave=False, **kwargs)


class _Bar:
    """What both bars share: on only for a terminal, closed on leaving a ``with`` block."""

    def __init__(self, quiet: bool = False) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._bar: Optional[tqdm] = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class StageBar(_Bar):
    """For ``progress(stage, fraction)``: one bar per stage; a new stage closes the previous bar."""

    def __init__(self, quiet: bool = False) -> None:
        super().__init__(quiet)
        self._stage: Optional[str] = None

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = new_tqdm(total=100, desc=f"{stage:<10}", unit="%",
                                 bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")
        assert self._bar is not None
        self._bar.n = round(fraction * 100)
        self._bar.refresh()


class ByteBar(_Bar):
    """For downloads: ``progress(done_bytes, total_bytes or None)``, sizes in KiB/MiB."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.label = label

    def __call__(self, done: int, total: Optional[int]) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = new_tqdm(total=total, initial=done, desc=self.label, unit="B",
                                 unit_scale=True, unit_divisor=1024)
            return
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
