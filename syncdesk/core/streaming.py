"""Run an iterator (a decoder) in a thread with a bounded queue, so decoding overlaps compute.

Memory stays bounded by ``size`` items; errors in the thread are raised in the consumer;
closing the consumer (break, exception, cancel) stops the thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetch(source: Iterable[T], size: int = 8) -> Iterator[T]:
    items: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_End())
        except BaseException as exc:  # re-raised in the consumer
            put(_End(exc))

    thread = threading.Thread(target=produce, name="syncdesk-decoder", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
