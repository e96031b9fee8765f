"""What the offset over time costs: the wide search (±125 shifts) against ±15 on example.avi in fast
mode, and peak memory of a 10-minute against a 1-minute looped clip.

    python bench/bench_over_time.py --weights /tmp/w.model [--repeat 3] [--long 600]

Each measurement runs in its own process (``--one``), so peak RSS is that analysis's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import DEFAULT_VIDEO, REPO_ROOT, ensure_looped_clip  # noqa: E402


def run_one(video: Path, weights: Path, narrow: bool) -> dict:
    """One analysis in this process; ``narrow``: the over-time evidence searches ±vshift only."""
    sys.path.insert(0, str(REPO_ROOT))
    from syncdesk.core.analysis import analyze
    from syncdesk.core.options import AnalysisOptions
    from syncdesk.core.pipeline import embed_stage
    from syncdesk.core.pipeline.clip_audio import sounding_windows
    from syncdesk.core.sync.over_time import TrackEvidence

    if narrow:
        embed_stage._evidence = lambda track_id, start, pcm, windows, options: TrackEvidence(
            track_id, start, sounding_windows(pcm, windows), options.vshift, reach=options.vshift)
    start = time.perf_counter()
    analysis = analyze(video, AnalysisOptions(weights=weights, detector="whole-frame"))
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 3), "embeddings_s": analysis.timings.get("embeddings"),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "offset_frames": analysis.offset_frames, "model": analysis.sync_over_time.model}


def measure(video: Path, weights: Path, narrow: bool) -> dict:
    command = [sys.executable, __file__, "--one", str(video), "--weights", str(weights)] + (["--narrow"] if narrow else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long", type=int, default=600, help="seconds of the long looped clip")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--narrow", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.weights, args.narrow)))
        return 0

    walls: dict[str, list[float]] = {"±15": [], "±125 (default)": []}
    for _ in range(args.repeat):  # interleaved, so drift in the machine's speed hits both alike
        walls["±15"].append(measure(args.video, args.weights, True)["wall_s"])
        walls["±125 (default)"].append(measure(args.video, args.weights, False)["wall_s"])
    print(f"example.avi, fast mode, whole-frame, analyze() wall seconds over {args.repeat} runs:")
    for name, values in walls.items():
        print(f"  {name:16} median {statistics.median(values):.3f} s  (runs {', '.join(f'{v:.3f}' for v in values)})")

    folder = Path(tempfile.gettempdir()) / "syncdesk-bench"
    folder.mkdir(exist_ok=True)
    rows = []
    for seconds in (60, args.long):
        clip = ensure_looped_clip(args.video, seconds, folder / f"example-{seconds}s.avi")
        rows.append((seconds, measure(clip, args.weights, False)))
    print("peak RSS, fast mode, whole-frame, one process per clip:")
    for seconds, row in rows:
        print(f"  {seconds:4d} s clip: {row['peak_rss_mib']:.0f} MiB, {row['wall_s']:.1f} s, model {row['model']}")
    print(f"  ratio long/short: {rows[1][1]['peak_rss_mib'] / rows[0][1]['peak_rss_mib']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
