"""The live monitor on 2 cores: does it keep up, how late is each line, what does it cost, is memory flat.

Streams: two real recordings of ``../shared/data/real`` made into 720p one-face streams (the face's
band of the portrait frame cropped to 16:9 and scaled to 1280x720, H.264, AAC): the kitchen clip at
25 fps and the presenter clip at 30 fps. Weights: seeded random (cost does not depend on their
values). Default monitor settings (bundled detector, fast mode, 8 s window, an update every 2 s).

- **keeps up**: ``syncdesk monitor CLIP`` with no pacing, whole process: processing seconds per
  second of stream (< 1 keeps up with a live stream) and CPU cores busy; beside it ``syncdesk
  analyze`` of the same file (the offline measurement a user would otherwise run on a recording).
- **latency**: ``--realtime`` (the file paced as if live): each update's ``latency_s`` (the window's
  last picture arriving -> the line printed), median / 95th percentile / max, and CPU use.
- **soak** (``--soak``): a 20 s flash clip looped for 5 minutes and for 1 hour of stream, no pacing:
  peak memory of each (the issue's bound: the hour within 1.25x of the 5 minutes).

Run from the repository root::

    python bench/bench_monitor.py [--soak] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import compile_package, measure  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
#: (source, first row of the 16:9 band that holds the face in the 1080x1920 frame, name)
STREAMS = (("kitchen_portrait_hevc_25fps.mp4", 140, "kitchen 720p25"),
           ("presenter_portrait_hevc_30fps_jumpcut.mp4", 350, "presenter 720p30"))


def make_720p(source: Path, top: int, out: Path) -> Path:
    """The 1080x608 band from ``top`` scaled to 1280x720, H.264 + AAC, at the source's own rate."""
    if out.exists():
        return out
    with av.open(str(source)) as inp, av.open(str(out), "w") as dst:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        video = dst.add_stream("libx264", rate=vin.average_rate)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast", "g": str(2 * round(float(vin.average_rate)))}
        audio = dst.add_stream("aac", rate=ain.codec_context.sample_rate)
        audio.layout = "stereo"
        for frame in inp.decode(vin, ain):
            if isinstance(frame, av.VideoFrame):
                image = frame.to_ndarray(format="bgr24")[top:top + 608]
                scaled = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_AREA)
                new = av.VideoFrame.from_ndarray(scaled, format="bgr24")
                new.pts, new.time_base = frame.pts, frame.time_base
                packets = video.encode(new)
            else:
                frame.pts = None
                packets = audio.encode(frame)
            for packet in packets:
                dst.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                dst.mux(packet)
    return out


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


def monitor(clip: Path, weights: Path, work: Path, *extra: str) -> tuple[float, float, list[dict], int]:
    """Wall s, CPU s, the updates and peak RSS of one ``syncdesk monitor`` run."""
    out = work / f"{clip.stem}-{len(list(work.iterdir()))}.jsonl"
    command = [sys.executable, "-m", "syncdesk", "monitor", str(clip), "--weights", str(weights), "--device", "cpu",
               "--quiet", "--jsonl", str(out), *extra]
    result = measure(command, cwd=ROOT, log_dir=work / "log")
    if result.returncode != 0:
        raise SystemExit(f"monitor failed: {result.stderr[-2000:]}")
    updates = [json.loads(line) for line in out.read_text().splitlines()]
    return result.wall_s, result.cpu_s, updates, result.peak_rss_bytes


def analyze_wall(clip: Path, weights: Path, work: Path) -> float:
    command = [sys.executable, "-m", "syncdesk", "analyze", str(clip), "--weights", str(weights), "--device", "cpu",
               "--quiet", "--min-track", "25"]
    result = measure(command, cwd=ROOT, log_dir=work / "log")
    return result.wall_s


def keeps_up(clips: list[tuple[Path, str]], weights: Path, work: Path, runs: int) -> list[str]:
    lines = ["| stream | length s | monitor wall s (median of %d) | processing s per stream s | CPU cores busy | "
             "updates with a face | analyze wall s | monitor / analyze |" % runs, "|---|---|---|---|---|---|---|---|"]
    for clip, name in clips:
        length = duration_s(clip)
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu, updates, _ = monitor(clip, weights, work)
            walls.append(wall)
            cpus.append(cpu)
        analyze = statistics.median(analyze_wall(clip, weights, work) for _ in range(runs))
        wall = statistics.median(walls)
        busy = statistics.median(c / w for c, w in zip(cpus, walls))
        with_faces = sum(u["faces"] > 0 for u in updates)
        lines.append(f"| {name} | {length:.1f} | {wall:.1f} | {wall / length:.2f} | {busy:.2f} | "
                     f"{with_faces} of {len(updates)} with a face | {analyze:.1f} | {wall / analyze:.2f} |")
    return lines


def latency(clips: list[tuple[Path, str]], weights: Path, work: Path) -> list[str]:
    lines = ["| stream (--realtime) | updates | latency median s | p95 s | max s | CPU cores busy |",
             "|---|---|---|---|---|---|"]
    for clip, name in clips:
        wall, cpu, updates, _ = monitor(clip, weights, work, "--realtime")
        late = np.array([u["latency_s"] for u in updates if u["latency_s"] is not None])
        lines.append(f"| {name} | {len(updates)} | {np.median(late):.2f} | {np.percentile(late, 95):.2f} | "
                     f"{late.max():.2f} | {cpu / wall:.2f} |")
    return lines


def soak(weights: Path, work: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.oracle import save_subframe_oracle
    from tests.stream_servers import make_ts_clip

    oracle = save_subframe_oracle(work / "oracle.model")
    clip = make_ts_clip(work / "loop.ts", 20, audio_lead_s=0.04)
    lines = ["| looped 20 s flash clip (whole-frame, no pacing) | wall s | peak RSS MiB | updates |", "|---|---|---|---|"]
    peaks = {}
    for seconds in (300, 3600):
        wall, _, updates, peak = monitor(clip, oracle, work, "--detector", "whole-frame", "--loop", "--duration",
                                         str(seconds))
        peaks[seconds] = peak
        lines.append(f"| {seconds // 60} min of stream | {wall:.0f} | {peak / 2**20:.0f} | {len(updates)} |")
    lines.append(f"\npeak memory, 1 hour / 5 minutes: {peaks[3600] / peaks[300]:.3f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, help="SyncNet weights (default: seeded random ones)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--soak", action="store_true", help="also the 5 minute vs 1 hour memory run (about 8 min)")
    parser.add_argument("--no-streams", action="store_true", help="only the soak")
    args = parser.parse_args()
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="syncdesk-bench-monitor-"))
    cache = ROOT / "artifacts" / "bench-monitor"
    cache.mkdir(parents=True, exist_ok=True)
    weights = args.weights
    if weights is None:
        from make_weights import main as make_weights

        weights = cache / "random-seed0.model"
        if not weights.exists():
            make_weights([str(weights), "--seed", "0"])
    report = []
    if not args.no_streams:
        clips = [(make_720p(REAL / source, top, cache / f"{source.split('_')[0]}_720p.mp4"), name)
                 for source, top, name in STREAMS]
        report += keeps_up(clips, weights, work, args.runs) + [""] + latency(clips, weights, work)
    if args.soak:
        report += [""] + soak(weights, work)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
