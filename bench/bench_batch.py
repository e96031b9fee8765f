"""Benchmark ``syncdesk batch``: files per minute on CPU with 1 and 2 workers, and the second run.

A folder of ``--copies`` copies of ``example.avi`` is analysed with ``--detector whole-frame``
and seeded random weights (``make_weights.py``; speed does not depend on the values), each worker
count in a fresh ``SYNCDESK_DATA_DIR`` (empty queue, empty analysis cache). Then the same
command runs again over the same folder: everything is in the queue, nothing is analysed.

The copies are remuxed (streams copied packet for packet, same frames and sound) with a
different container comment each: byte-identical copies would share one analysis-cache entry,
and a batch would analyse the first and find the other 19 in the cache.

Run from the repository root (Linux: peak memory is read from /proc)::

    python bench/bench_batch.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import av
from make_weights import write_weights
from measure import Measurement, compile_package, measure

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "example.avi"


def tagged_copy(source: Path, target: Path, tag: str) -> Path:
    """``source`` remuxed into ``target`` with ``tag`` as its comment: same streams, other bytes."""
    with av.open(str(source)) as src, av.open(str(target), "w", format=src.format.name.split(",")[0]) as out:
        out.metadata["comment"] = tag
        streams = {stream.index: out.add_stream_from_template(stream) for stream in src.streams
                   if stream.type in ("video", "audio")}
        for packet in src.demux(*[src.streams[i] for i in streams]):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return target


def make_folder(video: Path, copies: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(copies):
        target = folder / f"copy {index:02d}{video.suffix}"
        if not target.exists():
            tagged_copy(video, target, f"syncdesk bench copy {index}")
    return folder


def run_batch(folder: Path, weights: Path, workers: int, data_dir: Path, report: Path, log_dir: Path) -> Measurement:
    command = [sys.executable, "-m", "syncdesk", "batch", str(folder), "--workers", str(workers),
               "--detector", "whole-frame", "--device", "cpu", "--weights", str(weights), "--quiet",
               "--report", str(report)]
    env = dict(os.environ, SYNCDESK_DATA_DIR=str(data_dir))
    result = measure(command, cwd=REPO_ROOT, env=env, log_dir=log_dir)
    if result.returncode != 0:
        raise SystemExit(f"batch failed ({result.returncode}): {result.stderr.strip()}")
    statuses = [entry["status"] for entry in json.loads((report / "report.json").read_text())["files"]]
    if any(status not in ("good", "poor") for status in statuses):
        raise SystemExit(f"not every file was analysed: {statuses}")
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--weights", type=Path, help="SyncNet weights (default: seeded random, make_weights.py)")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "syncdesk-bench-batch")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    compile_package()

    work = args.work_dir
    weights = args.weights or write_weights(work / "random-seed0.model", 0)
    folder = make_folder(args.video, args.copies, work / "folder")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines: List[str] = [
        f"`syncdesk batch` on {args.copies} copies of `{args.video.name}` (whole-frame, CPU, "
        f"{'given' if args.weights else 'seeded random'} weights); {platform.processor() or platform.machine()}, "
        f"{cores} cores, Python {platform.python_version()}",
        "",
        "| workers | first run (s) | files / min | peak RSS, all processes (MiB) | second run (s) |",
        "|---|---|---|---|---|",
    ]
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="syncdesk-data-") as data_dir:
            run_dir = work / f"workers-{workers}"
            first = run_batch(folder, weights, workers, Path(data_dir), run_dir / "report", run_dir / "first")
            second = run_batch(folder, weights, workers, Path(data_dir), run_dir / "report", run_dir / "second")
        lines.append(f"| {workers} | {first.wall_s:.1f} | {60 * args.copies / first.wall_s:.1f} | "
                     f"{first.peak_rss_mib:.0f} | {second.wall_s:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
