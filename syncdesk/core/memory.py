"""Keep the process's memory flat over long clips.

glibc gives each thread that allocates its own heap ("arena"). Frames decoded in the reader
thread and convolution buffers from torch's worker threads then fragment several heaps, and
resident memory creeps up with every scored window. One shared arena keeps it flat.

Freed blocks of up to 32 MB stay on the heap to be reused by the next batch: blocks glibc maps
and unmaps on every batch are zero pages the kernel must fault in again each time. The threshold
is fixed (glibc would raise it each time a big block is freed) and :class:`HeapWatch` gives the
heap back when resident memory grows, so long clips stay flat. Figures: bench/engine_notes.md.

:func:`tune_malloc` must run before worker threads first allocate, so the processes that analyse
call it as they start: the command line before it imports the engine, and each batch worker.
Importing the engine does not, so the app keeps glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Optional

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: blocks at least this big are mmapped and given back to the system when freed (exact mode's
#: first video convolution, 73 MB a batch); smaller ones, fast mode's included, are reused
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory at the top of the heap kept for reuse rather than given back at each free
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_done = False


def _glibc() -> Optional[ctypes.CDLL]:
    """The C library when it is glibc on Linux (mallopt, malloc_trim), else None."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def tune_malloc(arenas: int = 1) -> bool:
    """One malloc arena, a fixed mmap threshold and trim threshold (glibc only). Returns whether they were set."""
    global _done
    if not _done and _LIBC is not None:
        settings = ((_M_ARENA_MAX, arenas), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        _done = all(_LIBC.mallopt(option, value) for option, value in settings)
    return _done


def trim_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Called once after the audio is read (decoding the whole track leaves freed blocks all over
    the heap) and by :class:`HeapWatch` when resident memory has grown.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def resident_bytes() -> Optional[int]:
    """This process's resident memory (Linux: ``/proc/self/statm``), else None."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class HeapWatch:
    """Trim the heap only once resident memory has grown by ``margin`` over the working set's level.

    Freed blocks stay on the heap pinned by live ones, so a long clip creeps up with no trim at
    all; trimming at a fixed pace gives back pages the next batch faults in again at once.
    Trimming on growth keeps the bound and skips the trims a flat run does not need. The level is
    read at the first look and again at the first look after each trim, once the pages the work
    uses are back: measured right after the trim, every later look saw the working set come back
    as growth and trimmed again (figures: bench/engine_notes.md).
    """

    def __init__(self, margin: int = 64 * 1024 * 1024) -> None:
        self.margin = margin
        self.trims = 0
        self._baseline: Optional[int] = None

    def check(self) -> None:
        rss = resident_bytes() if _LIBC is not None else None
        if rss is None:
            return
        if self._baseline is None:
            self._baseline = rss
        elif rss > self._baseline + self.margin:
            trim_heap()
            self.trims += 1
            self._baseline = None
