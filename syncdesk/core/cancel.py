"""A cancellation token shared between a caller (CLI, GUI worker) and the engine."""

from __future__ import annotations

import threading

from .errors import Cancelled


class CancelToken:
    """Set from any thread; the engine calls :meth:`check` at every progress point."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")
