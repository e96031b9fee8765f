"""``syncdesk analyze`` on the real recordings of ``../shared/data/real`` and, beside them, the composed
720p two-face clip of ``bench_faces.py``, each run a fresh process: wall time, CPU time, x real time,
peak memory, the faces and embeddings stages, and the faces tracked against the faces counted by eye
(bundled detector, fast mode, seeded weights: the cost does not depend on their values).

``--s3fd`` adds S3FD: ``syncdesk analyze --detector s3fd`` with S3FD's network run on every input it
would be given (the faces themselves come from the bundled detector: seeded S3FD weights find none;
``s3fd_replay.py`` says how), beside the original pipeline's face stage alone: S3FD at 0.25 on every
frame, as its ``run_pipeline.py`` runs it (a lower bound of the original's whole time: it then also
crops every track with ffmpeg and runs SyncNet).

Run from the repository root::

    python bench/bench_real.py [--runs 3] [--s3fd [--original-runs 1]] [--only NAME] [--weights W]
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
sys.path.insert(0, str(ROOT))

from measure import Measurement, compile_package, measure  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
EXAMPLE = ROOT.parent / "shared" / "data" / "example.avi"
#: frontal or three-quarter faces of 60 px or more on screen for 2 s or more, counted by eye (README there)
FACES_BY_EYE = {
    "debate_split_1080p25": 2,
    "kitchen_portrait_hevc_25fps": 1,
    "outdoor_portrait_hevc_25fps": 1,
    "presenter_portrait_hevc_30fps_jumpcut": 1,
    "composed_720p25_two_faces": 2,
}
#: a track this long (2 s) counts as a face found
FOUND_FRAMES = 50


def clips(work: Path) -> list[Path]:
    from bench_faces import compose

    composed = work / "composed_720p25_two_faces.mp4"
    if EXAMPLE.exists():
        compose(composed, 20.0)
    return sorted(REAL.glob("*.mp4")) + ([composed] if composed.exists() else [])


def seeded_weights(path: Path | None) -> Path:
    if path is not None:
        return path
    from make_weights import main as make_weights

    path = ROOT / "artifacts" / "bench-monitor" / "random-seed0.model"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_weights([str(path), "--seed", "0"])
    return path


def seeded_s3fd(path: Path) -> Path:
    import torch

    from syncdesk.core.faces.s3fd import S3FD

    if not path.exists():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            torch.save(S3FD().state_dict(), path)
    return path


def median_run(command: list[str], runs: int, log: Path) -> tuple[list[Measurement], str]:
    done = [measure(command, cwd=ROOT, log_dir=log) for _ in range(runs)]
    failed = next((run for run in done if run.returncode != 0), None)
    return done, (failed.stderr.strip()[-300:] if failed else "")


def faces_found(tracks: list[dict], frames: int) -> tuple[int, float]:
    """Tracks of 2 s or more, and the share of the clip's frames they cover (per face by eye)."""
    long = [t for t in tracks if t["end_frame"] - t["start_frame"] + 1 >= FOUND_FRAMES]
    covered = sum(t["end_frame"] - t["start_frame"] + 1 for t in long)
    return len(long), covered / frames


def bundled(paths: list[Path], weights: Path, runs: int, work: Path) -> None:
    print(f"| clip | length s | wall s (median of {runs}) | CPU s | x real time | peak MiB | faces stage s | "
          "embeddings stage s | faces by eye | tracks of 2 s+ (frames covered per face) | all tracks |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for clip in paths:
        out = work / f"{clip.stem}.json"
        command = [sys.executable, "-m", "syncdesk", "analyze", str(clip), "--weights", str(weights), "--detector",
                   "haar", "--device", "cpu", "--quiet", "--min-track", "25", "--json", str(out), "--overwrite"]
        done, failed = median_run(command, runs, work / "log")
        if failed:
            print(f"| {clip.name} | failed: {failed} |")
            continue
        document = json.loads(out.read_text())
        length = document["source"]["duration_s"]
        wall = statistics.median(run.wall_s for run in done)
        cpu = statistics.median(run.cpu_s for run in done)
        peak = max(run.peak_rss_mib for run in done)
        timings = document["timings"]
        by_eye = FACES_BY_EYE.get(clip.stem, 0)
        found, covered = faces_found(document["tracks"], document["source"]["frames"])
        tracks = ", ".join(f"{t['start_frame']}-{t['end_frame']}" for t in document["tracks"])
        print(f"| {clip.name} | {length:.1f} | {wall:.1f} | {cpu:.1f} | {length / wall:.2f} | {peak:.0f} | "
              f"{timings['faces']:.1f} | {timings['embeddings']:.1f} | {by_eye} | {found} "
              f"({100 * covered / max(by_eye, 1):.0f}%) | {tracks} |")


def s3fd(paths: list[Path], weights: Path, runs: int, original_runs: int, work: Path) -> None:
    s3fd_weights = seeded_s3fd(work / "s3fd-seed0.pth")
    replay = str(ROOT / "bench" / "s3fd_replay.py")
    analyze = ["--weights", str(weights), "--device", "cpu", "--quiet", "--min-track", "25", "--overwrite"]
    print(f"\n| clip | length s | syncdesk with S3FD: wall s (median of {runs}) | x real time | peak MiB | "
          f"original face stage alone (S3FD at 0.25 on every frame): wall s (median of {original_runs}) | "
          "x real time | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in paths:
        answers = work / f"{clip.stem}.answers.json"
        out = work / f"{clip.stem}.s3fd.json"
        recorded = measure([sys.executable, replay, "record", str(clip), str(answers), "--", *analyze,
                            "--json", str(work / "recorded.json")], cwd=ROOT, log_dir=work / "log")
        if recorded.returncode != 0:
            print(f"| {clip.name} | recording failed: {recorded.stderr.strip()[-300:]} |")
            continue
        ours, failed = median_run([sys.executable, replay, "run", str(clip), str(answers), str(s3fd_weights), "--",
                                   *analyze, "--json", str(out)], runs, work / "log")
        original, failed_original = median_run([sys.executable, replay, "every", str(clip), str(s3fd_weights)],
                                               original_runs, work / "log") if original_runs else ([], "")
        if failed or failed_original:
            print(f"| {clip.name} | failed: {failed or failed_original} |")
            continue
        length = json.loads(out.read_text())["source"]["duration_s"]
        wall = statistics.median(run.wall_s for run in ours)
        wall_original = statistics.median(run.wall_s for run in original) if original else float("nan")
        peak = max(run.peak_rss_mib for run in ours)
        print(f"| {clip.name} | {length:.1f} | {wall:.1f} | {length / wall:.2f} | {peak:.0f} | {wall_original:.1f} | "
              f"{length / wall_original:.2f} | {wall_original / wall:.1f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3fd", action="store_true", help="also S3FD, and the original pipeline's face stage")
    parser.add_argument("--only", help="only the clips whose name contains this")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled detector's table")
    parser.add_argument("--original-runs", type=int, default=1,
                        help="runs of the original's face stage (minutes each on 2 cores)")
    args = parser.parse_args()
    compile_package()
    weights = seeded_weights(args.weights)
    work = Path(tempfile.mkdtemp(prefix="syncdesk-bench-real-"))
    paths = [clip for clip in clips(work) if args.only is None or args.only in clip.name]
    if not args.no_bundled:
        bundled(paths, weights, args.runs, work)
    if args.s3fd:
        s3fd(paths, weights, args.runs, args.original_runs, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
