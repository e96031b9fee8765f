"""Does the default (fast) mode keep the verdict of --exact? Run both on the same clips and compare.

Synthetic sweep (default): oracle weights (tests/oracle.py) on flashing clips with a known shift,
where a share of the frames disagrees with the sound (0 % = clean lips, 45 % = barely any evidence),
lengths 4-30 s. With ``--folder DIR --weights syncnet_v2.model`` it compares the two modes on real
clips instead (no ground truth: agreement only).

    python bench/verdict_agreement.py --clips 60 --out bench/verdict_agreement.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncdesk.core.analysis import AnalysisOptions, analyze  # noqa: E402
from syncdesk.core.errors import SyncdeskError  # noqa: E402
from syncdesk.core.quality import PRESETS  # noqa: E402
from tests.oracle import flash_pattern, make_flash_clip, save_oracle  # noqa: E402

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mts"}


@dataclass
class Row:
    name: str
    truth: Optional[int]
    noise: Optional[float]
    exact: int
    exact_conf: float
    fast: dict[str, int]  # variant label ("stride 5, bfloat16") -> offset


def _ok(value: int, truth: Optional[int]) -> int:
    return int(truth is not None and value == truth)


def synthetic_clips(folder: Path, count: int, seed: int) -> list[tuple[Path, int, float]]:
    rng = np.random.default_rng(seed)
    clips = []
    for index in range(count):
        shift = int(rng.integers(-12, 13))
        seconds = float(rng.uniform(4, 30))
        noise = float(rng.choice([0.0, 0.15, 0.3, 0.4, 0.45]))
        slots = int(seconds * 25) + 2
        sound = flash_pattern(slots, seed=1000 + index)
        picture = np.where(rng.random(slots) < noise, rng.random(slots) < 0.35, sound)
        path = make_flash_clip(folder / f"clip{index:03d}.avi", seconds=seconds, audio_lead_s=shift * 0.04,
                               pattern=sound, video_pattern=picture, seed=index)
        clips.append((path, shift, noise))
    return clips


def variants(strides: list[int], precisions: list[str]) -> dict[str, tuple[int, str]]:
    """Fast-mode settings to compare, by label."""
    return {f"stride {s}, {p}": (s, p) for s in strides for p in precisions}


def compare(path: Path, weights: Path, fast_modes: dict[str, tuple[int, str]]) -> tuple[int, float, dict[str, int]]:
    exact = analyze(path, AnalysisOptions(detector="whole-frame", weights=weights, exact=True))
    fast = {label: analyze(path, AnalysisOptions(detector="whole-frame", weights=weights, fast_stride=stride,
                                                 precision=precision)).offset_frames
            for label, (stride, precision) in fast_modes.items()}
    return exact.offset_frames, exact.confidence, fast


def table(rows: list[Row], fast_modes: dict[str, tuple[int, str]]) -> str:
    labels = list(fast_modes)
    head = " | ".join(f"{label}: == exact / correct" for label in labels)
    lines = [f"| evidence (frames disagreeing) | clips | median conf (exact) | exact correct | {head} |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in labels) + " |"]
    for noise in sorted({row.noise for row in rows}, key=lambda n: (n is None, n)):
        group = [row for row in rows if row.noise == noise]
        label = "real clips" if noise is None else f"{noise:.0%}"
        cells = [f"{sum(r.fast[v] == r.exact for r in group)} / {sum(_ok(r.fast[v], r.truth) for r in group)}"
                 for v in labels]
        lines.append(f"| {label} | {len(group)} | {np.median([r.exact_conf for r in group]):.2f} | "
                     f"{sum(_ok(r.exact, r.truth) for r in group)} | " + " | ".join(cells) + " |")
    relaxed = PRESETS["relaxed"].min_confidence
    confident = [row for row in rows if row.exact_conf >= relaxed]
    lines.append("")
    for label in labels:
        agree = sum(row.fast[label] == row.exact for row in confident)
        lines.append(f"- {label}: on the {len(confident)} clips whose exact confidence is at least {relaxed} "
                     f"(relaxed preset), fast == exact on {agree}.")
    for label, (stride, precision) in fast_modes.items():
        first = next(other for other, (s, _) in fast_modes.items() if s == stride)
        if label != first:
            same = sum(row.fast[label] == row.fast[first] for row in rows)
            lines.append(f"- stride {stride}: {precision}'s offset equals {fast_modes[first][1]}'s on {same} of "
                         f"{len(rows)} clips.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=60, help="synthetic clips to make (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, help="compare on the videos in this folder instead")
    parser.add_argument("--weights", type=Path, help="SyncNet weights for --folder (default: oracle weights)")
    parser.add_argument("--strides", type=int, nargs="+", default=[5, 10], help="fast-mode strides to compare")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"],
                        help="fast-mode arithmetic to compare (default both)")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()

    fast_modes = variants(args.strides, args.precisions)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="syncdesk-verdict-") as temporary:
        folder = Path(temporary)
        if args.folder:
            weights = args.weights or save_oracle(folder / "oracle.model")
            clips = [(p, None, None) for p in sorted(args.folder.rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES]
        else:
            weights = save_oracle(folder / "oracle.model")
            clips = synthetic_clips(folder, args.clips, args.seed)
        for path, truth, noise in clips:
            try:
                exact, exact_conf, fast = compare(path, weights, fast_modes)
            except SyncdeskError as exc:
                print(f"{path.name}: skipped ({exc})", file=sys.stderr)
                continue
            rows.append(Row(path.name, truth, noise, exact, exact_conf, fast))
            print(f"{path.name}: truth {truth} exact {exact} ({exact_conf:.2f}) fast {fast}", file=sys.stderr)
    report = table(rows, fast_modes)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
