"""Wall time and peak memory of one command, run as a fresh child process (Linux).

Peak RSS is the larger of two readings, both covering the child *and its descendants*:

- ``os.wait4``'s ``ru_maxrss``: the kernel's high-water mark of the largest single process in the
  tree (the child and every descendant it waited for, e.g. the original demo's ``ffmpeg``);
- the largest sum of the tree's current RSS, sampled from ``/proc`` every ``poll_s`` seconds, which
  also counts processes that are alive at the same time (a decoder beside the Python process).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
PACKAGE = Path(__file__).resolve().parents[1] / "syncdesk"


def compile_package() -> None:
    """Write syncdesk's bytecode, as ``pip install`` leaves an installed package. A checkout run where
    PYTHONDONTWRITEBYTECODE is set (CI and these machines set it) would otherwise compile every module
    it imports again in every timed run, which a user's installed copy never does."""
    import compileall

    compileall.compile_dir(PACKAGE, quiet=1)


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0  # user + system time of the child and its reaped descendants

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / MIB


def _children(pid: int) -> List[int]:
    pids: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                pids.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return pids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """Current RSS of ``root`` plus all its descendants."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _rss_bytes(pid)
        pending.extend(_children(pid))
    return total


class _TreeRssSampler(threading.Thread):
    def __init__(self, root: int, poll_s: float) -> None:
        super().__init__(daemon=True)
        self._root = root
        self._poll_s = poll_s
        self._done = threading.Event()
        self.peak_bytes = 0

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self._root))
            self._done.wait(self._poll_s)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_bytes


def measure(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Optional[Dict[str, str]] = None,
    log_dir: Path,
    poll_s: float = 0.02,
) -> Measurement:
    """Run ``command`` to completion; its output goes to files in ``log_dir`` and is returned."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        sampler = _TreeRssSampler(process.pid, poll_s)
        sampler.start()
        # wait4 (not Popen.wait) to get the rusage of the child and its reaped descendants.
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        sampled_peak = sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    kernel_peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    return Measurement(
        returncode=process.returncode,
        wall_s=wall_s,
        peak_rss_bytes=max(kernel_peak, sampled_peak),
        stdout=stdout_path.read_text(errors="replace"),
        stderr=stderr_path.read_text(errors="replace"),
        cpu_s=usage.ru_utime + usage.ru_stime,
    )
