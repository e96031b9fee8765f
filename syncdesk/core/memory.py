"""Keep the process's memory flat over long clips.

glibc gives each thread that allocates its own heap ("arena"). Frames decoded in the reader
thread and convolution buffers from torch's worker threads then fragment several heaps, and
resident memory crept up by ~50 KB per scored window (a 5-minute clip in --exact peaked between
580 and 990 MB over identical runs). One shared arena keeps it flat (measured: 466 -> 471 MB over
4000 frames instead of 373 -> 586 MB). A fixed mmap threshold stops glibc from raising it
(it does so each time a big block is freed) and keeping freed convolution buffers on the heap.
Must run before worker threads first allocate; harmless elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Optional

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_M_ARENA_MAX = -8
#: blocks at least this big are mmapped and given back to the system when freed: torch's
#: convolution buffers (tens of MB each) then cannot fragment the heap
MMAP_THRESHOLD = 4 * 1024 * 1024
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


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas (Linux only). Returns whether the cap was set."""
    global _done
    if not _done and _LIBC is not None:
        _done = bool(_LIBC.mallopt(_M_ARENA_MAX, arenas)) and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
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
