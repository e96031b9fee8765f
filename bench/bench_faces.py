"""Benchmark the face pipeline on a 720p clip with two faces (issue 4's speed figures).

1. Frames per second of ``analyze`` (in-process, model loaded) with the bundled detector, and
   stage timings: decode, shots, detect, track, crop, embed (each stage's own time, taken by
   wrapping the engine's functions; "decode" is the decoder alone, measured in a separate pass,
   since in the pipeline it runs in a thread beside the rest).
2. Detection every N frames: N = 1, 5, 10 against N = 1 (box IoU per frame, offsets, speaker).
3. S3FD: milliseconds per 720p frame on the same CPU (seeded random weights unless
   ``--s3fd-weights``: speed does not depend on the values), and the whole pipeline's fps with
   S3FD on every 5th frame, projected from the measured stages; measured too with
   ``--s3fd-weights`` (random weights find no face, so the pipeline would stop there).
4. Peak RSS of ``syncdesk analyze`` (fresh process) on the clip and on one 4x longer.

The clip is composed from ``example.avi`` (tests/face_clips.py); the oracle weights
(tests/oracle.py) make the left face the speaker. Run from the repository root::

    python bench/bench_faces.py --seconds 30 [--s3fd-weights sfd_face.pth]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from measure import compile_package, measure  # noqa: E402

from syncdesk.core import analysis as pipeline  # noqa: E402
from syncdesk.core import media, settings  # noqa: E402
from syncdesk.core.faces import scan as face_scan  # noqa: E402
from syncdesk.core.faces.detectors import HaarFaceDetector  # noqa: E402
from syncdesk.core.faces.s3fd import S3FD, S3FDDetector  # noqa: E402
from syncdesk.core.faces.tracking import TrackLinker, iou  # noqa: E402
from syncdesk.core.pipeline import embed_stage, faces_stage  # noqa: E402
from syncdesk.core.options import AnalysisOptions  # noqa: E402
from syncdesk.core.shots import ShotDetector  # noqa: E402
from syncdesk.core.sync.embed import WindowScorer  # noqa: E402
from syncdesk.core.models.weights import model_path  # noqa: E402
from tests.face_clips import Tile, make_faces_clip  # noqa: E402
from tests.oracle import save_oracle  # noqa: E402

EXAMPLE = REPO_ROOT.parent / "shared" / "data" / "example.avi"
SIZE = (1280, 720)
SIDE = 320  # face tiles: the faces inside are about 230 px, an interview's close-up


class StageClock:
    """Adds the time spent in wrapped functions to named stages."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, name: str, stage: str) -> Callable[[], None]:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)


@contextmanager
def instrumented(clock: StageClock, detector_class: type) -> Iterator[None]:
    undo = [
        clock.wrap(ShotDetector, "process", "shots"),
        clock.wrap(detector_class, "detect", "detect"),
        clock.wrap(TrackLinker, "add", "track"),
        clock.wrap(embed_stage, "crop_face", "crop"),
        clock.wrap(WindowScorer, "_run", "embed"),
        clock.wrap(WindowScorer, "finish", "embed"),
    ]
    try:
        yield
    finally:
        for restore in undo:
            restore()


def compose(path: Path, seconds: float) -> Path:
    tiles = [Tile(1, lambda n: (140, 200), side=SIDE), Tile(2, lambda n: (820, 200), side=SIDE)]
    return make_faces_clip(path, EXAMPLE, tiles, 0, seconds=seconds, audio_lead_s=0.12, size=SIZE)


def decode_only(clip: Path) -> tuple[int, float]:
    start = time.perf_counter()
    frames = sum(1 for _ in media.iter_analysis_frames(clip))
    return frames, time.perf_counter() - start


def run_pipeline(clip: Path, options: AnalysisOptions, repeat: int,
                 detector_class: type = HaarFaceDetector) -> tuple[float, dict[str, float], Any]:
    """Median wall of ``analyze`` and the stage times of that run."""
    runs = []
    for _ in range(repeat):
        clock = StageClock()
        with instrumented(clock, detector_class):
            start = time.perf_counter()
            result = pipeline.analyze(clip, options)
            runs.append((time.perf_counter() - start, clock.seconds, result))
    runs.sort(key=lambda run: run[0])
    return runs[len(runs) // 2]


def every_n_study(clip: Path, options: AnalysisOptions, values: list[int]) -> list[str]:
    rows = ["| detect every | wall | fps | mean box IoU vs every frame | tracks | offsets | speaker frames agreeing |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    reference = None
    follower = faces_stage.FaceFollower
    for every in values:
        faces_stage.FaceFollower = functools.partial(follower, every=every)
        start = time.perf_counter()
        result = pipeline.analyze(clip, options)
        wall = time.perf_counter() - start
        if reference is None:
            reference = result
        ious = []
        for track, ref in zip(result.tracks, reference.tracks, strict=False):
            by_frame = {box[0]: box[1:] for box in ref.boxes}
            ious += [iou(box[1:], by_frame[box[0]]) for box in track.boxes if box[0] in by_frame]
        agree = np.mean([a == b for a, b in zip(result.active_speaker, reference.active_speaker, strict=True)])
        rows.append(f"| {every} | {wall:.2f} s | {result.source.frames / wall:.1f} | {np.mean(ious):.3f} | "
                    f"{len(result.tracks)} | {[t.offset_frames for t in result.tracks]} | {100 * agree:.1f}% |")
    faces_stage.FaceFollower = follower
    return rows


def random_s3fd_weights(path: Path, seed: int = 0) -> Path:
    """Seeded random S3FD weights with the published key names (the network's default init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.save(S3FD().state_dict(), path)
    return path


def s3fd_ms_per_frame(clip: Path, weights: Path, frames: int = 20) -> float:
    detector = S3FDDetector(weights, device="cpu")
    images = [f.image for f in media.iter_analysis_frames(clip) if f.index < frames]
    detector.detect(images[0])  # warm-up
    times = []
    for image in images:
        start = time.perf_counter()
        detector.detect(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@contextmanager
def s3fd_installed(weights: Path, data_dir: Path) -> Iterator[None]:
    """``--detector s3fd`` finds ``weights`` (linked into a private data dir) for the duration."""
    previous = os.environ.get(settings.DATA_DIR_ENV)
    os.environ[settings.DATA_DIR_ENV] = str(data_dir)
    try:
        target = model_path("s3fd")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(weights.resolve())
        yield
    finally:
        if previous is None:
            del os.environ[settings.DATA_DIR_ENV]
        else:
            os.environ[settings.DATA_DIR_ENV] = previous


def s3fd_rows(clip: Path, oracle: Path, args: argparse.Namespace, wall: float, stages: dict[str, float],
              frames: int) -> list[str]:
    """A table: the bundled detector (measured) against S3FD (projected, and measured with real weights)."""
    checked = -(-frames // face_scan.DETECT_EVERY)  # about: a cut without a face adds a few
    haar_ms = 1000 * stages.get("detect", 0.0) / checked
    s3fd_ms = s3fd_ms_per_frame(clip, args.s3fd_weights or random_s3fd_weights(args.work / "s3fd-random.pth"))
    without_detect = wall - stages.get("detect", 0.0)
    every_n = without_detect + checked * s3fd_ms / 1000
    every_frame = without_detect + frames * s3fd_ms / 1000
    kind = args.s3fd_weights.name if args.s3fd_weights else "random weights"
    rows = [f"| detector | ms per 720p frame | pipeline fps, detection every {face_scan.DETECT_EVERY} frames | "
            "pipeline fps, every frame (as the original) | how |", "| --- | --- | --- | --- | --- |",
            f"| haar | {haar_ms:.1f} | {frames / wall:.1f} | | measured |",
            f"| s3fd ({kind}, 0.25 scale) | {s3fd_ms:.1f} | {frames / every_n:.1f} | "
            f"{frames / every_frame:.1f} | projected from the measured stages |"]
    if args.s3fd_weights:
        with s3fd_installed(args.s3fd_weights, args.work / "data"):
            options = AnalysisOptions(weights=oracle, detector="s3fd")
            s3fd_wall, s3fd_stages, s3fd_result = run_pipeline(clip, options, args.repeat, S3FDDetector)
        rows.append(f"| s3fd ({kind}, 0.25 scale) | {1000 * s3fd_stages.get('detect', 0.0) / checked:.1f} | "
                    f"{frames / s3fd_wall:.1f} | | measured: {len(s3fd_result.tracks)} tracks, clip offset "
                    f"{s3fd_result.offset_frames:+d} frames |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--s3fd-weights", type=Path, help="the published sfd_face.pth, if you have it")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "syncdesk-bench-faces")
    args = parser.parse_args()
    compile_package()
    args.work.mkdir(parents=True, exist_ok=True)
    weights = save_oracle(args.work / "oracle.model")
    clip = args.work / f"two-faces-720p-{args.seconds:g}s.mp4"
    if not clip.exists():
        compose(clip, args.seconds)
    options = AnalysisOptions(weights=weights, detector="haar")
    pipeline.analyze(clip, options)  # warm-up: model load, caches

    frames, decode_s = decode_only(clip)
    wall, stages, result = run_pipeline(clip, options, args.repeat)
    stage_sum = sum(stages.values())
    lines = [f"# Face pipeline benchmark: 720p, two faces, {args.seconds:g} s ({frames} frames at 25 fps)", "",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads; bundled detector (haar), detection every "
             f"{face_scan.DETECT_EVERY} frames, fast mode; median of {args.repeat}.", "",
             f"- whole pipeline: **{wall:.2f} s = {frames / wall:.1f} fps** ({frames / wall / 25:.2f}x real time)",
             f"- tracks {len(result.tracks)}, clip offset {result.offset_frames:+d} frames, verdict from tracks "
             f"{result.verdict_tracks}", "",
             "| stage | seconds | ms per frame |", "| --- | --- | --- |",
             f"| decode (alone, one pass; the pipeline decodes twice, in a thread) | {decode_s:.2f} | "
             f"{1000 * decode_s / frames:.2f} |"]
    for stage in ("shots", "detect", "track", "crop", "embed"):
        seconds = stages.get(stage, 0.0)
        lines.append(f"| {stage} | {seconds:.2f} | {1000 * seconds / frames:.2f} |")
    lines += [f"| other (waiting for frames, audio, scoring) | {wall - stage_sum:.2f} | "
              f"{1000 * (wall - stage_sum) / frames:.2f} |", ""]

    lines += ["## Detectors", ""]
    lines += s3fd_rows(clip, weights, args, wall, stages, frames)
    lines += ["", "## Detection every N frames", ""]
    lines += every_n_study(clip, options, [1, 5, 10])

    long_clip = args.work / f"two-faces-720p-{4 * args.seconds:g}s.mp4"
    if not long_clip.exists():
        compose(long_clip, 4 * args.seconds)
    command = [sys.executable, "-m", "syncdesk", "analyze", "--weights", str(weights), "--detector", "haar", "--quiet"]
    short = measure([*command, str(clip)], cwd=REPO_ROOT, log_dir=args.work)
    long = measure([*command, str(long_clip)], cwd=REPO_ROOT, log_dir=args.work)
    lines += ["", "## Memory (fresh process, peak RSS)", "",
              f"- {args.seconds:g} s: {short.peak_rss_mib:.0f} MiB; {4 * args.seconds:g} s: {long.peak_rss_mib:.0f} MiB "
              f"(ratio {long.peak_rss_mib / short.peak_rss_mib:.2f})"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
