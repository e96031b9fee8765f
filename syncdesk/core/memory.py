"""Keep the process's memory flat over long clips.

glibc gives each thread that allocates its own heap ("arena"). Frames decoded in the reader
thread and convolution buffers from torch's worker threads then fragment several heaps, and
resident memory crept up by ~50 KB per scored window (a 5-minute clip in --exact peaked between
580 and 990 MB over identical runs). One shared arena keeps it flat (measured: 466 -> 471 MB over
4000 frames instead of 373 -> 586 MB).

Freed blocks of up to 32 MB stay on the heap to be reused by the next batch. Blocks glibc maps
and unmaps on every batch are zero pages the kernel must fault in again each time: with a 4 MB
threshold the fast analysis of example.avi took 270 000 page faults and 1.55 s, with 32 MB
125 000 and 1.46 s, for 10 MB more peak memory. The threshold is fixed (glibc would raise it
each time a big block is freed) and ``trim_heap`` gives the heap back every few hundred frames,
so long clips stay flat. Must run before worker threads first allocate; harmless elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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

    Called after the audio is read and every few hundred frames: without it, a 5-minute clip in
    --exact still crept from ~340 to 750 MB resident and peaked at 790-970 MB (freed blocks stay
    on the heap, pinned by the ones still in use); with it, it stays near 380 MB and peaks at
    529 MB, as a 30 s clip does (522 MB). It costs about a millisecond.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
