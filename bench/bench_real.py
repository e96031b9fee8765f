"""``syncdesk analyze`` on the real recordings of ``../shared/data/real``, each a fresh process: wall time,
x real time, peak memory, the faces stage and the tracks it made (bundled detector by default, fast
mode, seeded weights: the cost does not depend on their values).

Run from the repository root::

    python bench/bench_real.py [--detector haar] [--weights W] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--detector", default="haar")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    weights = args.weights
    if weights is None:
        from make_weights import main as make_weights

        weights = ROOT / "artifacts" / "bench-monitor" / "random-seed0.model"
        if not weights.exists():
            weights.parent.mkdir(parents=True, exist_ok=True)
            make_weights([str(weights), "--seed", "0"])
    work = Path(tempfile.mkdtemp(prefix="syncdesk-bench-real-"))
    print(f"| file | length s | wall s (median of {args.runs}) | x real time | peak MiB | faces stage s | "
          "embeddings stage s | tracks (start-end analysis frame) |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in sorted(REAL.glob("*.mp4")):
        out = work / f"{clip.stem}.json"
        command = [sys.executable, "-m", "syncdesk", "analyze", str(clip), "--weights", str(weights), "--detector",
                   args.detector, "--device", "cpu", "--quiet", "--min-track", "25", "--json", str(out), "--overwrite"]
        runs = [measure(command, cwd=ROOT, log_dir=work / "log") for _ in range(args.runs)]
        if any(run.returncode != 0 for run in runs):
            print(f"| {clip.name} | failed: {runs[-1].stderr.strip()[-300:]} |")
            continue
        document = json.loads(out.read_text())
        length = document["source"]["duration_s"]
        wall = statistics.median(run.wall_s for run in runs)
        peak = max(run.peak_rss_mib for run in runs)
        timings = document["timings"]
        tracks = ", ".join(f"{t['start_frame']}-{t['end_frame']}" for t in document["tracks"])
        print(f"| {clip.name} | {length:.1f} | {wall:.1f} | {length / wall:.2f} | {peak:.0f} | {timings['faces']:.1f} | "
              f"{timings['embeddings']:.1f} | {tracks} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
