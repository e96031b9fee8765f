"""``syncdesk fix VIDEO -o OUT``: write a copy with the audio shifted back in sync, video copied.

One offset (``--offset-ms``, ``--offset-frames``), or the analysis's sync over time (``--auto``:
a drift resampled away, steps shifted one segment at a time), or a segment list (``--segments``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import AUTO_FIX_PRESET, FRAME_MS, describe_tolerance, direction
from .analyze import add_analysis_options, add_tolerance_option, options_from
from .progress import StageBar

if TYPE_CHECKING:
    from ..core.export import AutoFix

MAX_OFFSET_MS = 60_000  # a minute: beyond that it is a typo, not a lip-sync offset


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_OFFSET_MS:
        raise argparse.ArgumentTypeError(f"offset out of range: {text!r}")
    return value


def _frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of frames: {text!r}") from None
    if abs(value * FRAME_MS) > MAX_OFFSET_MS:
        raise argparse.ArgumentTypeError(f"offset out of range: {text!r}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fix", help="write a copy with the audio shifted back in sync",
        description=("Write OUT: VIDEO with its audio shifted and the video stream copied bit for bit. "
                     "Sign: a positive offset means the audio leads (is heard early), so it is delayed; "
                     "a negative offset advances it."),
    )
    parser.add_argument("video", type=Path, metavar="VIDEO")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="the corrected file (its suffix picks the container)")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--offset-ms", type=_milliseconds, metavar="MS",
                     help="offset to remove in milliseconds (positive: the audio leads and is delayed)")
    how.add_argument("--offset-frames", type=_frames, metavar="N",
                     help=f"offset to remove in analysis frames of {FRAME_MS:.0f} ms")
    how.add_argument("--auto", action="store_true",
                     help=f"analyse VIDEO first and apply its verdict (needs confidence >= "
                          f"{AUTO_FIX_PRESET.min_confidence:g}, the {AUTO_FIX_PRESET.name!r} preset, unless --force); "
                          f"a drift or steps found over time are corrected along the file")
    how.add_argument("--segments", type=Path, metavar="FILE.json",
                     help="apply an edited segment list: a JSON list of {start_s, end_s, offset_ms[, end_offset_ms]} "
                          "or an object with a \"segments\" array (an analysis document or its sync_over_time); "
                          "end_offset_ms makes a segment a drift line")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--lossless", action="store_true",
                        help="mp4/mov only: shift with an edit list instead of re-encoding the audio "
                             "(players that ignore edit lists play it unshifted)")
    parser.add_argument("--all-audio", action="store_true",
                        help="shift every audio track (default: only the first, the one analysed)")
    parser.add_argument("--force", action="store_true",
                        help="apply a low-confidence --auto verdict, or write a copy when the offset is 0")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tolerance_option(parser, "with --auto, correct only a file that is outside")
    add_analysis_options(parser)
    parser.set_defaults(run=run)


def _auto_fix(args: argparse.Namespace, bar: StageBar) -> AutoFix:
    """Analyse (or take the cached analysis), say what was found, and what --auto applies."""
    from ..core import AnalysisCache, analyze_cached  # imports torch: not needed for --help or a manual offset
    from ..core.export import plan_auto_fix

    analysis, cached = analyze_cached(args.video, options_from(args), AnalysisCache(), progress=bar)
    bar.close()
    sign = "+" if analysis.offset_frames > 0 else ""
    print(f"analysis{' (loaded from cache: same file and settings)' if cached else ''}: "
          f"{direction(analysis.offset_ms)} ({sign}{analysis.offset_frames} frames, "
          f"confidence {analysis.confidence:.2f})")
    if analysis.sync_over_time is not None and analysis.sync_over_time.model in ("drift", "steps"):
        print(f"sync over time: {analysis.sync_over_time.model}")
    plan = plan_auto_fix(analysis, args.force, args.tolerance, args.lossless)
    if plan.judged is not None:
        print(f"tolerance: {describe_tolerance(plan.judged)}")
    return plan


def run(args: argparse.Namespace) -> int:
    # the writer: not needed to build the parser (start-up of every command)
    from ..core import correct_audio, preflight, shift_audio
    from ..core.export import IN_SYNC, load_segments, refuse_lossless

    if args.tolerance is not None and not args.auto:
        print("syncdesk fix: error: --tolerance only applies to --auto (see syncdesk fix --help)", file=sys.stderr)
        return 2
    # refuse a bad output or segment list before a long analysis
    preflight(args.video, args.output, overwrite=args.overwrite, lossless=args.lossless)
    over_time = load_segments(args.segments) if args.segments is not None else None
    with StageBar(quiet=args.quiet) as bar:
        offset_ms, skip = 0.0, None
        if over_time is not None and over_time.model == "constant":  # one offset: as if given with --offset-ms
            offset_ms, over_time = float(over_time.segments[0].offset_ms or 0.0), None
        elif args.auto:
            plan = _auto_fix(args, bar)
            offset_ms, over_time, skip = plan.offset_ms or 0.0, plan.over_time, plan.skip
        elif over_time is None:
            offset_ms = args.offset_ms if args.offset_ms is not None else args.offset_frames * FRAME_MS
        if over_time is None and offset_ms == 0 and not args.auto:
            skip = IN_SYNC
        if skip and not args.force:
            print(f"{skip} (pass --force to write a copy anyway)")
            return 0
        if over_time is not None:
            if args.lossless:
                refuse_lossless(over_time)
            result = correct_audio(args.video, args.output, over_time, overwrite=args.overwrite,
                                   all_audio=args.all_audio, progress=bar)
        else:
            result = shift_audio(args.video, args.output, offset_ms, lossless=args.lossless,
                                 overwrite=args.overwrite, all_audio=args.all_audio, progress=bar)
    print(result.describe())
    for detail in result.details():
        print(f"  {detail}")
    if result.note:
        print(f"syncdesk: note: {result.note}", file=sys.stderr)
    for dropped in result.dropped:
        print(f"syncdesk: note: not copied, {dropped}", file=sys.stderr)
    return 0
