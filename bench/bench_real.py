"""``syncdesk analyze`` on the real recordings of ``../shared/data/real``: wall time, x real time, the faces
stage, how often the detector ran and the tracks it made (bundled detector, fast mode, seeded weights).

Run from the repository root::

    python bench/bench_real.py [--detector haar] [--weights W]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

REAL = ROOT.parent / "shared" / "data" / "real"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--detector", default="haar")
    args = parser.parse_args()
    from syncdesk.core.analysis import analyze
    from syncdesk.core.faces import choose
    from syncdesk.core.media import probe
    from syncdesk.core.options import AnalysisOptions

    weights = args.weights
    if weights is None:
        from make_weights import main as make_weights

        weights = ROOT / "artifacts" / "bench-monitor" / "random-seed0.model"
        if not weights.exists():
            weights.parent.mkdir(parents=True, exist_ok=True)
            make_weights([str(weights), "--seed", "0"])
    calls = [0]
    create = choose.create_detector

    def counted(*a, **k):  # count the detector's calls
        detector = create(*a, **k)
        detect = detector.detect

        def detect_counted(image):
            calls[0] += 1
            return detect(image)

        detector.detect = detect_counted
        return detector

    choose.create_detector = counted
    from syncdesk.core.pipeline import engine_stage

    engine_stage.create_detector = counted
    options = AnalysisOptions(weights=weights, detector=args.detector, device="cpu", min_track=25)
    print("| file | length s | wall s | x real time | faces stage s | detector calls / analysis frames | tracks (start-end frame) |")
    print("|---|---|---|---|---|---|---|")
    for clip in sorted(REAL.glob("*.mp4")):
        calls[0] = 0
        length = probe(clip).duration_s
        started = time.perf_counter()
        analysis = analyze(clip, options)
        wall = time.perf_counter() - started
        tracks = ", ".join(f"{t.start_frame}-{t.end_frame}" for t in analysis.tracks)
        print(f"| {clip.name} | {length:.1f} | {wall:.1f} | {length / wall:.2f} | {analysis.timings['faces']:.1f} | "
              f"{calls[0]} / {analysis.source.frames} | {tracks} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
