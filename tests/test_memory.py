"""The malloc settings that keep long analyses flat are applied on Linux (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from syncdesk.core import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
@pytest.mark.parametrize(("argv", "tuned"), [
    (["analyze", "missing.avi"], True),
    (["fix", "missing.avi", "-o", "fixed.mp4", "--offset-ms", "40"], True),
    (["models", "path"], False),
])
def test_only_the_commands_that_analyse_tune_malloc(argv, tuned):
    """The program tunes malloc for analyze and fix; other commands, the app and a plain import of the
    engine keep glibc's defaults."""
    code = ("import sys, syncdesk.cli as cli, syncdesk.core.analysis, syncdesk.core.memory as m; "
            "cli._run(cli.build_parser().parse_args(sys.argv[1:]), program=True); print(m._done)")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == str(tuned), result.stdout + result.stderr


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_trim_heap_gives_freed_pages_back():
    """200 MB of small blocks freed around survivors stay resident until the heap is trimmed."""
    code = """
from syncdesk.core.memory import tune_malloc, trim_heap
tune_malloc()
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


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_a_freed_batch_sized_block_is_reused_without_page_faults():
    """A 16 MB buffer freed and allocated again (every batch of the towers does it) comes back
    from the heap already resident. The control, a fixed 4 MB mmap threshold (syncdesk's setting
    until it was measured), unmaps it and faults it in again page by page."""
    code = """
import resource, sys
from syncdesk.core import memory
if sys.argv[1] == "tuned":
    memory.tune_malloc()
else:
    memory._LIBC.mallopt(memory._M_MMAP_THRESHOLD, 4 * 2**20)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = b"x" * (16 * 2**20)  # written: every page touched
del block
before = faults()
block = b"x" * (16 * 2**20)  # written: every page touched
print(faults() - before)
"""
    pages = 16 * 2**20 // 4096
    tuned, control = (int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                         check=True).stdout) for mode in ("tuned", "control"))
    assert control > pages // 2, control
    assert tuned < pages // 20, tuned


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_heap_watch_trims_only_once_memory_has_grown():
    """Flat memory: no trim (each would cost the next batch its page faults). 200 MB of freed
    blocks pinned by survivors: one trim, and the pages go back."""
    code = """
from syncdesk.core import memory
memory.tune_malloc()
watch = memory.HeapWatch(margin=64 * 2**20)
watch.check()  # the baseline
scratch = [bytes(2000) for _ in range(5_000)]  # 10 MB: within the margin
del scratch
watch.check()
flat = watch.trims
blocks = [bytes(2000) for _ in range(100_000)]
survivors = blocks[::500]
del blocks
before = memory.resident_bytes()
watch.check()
print(flat, watch.trims, (before - memory.resident_bytes()) // 2**20)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    flat, grown, freed_mb = map(int, result.stdout.split())
    assert (flat, grown) == (0, 1)
    assert freed_mb > 100, freed_mb


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_heap_watch_does_not_trim_again_as_the_working_set_comes_back():
    """After a trim the work faults its pages in again: 100 MB of batches, freed and made again, is
    the working set coming back, not growth (trimming it at each look cost every batch its page
    faults). Only new growth beyond it trims again."""
    code = """
from syncdesk.core import memory
memory.tune_malloc()
watch = memory.HeapWatch(margin=64 * 2**20)
watch.check()
blocks = [bytes(2000) for _ in range(100_000)]
survivors = blocks[::500]
del blocks
watch.check()  # 200 MB grown: trimmed
trimmed = watch.trims
for _ in range(3):  # the working set: 100 MB of batches, freed and made again between looks
    batch = [bytes(2000) for _ in range(50_000)]
    watch.check()
    del batch
again = watch.trims
pinned = [bytes(2000) for _ in range(100_000)][::500]  # 200 MB more, pinned: grown
kept = [bytes(2000) for _ in range(100_000)]
watch.check()
print(trimmed, again, watch.trims)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert tuple(map(int, result.stdout.split())) == (1, 1, 2)
