"""Benchmark ``syncdesk analyze --detector whole-frame`` against the original SyncNet demo.

Same machine, same weights, same thread count, each run a fresh process:

1. ``example.avi``: wall time and peak RSS (process tree) of the original demo's evaluation
   (``run_original.py`` on a ``joonson/syncnet_python`` checkout given by ``--original``), of
   ``syncdesk analyze --exact`` and of ``syncdesk analyze`` (fast, the default); medians of
   ``--repeat`` runs, interleaved.
2. Peak RSS of ``syncdesk analyze`` on a 30-second and a 5-minute clip made by looping the sample.

Writes a Markdown report to ``--out`` and prints it. Run from anywhere::

    python bench/bench_analyze.py --original /path/to/syncnet_python
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from measure import Measurement, compile_package, measure

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "example.avi"
RESULT_PREFIX = "BENCH_RESULT "

# Targets from the issue.
EXACT_SPEEDUP_TARGET = 1.5
FAST_SPEEDUP_TARGET = 5.0
RSS_FRACTION_TARGET = 0.5
LONG_RSS_RATIO_TARGET = 1.25


@dataclass(frozen=True)
class Verdict:
    offset: Optional[int]
    min_dist: Optional[float]
    confidence: Optional[float]

    def cells(self) -> List[str]:
        return [
            "–" if self.offset is None else str(self.offset),
            "–" if self.min_dist is None else f"{self.min_dist:.3f}",
            "–" if self.confidence is None else f"{self.confidence:.3f}",
        ]


@dataclass
class Row:
    """One benchmarked command: its runs, and what the runs reported."""

    label: str
    runs: List[Measurement] = field(default_factory=list)
    in_process_s: List[float] = field(default_factory=list)
    verdict: Optional[Verdict] = None
    error: Optional[str] = None
    precision: Optional[str] = None  # the arithmetic the document says it used (syncdesk only)

    @property
    def wall_s(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return statistics.median(run.peak_rss_mib for run in self.runs)


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class Setup:
    python: str
    original: Path
    weights: Path
    threads: int

    def env(self, data_dir: Optional[Path] = None) -> Dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(self.threads)
        if data_dir is not None:
            env["SYNCDESK_DATA_DIR"] = str(data_dir)  # fresh per run: no cache hits, no user data
        return env


def original_command(setup: Setup, video: Path) -> List[str]:
    return [
        setup.python, str(BENCH_DIR / "run_original.py"),
        "--original", str(setup.original),
        "--weights", str(setup.weights),
        "--video", str(video),
        "--threads", str(setup.threads),
    ]  # fmt: skip


def syncdesk_command(setup: Setup, video: Path, json_out: Path, exact: bool) -> List[str]:
    command = [
        setup.python, "-m", "syncdesk", "analyze", str(video),
        "--detector", "whole-frame",
        "--device", "cpu",
        "--weights", str(setup.weights),
        "--quiet",
        "--json", str(json_out),
    ]  # fmt: skip
    return command + (["--exact"] if exact else [])


# ---------------------------------------------------------------- one run each


def _fail(row: Row, run: Measurement) -> None:
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output on stderr"
    row.error = f"exit {run.returncode}: {last}".replace("|", "\\|")


def _search_number(pattern: str, text: str) -> Optional[float]:
    found = re.findall(pattern, text)
    return float(found[-1]) if found else None


def parse_original_output(stdout: str) -> tuple[Verdict, Optional[float]]:
    """The demo's printed verdict, and load + evaluate seconds from our runner's line."""
    offset = _search_number(r"AV offset:\s*(-?\d+)", stdout)
    verdict = Verdict(
        offset=None if offset is None else int(offset),
        min_dist=_search_number(r"Min dist:\s*(-?[\d.]+)", stdout),
        confidence=_search_number(r"Confidence:\s*(-?[\d.]+)", stdout),
    )
    in_process = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            timings = json.loads(line[len(RESULT_PREFIX) :])
            in_process = timings["load_s"] + timings["evaluate_s"]
    return verdict, in_process


def parse_analysis(document: dict) -> tuple[Verdict, Optional[float]]:
    """The clip's verdict from an Analysis document, and its summed stage timings."""
    verdict = Verdict(
        offset=document.get("offset_frames"),
        min_dist=document.get("min_dist"),
        confidence=document.get("confidence"),
    )
    timings = document.get("timings") or {}
    in_process = timings.get("total")
    if in_process is None and timings:
        in_process = sum(float(value) for value in timings.values())
    return verdict, in_process


def run_original_once(setup: Setup, video: Path, row: Row, log_dir: Path) -> None:
    run = measure(original_command(setup, video), cwd=log_dir, env=setup.env(), log_dir=log_dir)
    if run.returncode != 0:
        return _fail(row, run)
    verdict, in_process = parse_original_output(run.stdout)
    _record(row, run, verdict, in_process)


def run_syncdesk_once(setup: Setup, video: Path, exact: bool, row: Row, log_dir: Path) -> None:
    json_out = log_dir / "analysis.json"
    command = syncdesk_command(setup, video, json_out, exact)
    env = setup.env(data_dir=log_dir / "data")
    run = measure(command, cwd=REPO_ROOT, env=env, log_dir=log_dir)
    if run.returncode != 0:
        return _fail(row, run)
    document = json.loads(json_out.read_text())
    row.precision = (document.get("engine") or {}).get("precision")
    verdict, in_process = parse_analysis(document)
    _record(row, run, verdict, in_process)


def _record(row: Row, run: Measurement, verdict: Verdict, in_process: Optional[float]) -> None:
    if row.verdict is not None and verdict != row.verdict:
        print(f"warning: {row.label}: verdict changed between runs: {row.verdict} -> {verdict}",
              file=sys.stderr)  # fmt: skip
    row.runs.append(run)
    row.verdict = verdict
    if in_process is not None:
        row.in_process_s.append(in_process)


Runner = Callable[[Row, Path], None]


def run_interleaved(plan: Sequence[tuple[Row, Runner]], repeat: int, warmup: int, logs: Path) -> None:
    """Run every command ``warmup`` times untimed, then ``repeat`` times, round-robin."""
    for round_index in range(warmup + repeat):
        for row, runner in plan:
            if row.error:
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", row.label.lower()).strip("-")
            log_dir = logs / f"{slug}-{round_index}"
            if round_index < warmup:
                runner(Row(row.label), log_dir)
                continue
            runner(row, log_dir)
            status = row.error or f"{row.runs[-1].wall_s:.2f} s, {row.runs[-1].peak_rss_mib:.0f} MiB"
            print(f"  {row.label} #{round_index - warmup + 1}: {status}", file=sys.stderr)


# ---------------------------------------------------------------- inputs


def ensure_weights(setup_python: str, path: Path, seed: int) -> Path:
    if not path.exists():
        command = [setup_python, str(BENCH_DIR / "make_weights.py"), str(path), "--seed", str(seed)]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ensure_looped_clip(source: Path, seconds: int, dest: Path) -> Path:
    """``source`` repeated to ``seconds`` (video and audio, 25 fps kept), cached at ``dest``."""
    if dest.exists():
        return dest
    partial = dest.with_name("partial-" + dest.name)
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
        "-map", "0:v:0", "-map", "0:a:0", "-r", "25",
        "-c:v", "mpeg4", "-q:v", "3", "-c:a", "pcm_s16le",
        str(partial),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    partial.replace(dest)
    return dest


def sha256_prefix(path: Path, length: int = 12) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


# ---------------------------------------------------------------- report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def example_table(original: Row, rows: Sequence[Row]) -> str:
    header = ["run", "wall s (median)", "speed-up", "in-process s", "peak RSS MiB", "RSS vs original",
              "AV offset", "min dist", "confidence"]  # fmt: skip
    body = []
    for row in [original, *rows]:
        if row.error or not row.runs:
            body.append([row.label, f"failed: {row.error}"] + [""] * (len(header) - 2))
            continue
        speedup = rss_ratio = "–"
        if original.runs:
            speedup = f"{original.wall_s / row.wall_s:.2f}x"
            rss_ratio = f"{row.peak_rss_mib / original.peak_rss_mib:.2f}"
        in_process = f"{statistics.median(row.in_process_s):.2f}" if row.in_process_s else "–"
        verdict = (row.verdict or Verdict(None, None, None)).cells()
        label = f"{row.label} ({row.precision})" if row.precision else row.label
        body.append([label, f"{row.wall_s:.2f}", speedup, in_process,
                     f"{row.peak_rss_mib:.0f}", rss_ratio, *verdict])  # fmt: skip
    return _table(header, body)


def long_table(pairs: Sequence[tuple[str, Row, Row]]) -> str:
    header = ["mode", "30 s: wall s", "30 s: peak RSS MiB", "5 min: wall s", "5 min: peak RSS MiB",
              "RSS ratio 5 min / 30 s"]  # fmt: skip
    body = []
    for mode, short, long in pairs:
        if short.error or long.error or not short.runs or not long.runs:
            body.append([mode, f"failed: {short.error or long.error}", "", "", "", ""])
            continue
        body.append([mode, f"{short.wall_s:.2f}", f"{short.peak_rss_mib:.0f}", f"{long.wall_s:.2f}",
                     f"{long.peak_rss_mib:.0f}", f"{long.peak_rss_mib / short.peak_rss_mib:.2f}"])  # fmt: skip
    return _table(header, body)


def targets_table(original: Row, exact: Row, fast: Row, longs: Sequence[tuple[str, Row, Row]]) -> str:
    def ok(*rows: Row) -> bool:
        return all(row.runs and not row.error for row in rows)

    body = []
    if ok(original, exact):
        speedup = original.wall_s / exact.wall_s
        body.append([f"exact >= {EXACT_SPEEDUP_TARGET}x faster", f"{speedup:.2f}x",
                     _met(speedup >= EXACT_SPEEDUP_TARGET)])  # fmt: skip
    if ok(original, fast):
        speedup = original.wall_s / fast.wall_s
        body.append([f"fast >= {FAST_SPEEDUP_TARGET}x faster", f"{speedup:.2f}x",
                     _met(speedup >= FAST_SPEEDUP_TARGET)])  # fmt: skip
    for row in (exact, fast):
        if ok(original, row):
            fraction = row.peak_rss_mib / original.peak_rss_mib
            body.append([f"{row.label}: peak RSS <= {RSS_FRACTION_TARGET} x original",
                         f"{fraction:.2f}", _met(fraction <= RSS_FRACTION_TARGET)])  # fmt: skip
    for mode, short, long in longs:
        if ok(short, long):
            ratio = long.peak_rss_mib / short.peak_rss_mib
            body.append([f"{mode}: 5 min RSS <= {LONG_RSS_RATIO_TARGET} x 30 s RSS", f"{ratio:.2f}",
                         _met(ratio <= LONG_RSS_RATIO_TARGET)])  # fmt: skip
    return _table(["target", "measured", "met"], body)


def machine_line(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, {threads} torch threads"


def render(args: argparse.Namespace, setup: Setup, video: Path, original: Row, exact: Row, fast: Row,
           longs: Sequence[tuple[str, Row, Row]]) -> str:  # fmt: skip
    parts = [
        "# syncdesk analyze vs the original SyncNet demo",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"- machine: {machine_line(setup.threads)}",
        f"- clip: `{video.name}` (sha256 {sha256_prefix(video)}…); weights: seeded random state_dict "
        f"(seed {args.seed}, sha256 {sha256_prefix(setup.weights)}…), the same file for both sides",
        "- original: joonson/syncnet_python `SyncNetInstance.evaluate` on CPU (batch 20, vshift 15), whole "
        "process incl. its ffmpeg JPEG/wav extraction; syncdesk: `python -m syncdesk analyze VIDEO "
        "--detector whole-frame --device cpu --weights W --quiet --json OUT [--exact]`",
        f"- each figure: median of {args.repeat} fresh processes after {args.warmup} warm-up run(s); "
        f"peak RSS of the process tree (children included)",
        "",
        f"## `{video.name}`",
        "",
        example_table(original, [exact, fast]),
        "",
        "in-process s: original = loadParameters + evaluate(); syncdesk = the Analysis document's timings.",
        "With random weights the verdicts are meaningless as lip-sync results; --exact must agree with "
        "the original. The fast mode scores every 5th window, so on random weights' nearly flat distance "
        "curves its offset may differ; its agreement with --exact is measured on clips with a real "
        "verdict in bench/verdict_agreement.md.",
    ]
    if longs:
        parts += ["", f"## Memory vs length (looped `{video.name}`, median of {args.long_repeat})", "",
                  long_table(longs)]  # fmt: skip
    parts += ["", "## Targets", "", targets_table(original, exact, fast, longs), ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- main


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="syncdesk analyze vs the original SyncNet demo.")
    parser.add_argument("--original", type=Path, required=True,
                        help="a checkout of joonson/syncnet_python (outside this repository)")  # fmt: skip
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="default: %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per command (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per command first")
    parser.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads for every run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--weights", type=Path, default=None,
                        help="use this state_dict instead of seeded random weights")  # fmt: skip
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "syncdesk-bench",
                        help="weights, looped clips and run logs (default: %(default)s)")  # fmt: skip
    parser.add_argument("--no-long", action="store_true", help="skip the 30 s vs 5 min memory runs")
    parser.add_argument("--long-exact", action="store_true", help="also measure --exact on long clips")
    parser.add_argument("--long-repeat", type=int, default=1, help="runs per long clip (median)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.md", help="default: %(default)s")
    parser.add_argument("--python", default=sys.executable, help="interpreter for every run")
    args = parser.parse_args(argv)
    if not (args.original / "SyncNetInstance.py").is_file():
        parser.error(f"--original {args.original}: no SyncNetInstance.py there")
    if not args.video.is_file():
        parser.error(f"--video {args.video}: not a file")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    compile_package()
    work_dir = args.work_dir.resolve()
    logs = Path(tempfile.mkdtemp(prefix="runs-", dir=_mkdir(work_dir)))
    weights = args.weights or ensure_weights(args.python, work_dir / f"random-seed{args.seed}.model", args.seed)
    setup = Setup(args.python, args.original.resolve(), weights.resolve(), args.threads)
    video = args.video.resolve()

    original, exact, fast = Row("original demo"), Row("syncdesk --exact"), Row("syncdesk (fast)")
    print(f"{video.name}: {args.warmup} warm-up + {args.repeat} runs each (logs: {logs})", file=sys.stderr)
    run_interleaved(
        [
            (original, partial(run_original_once, setup, video)),
            (exact, partial(run_syncdesk_once, setup, video, True)),
            (fast, partial(run_syncdesk_once, setup, video, False)),
        ],
        args.repeat, args.warmup, logs,
    )  # fmt: skip

    longs: List[tuple[str, Row, Row]] = []
    if not args.no_long:
        clips = {s: ensure_looped_clip(video, s, work_dir / f"loop-{s}s.avi") for s in (30, 300)}
        for mode, is_exact in [("fast", False)] + ([("exact", True)] if args.long_exact else []):
            short, long = Row(f"{mode} 30 s"), Row(f"{mode} 5 min")
            print(f"long clips, {mode}: {args.long_repeat} run(s) each", file=sys.stderr)
            run_interleaved(
                [
                    (short, partial(run_syncdesk_once, setup, clips[30], is_exact)),
                    (long, partial(run_syncdesk_once, setup, clips[300], is_exact)),
                ],
                args.long_repeat, 0, logs,
            )  # fmt: skip
            longs.append((mode, short, long))

    report = render(args, setup, video, original, exact, fast, longs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    failed = [row for row in (original, exact, fast) if row.error] + [
        row for _, short, long in longs for row in (short, long) if row.error
    ]
    return 1 if failed else 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
