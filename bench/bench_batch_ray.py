"""Benchmark ``syncdesk batch --executor ray`` against ``--executor local`` on this machine, and
measure the per-stage timings the cluster cost model of ``bench/ray.md`` rests on.

**Throughput.** The same folders (remuxed copies of ``example.avi``, made as ``bench_batch.py``
makes them), ``--detector whole-frame``, CPU, seeded random weights, with 1 and 2 slots: local
``--workers N`` processes (``cores // N`` torch threads each) against Ray ``--workers N`` actors
of ``cores // N`` CPUs each (the same threads), the local Ray started by the command itself. Every
run has a fresh ``SYNCDESK_DATA_DIR``. Each configuration runs on a small and a large folder
(interleaved, ``--repeat`` times, the fastest kept), and ``wall = fixed + per_file x files`` is
solved from the two: Ray's overhead per file and its fixed cost (starting Ray and the actors) are
the differences from local's at the same slots. Peak memory is the sum over the command's process
tree (a local Ray's processes are its children: ``measure.py``).

**Stages.** Two analyses of ``example.avi`` per detector in this process (the first warms up), on
one torch thread, with SyncNet's towers (the scorer's video embeddings, ``forward_audio``) timed apart and the
windows they embed counted: CPU seconds per file outside the towers (decoding, faces, crops, MFCC)
against tower seconds per window; FLOPs per window from torch's flop counter.

Run from the repository root (Linux: peak memory is read from /proc); Ray stays on 127.0.0.1::

    python bench/bench_batch_ray.py --out bench/ray-results.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import av
import numpy as np
import torch
from bench_batch import DEFAULT_VIDEO, REPO_ROOT, make_folder
from make_weights import write_weights
from measure import Measurement, compile_package, measure

#: Ray on this machine only: every process on 127.0.0.1 (Ray's own switch for one-machine use), no usage report
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
if "RAY_worker_niceness" not in os.environ:  # Ray's workers run at niceness 15: behind any other work
    RAY_ENV["RAY_worker_niceness"] = "0"    # of this machine's (the local workers' niceness: 0)


@dataclass(frozen=True)
class Config:
    executor: str
    slots: int

    def args(self, cores: int) -> list[str]:
        extra = ["--executor", "ray", "--cpus-per-worker", str(max(1, cores // self.slots))] if self.executor == "ray" else []
        return ["--workers", str(self.slots), *extra]


def run_batch(folder: Path, weights: Path, config: Config, cores: int, log_dir: Path) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="syncdesk-data-") as data_dir:
        command = [sys.executable, "-m", "syncdesk", "batch", str(folder), *config.args(cores), "--detector",
                   "whole-frame", "--device", "cpu", "--weights", str(weights), "--quiet"]
        env = dict(os.environ, SYNCDESK_DATA_DIR=data_dir, **RAY_ENV)
        result = measure(command, cwd=REPO_ROOT, env=env, log_dir=log_dir)
    if result.returncode != 0:
        raise SystemExit(f"{config} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def throughput(weights: Path, work: Path, video: Path, sizes: tuple[int, int], repeat: int) -> list[str]:
    cores = len(os.sched_getaffinity(0))
    configs = [Config(executor, slots) for slots in (1, 2) for executor in ("local", "ray")]
    folders = {size: make_folder(video, size, work / f"folder-{size}") for size in sizes}
    walls: dict[tuple[Config, int], list[float]] = {}
    peaks: dict[Config, float] = {}
    for attempt in range(repeat):
        for size in sizes:
            for config in configs:
                result = run_batch(folders[size], weights, config, cores,
                                   work / f"{config.executor}-{config.slots}-{size}-{attempt}")
                walls.setdefault((config, size), []).append(result.wall_s)
                if size == sizes[1]:
                    peaks[config] = max(peaks.get(config, 0.0), result.peak_rss_mib)
                print(f"{config.executor} {config.slots} slot(s), {size} files: {result.wall_s:.1f} s, "
                      f"{result.peak_rss_mib:.0f} MiB", flush=True)
    small, large = sizes
    fits = {}
    for config in configs:
        low, high = min(walls[config, small]), min(walls[config, large])
        per_file = (high - low) / (large - small)
        fits[config] = (per_file, low - small * per_file, high)
    lines = [f"| executor | slots | files / min ({large} files) | per file (s) | fixed (s) | "
             f"Ray's overhead per file (s) | Ray's fixed cost (s) | peak RSS, all processes (MiB) |",
             "|---|---|---|---|---|---|---|---|"]
    for config in configs:
        per_file, fixed, high = fits[config]
        if config.executor == "ray":
            local_per_file, local_fixed, _ = fits[Config("local", config.slots)]
            overhead = f"{per_file - local_per_file:+.2f} | {fixed - local_fixed:+.1f}"
        else:
            overhead = "- | -"
        lines.append(f"| {config.executor} | {config.slots} | {60 * large / high:.1f} | {per_file:.2f} | "
                     f"{fixed:.1f} | {overhead} | {peaks[config]:.0f} |")
    return lines


def upscaled(video: Path, target: Path, height: int = 1080) -> Path:
    """``video`` as a broadcast delivery would carry it: the picture scaled to ``height`` lines in the
    middle of a 16:9 grey frame, H.264 (the face is as large, the frame is 1080p to decode and scan)."""
    if target.exists():
        return target
    width = height * 16 // 9
    with av.open(str(video)) as src, av.open(str(target), "w") as out:
        source = src.streams.video[0]
        stream = out.add_stream("libx264", rate=source.average_rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=src.streams.audio[0].rate)
        for frame in src.decode(source):
            side = height * frame.width // frame.height
            picture = frame.reformat(width=side, height=height, format="rgb24").to_ndarray()
            canvas = np.full((height, width, 3), 128, dtype=np.uint8)
            canvas[:, (width - side) // 2:(width - side) // 2 + side] = picture
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        src.seek(0)
        for frame in src.decode(src.streams.audio[0]):
            frame.pts = None
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return target


def _timed(method: Callable[..., torch.Tensor], tally: list[float]) -> Callable[..., torch.Tensor]:
    """``method`` with its windows and seconds added to ``tally`` (waiting for the GPU to finish)."""

    def wrapper(self: torch.nn.Module, batch: torch.Tensor, *args: int) -> torch.Tensor:
        start = time.perf_counter()
        out = method(self, batch, *args)
        if out.is_cuda:
            torch.cuda.synchronize()
        tally[0] += out.shape[0]
        tally[1] += time.perf_counter() - start
        return out

    return wrapper


def stages(weights: Path, videos: Sequence[tuple[Path, str]], device: str) -> list[str]:
    """The per-stage table: each (video, detector) analysed twice on ``device`` (the first warms up)."""
    from torch.utils.flop_counter import FlopCounterMode

    from syncdesk.core.analysis import analyze
    from syncdesk.core.models.device import precision_in_use
    from syncdesk.core.options import AnalysisOptions
    from syncdesk.core.sync import embed
    from syncdesk.core.sync.model import SyncNet

    torch.set_num_threads(1)
    tallies = {"video": [0.0, 0.0], "audio": [0.0, 0.0]}
    embed.window_embeddings = _timed(embed.window_embeddings, tallies["video"])  # type: ignore[assignment]
    SyncNet.forward_audio = _timed(SyncNet.forward_audio, tallies["audio"])  # type: ignore[method-assign]
    lines = ["| file | detector | length (s) | analysis (s) | stages (s) | video / audio windows | "
             "video / audio tower ms per window | CPU work outside the towers (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for video, detector in videos:
        options = AnalysisOptions(weights=weights, detector=detector, device=device)
        analyze(video, options)  # warm-up: first calls, caches of torch and OpenCV
        for tally in tallies.values():
            tally[:] = [0.0, 0.0]
        analysis = analyze(video, options)
        timings = {name: seconds for name, seconds in analysis.timings.items() if name not in ("total", "load_model")}
        (video_windows, video_s), (audio_windows, audio_s) = tallies["video"], tallies["audio"]
        total = analysis.timings["total"] - analysis.timings.get("load_model", 0.0)
        lines.append(f"| {video.name} ({analysis.source.width}x{analysis.source.height}) | {detector} | "
                     f"{analysis.source.duration_s:.1f} | {total:.2f} | "
                     + ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items())
                     + f" | {video_windows:.0f} / {audio_windows:.0f} | {1000 * video_s / max(video_windows, 1):.2f} / "
                     f"{1000 * audio_s / max(audio_windows, 1):.2f} | {total - video_s - audio_s:.2f} |")
    model = SyncNet().eval()
    flops = {}
    with torch.no_grad():
        for name, call, batch in (("video", model.forward_video, torch.zeros(1, 3, 5, 224, 224)),
                                  ("audio", model.forward_audio, torch.zeros(1, 1, 13, 20))):
            with FlopCounterMode(display=False) as counter:
                call(batch)
            flops[name] = counter.get_total_flops()
    lines += ["", f"Device {device}, arithmetic {precision_in_use(AnalysisOptions(device=device))}, one torch thread. "
              f"FLOPs per window (torch's flop counter): video {flops['video'] / 1e9:.2f} GFLOP, "
              f"audio {flops['audio'] / 1e9:.3f} GFLOP."]
    return lines


def driver_cost(weights: Path, video: Path, work: Path, files: int = 200) -> list[str]:
    """What the driver does per file whatever the executor, timed alone: the store's two writes (the
    job started and finished) and the document into its analysis cache (the file's sampled content
    read for the key, the JSON written, the cache pruned). Its inverse is the most files a second
    one driver records."""
    from syncdesk.core.analysis import analyze
    from syncdesk.core.batch.scan import FoundFile
    from syncdesk.core.batch.store import DONE, JobStore
    from syncdesk.core.batch.worker import summary
    from syncdesk.core.cache import AnalysisCache
    from syncdesk.core.options import AnalysisOptions

    options = AnalysisOptions(weights=weights, detector="whole-frame", device="cpu")
    document = analyze(video, options)
    copies = make_folder(video, files, work / f"folder-{files}")
    found = [FoundFile(path, path.stat().st_size, path.stat().st_mtime_ns) for path in sorted(copies.iterdir())]
    with tempfile.TemporaryDirectory(prefix="syncdesk-driver-") as data:
        cache = AnalysisCache(Path(data) / "cache")
        with JobStore(Path(data) / "batch.sqlite3") as store:
            jobs = store.enqueue(found, "bench")
            start = time.perf_counter()
            for job in jobs:
                store.start(job.id)
                store.finish(job.id, DONE, summary(document), None)
            stored = time.perf_counter() - start
            start = time.perf_counter()
            for job in jobs:
                cache.put(job.path, options, document)
            cached = time.perf_counter() - start
    per_file = 1000 * (stored + cached) / files
    return [f"Driver, per file ({files} files, `{video.name}`'s document): store {1000 * stored / files:.2f} ms, "
            f"document into the cache {1000 * cached / files:.2f} ms; about {1000 / per_file:.0f} files/s at most."]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--sizes", type=int, nargs=2, default=[4, 16], metavar=("SMALL", "LARGE"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--weights", type=Path, help="SyncNet weights (default: seeded random, make_weights.py)")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "syncdesk-bench-ray")
    parser.add_argument("--no-stages", action="store_true", help="only the throughput runs")
    parser.add_argument("--no-throughput", action="store_true", help="only the per-stage timings")
    parser.add_argument("--device", default="cpu", help="the stages' device (cuda on a GPU node: its towers' speed)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    compile_package()

    weights = args.weights or write_weights(args.work_dir / "random-seed0.model", 0)
    cores = len(os.sched_getaffinity(0))
    text = [f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; {'given' if args.weights else 'seeded random'} "
            f"weights, `{args.video.name}`", ""]
    if not args.no_throughput:
        import ray

        text += [f"Throughput (Ray {ray.__version__}, a local Ray started by each command; fastest of "
                 f"{args.repeat}):", "", *throughput(weights, args.work_dir, args.video, tuple(args.sizes),
                                                     args.repeat), ""]
    if not args.no_stages:
        wide = upscaled(args.video, args.work_dir / f"{args.video.stem}-1080p.mkv")
        videos = [(args.video, "whole-frame"), (args.video, "haar"), (wide, "haar")]
        text += ["Stages (one CPU core):", "", *stages(weights, videos, args.device), "",
                 *driver_cost(weights, args.video, args.work_dir), ""]
    print("\n".join(text))
    if args.out:
        args.out.write_text("\n".join(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
