"""The malloc settings that keep long analyses flat are applied on Linux (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from syncdesk.core import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_importing_the_engine_caps_malloc_arenas():
    code = "import syncdesk.core.analysis, syncdesk.core.memory as m; print(m._done)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_trim_heap_gives_freed_pages_back():
    """200 MB of small blocks freed around survivors stay resident until the heap is trimmed."""
    code = """
from syncdesk.core.memory import limit_malloc_arenas, trim_heap
limit_malloc_arenas()
import os
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
blocks = [bytes(2000) for _ in range(100_000)]
survivors = blocks[::500]
del blocks
before = rss()
trim_heap()
print(before, rss())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(int, result.stdout.split())
    assert before - after > 100, (before, after)
