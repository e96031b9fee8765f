"""``syncdesk analyze VIDEO``: measure the offset, print a summary, optionally write the JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core import (DEFAULT_TOLERANCE, DETECTORS, DEVICES, FRAME_MS, MIN_FACE_RANGE, MIN_TRACK_RANGE, PRECISIONS,
                   TOLERANCES, VSHIFT_RANGE, Analysis, AnalysisOptions, SyncdeskError, SyncOverTime, Tolerance,
                   describe_tolerance, direction, judge_tolerance, parse_tolerance, save_analysis, verdict)
from . import argtypes
from .argtypes import number_between
from .progress import StageBar



def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """The options ``analyze``, ``fix``, ``batch`` and ``gui`` share (contract.md)."""
    group = parser.add_argument_group("analysis options")
    default = AnalysisOptions()
    group.add_argument("--weights", type=Path, metavar="SYNCNET.model",
                       help="SyncNet state_dict file (default: the model manager's copy)")
    group.add_argument("--detector", default=default.detector, choices=DETECTORS,
                       help="how faces are found (default auto: s3fd when its weights are downloaded, else the "
                            "bundled haar); whole-frame treats each frame as one face crop")
    group.add_argument("--s3fd-weights", type=Path, metavar="sfd_face.pth",
                       help="S3FD state_dict file (default: the model manager's copy); --detector auto then uses S3FD")
    group.add_argument("--device", default=default.device, choices=DEVICES,
                       help="compute device (auto: CUDA, else Apple MPS, else CPU)")
    group.add_argument("--vshift", type=number_between(int, *VSHIFT_RANGE, "a whole number of frames"),
                       default=default.vshift, metavar="FRAMES",
                       help="largest offset searched, in frames either way (default "
                            f"{default.vshift} = {default.vshift * FRAME_MS / 1000:g} s)")
    group.add_argument("--min-track", type=number_between(int, *MIN_TRACK_RANGE, "a whole number of frames"),
                       default=default.min_track, metavar="FRAMES",
                       help=f"shortest face track kept (default {default.min_track})")
    group.add_argument("--min-face-size", type=number_between(int, *MIN_FACE_RANGE, "a whole number of pixels"),
                       default=default.min_face_size, metavar="PX",
                       help=f"smallest mean face size kept (default {default.min_face_size})")
    group.add_argument("--exact", action="store_true",
                       help="score every window in float32 exactly as the published demo (slower)")
    group.add_argument("--precision", default=default.precision, choices=PRECISIONS,
                       help="fast mode's arithmetic, for SyncNet and S3FD (auto: bfloat16 where the CPU "
                            "computes it natively, else float32; bfloat16 is for CPUs); --exact is always float32")


def add_tolerance_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--tolerance`` (contract.md, "Tolerances"), for the commands that judge against one."""
    standards = ", ".join(f"{t.name} (+{t.lead_ms:g}/-{t.lag_ms:g} ms)" for t in TOLERANCES.values())
    parser.add_argument("--tolerance", type=argtypes.tolerance, metavar="T",
                        help=f"{what} against a broadcast tolerance for the audio's lead: {standards}, or "
                             "LEAD/LAG in ms (e.g. 20/30)")


def tolerance_from(args: argparse.Namespace) -> Tolerance:
    """The tolerance given, else the one reports and markers use by default."""
    return args.tolerance or parse_tolerance(DEFAULT_TOLERANCE)


def options_from(args: argparse.Namespace) -> AnalysisOptions:
    if args.exact and args.precision == "bfloat16":
        raise SyncdeskError("--exact computes in float32: it cannot be combined with --precision bfloat16")
    return AnalysisOptions(
        weights=args.weights,
        detector=args.detector,
        s3fd_weights=args.s3fd_weights,
        device=args.device,
        vshift=args.vshift,
        min_track=args.min_track,
        min_face_size=args.min_face_size,
        exact=args.exact,
        precision=args.precision,
        save_dists=getattr(args, "save_dists", False),
    )


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("analyze", help="measure the audio-video offset of a video",
                                 description="Measure the lip-sync offset of VIDEO and print a summary.")
    parser.add_argument("video", type=Path, metavar="VIDEO")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the Analysis document here")
    parser.add_argument("--save-dists", action="store_true",
                        help="include the full distance matrix (windows x shifts) in the JSON")
    parser.add_argument("--annotate", type=Path, metavar="OUT.mp4",
                        help="also write a review video: a box per face track, the active speaker highlighted, "
                             "each track's confidence, the clip's sound")
    parser.add_argument("--report", type=Path, metavar="OUT.html|OUT.pdf",
                        help="also write a QC report: the verdict against the tolerance, the offset over time, "
                             "the tracks, the file's technical facts and how to reproduce the result")
    parser.add_argument("--markers", type=Path, metavar="OUT.otio|edl|fcpxml|csv",
                        help="also write a marker per out-of-tolerance stretch or slip, for an editing program "
                             "(timecodes at the file's own rate and start timecode)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing --json / --annotate / --report / --markers files (refused otherwise)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--server", metavar="URL",
                        help="send VIDEO to a syncdesk server (syncdesk serve) and print its result as a local run "
                             "would; the token from --token-file or the environment variable SYNCDESK_TOKEN")
    parser.add_argument("--token-file", type=Path, metavar="FILE", help="with --server: the file holding its token")
    add_tolerance_option(parser, f"judge the file (default for --report and --markers: {DEFAULT_TOLERANCE})")
    add_analysis_options(parser)
    parser.set_defaults(run=run, engine="syncdesk.core.analysis")


def _clock(frame: int, fps: int) -> str:
    seconds = frame / fps
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _hms(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def over_time_line(sync: SyncOverTime) -> str:
    """The model of the file's sync in words, e.g. ``drifting +42 ms/min (from -20 ms at ...)``."""
    if sync.model == "constant":
        return f"constant ({sync.segments[0].offset_ms:+.0f} ms)"
    if sync.model == "drift":
        line = sync.segments[0]
        return (f"drifting {sync.drift_ms_per_min:+.0f} ms/min (from {line.offset_ms:+.0f} ms at {_hms(line.start_s)} "
                f"to {line.end_offset_ms:+.0f} ms at {_hms(line.end_s)})")
    if sync.model == "steps":
        pieces = ", ".join(f"{_hms(s.start_s)}-{_hms(s.end_s)} {s.offset_ms:+.0f} ms" for s in sync.segments)
        return f"{len(sync.segments)} segments: {pieces}"
    measured = sum(1 for p in sync.points if p.offset_ms is not None)
    return (f"unknown (too little evidence: {measured} of {len(sync.points)} windows of {sync.window_s:g} s "
            "measured an offset, too few of them confidently)")


def summary(analysis: Analysis) -> str:
    name = Path(analysis.source.path).name
    fps = analysis.source.analysis_fps
    lines = [f"{name}: {direction(analysis.offset_ms)}"]
    if analysis.verdict_source == "no-confident-speaker":
        lines[0] = f"{name}: no confident speaker: the offset is not measured"
    else:
        sign = "+" if analysis.offset_frames > 0 else ""
        lines += [
            f"  AV offset   {sign}{analysis.offset_frames} frames ({analysis.offset_ms:+.0f} ms sub-frame estimate)",
            f"  min dist    {analysis.min_dist:.3f}",
            f"  confidence  {analysis.confidence:.3f}",
            f"  verdict     {verdict(analysis.offset_frames, analysis.offset_ms, analysis.confidence, analysis.tier_cap)}",
        ]
        if analysis.verdict_source == "speaking-tracks":
            used = ", ".join(str(t) for t in analysis.verdict_tracks)
            lines.append(f"  from        speaking track{'s' if len(analysis.verdict_tracks) > 1 else ''} {used}")
    if analysis.sync_over_time is not None:
        lines.append(f"  sync over time: {over_time_line(analysis.sync_over_time)}")
    for track in analysis.tracks:
        frames = track.end_frame - track.start_frame + 1
        lines.append(
            f"  track {track.id:<4}  {_clock(track.start_frame, fps)}-{_clock(track.end_frame + 1, fps)}, "
            f"offset {track.offset_frames:+d}, confidence {track.confidence:.2f}, "
            f"speaking {100 * track.speaking_frames / max(frames, 1):.0f}% of its frames"
        )
    source = analysis.source
    if source.video_codec:  # recorded since issue 20
        rate = f"{source.fps:.3f}".rstrip("0").rstrip(".") + " fps" + (" (variable)" if source.variable_frame_rate else "")
        sound = f"; {source.audio_codec} {source.audio_rate} Hz" if source.audio_codec else ""
        late = source.video_start_s - (source.audio_start_s or 0.0)
        starts = (f"; video starts {abs(late):.2f} s {'after' if late > 0 else 'before'} the audio (allowed for)"
                  if abs(late) >= 0.005 else "")
        lines.append(f"  file        {source.video_codec} {source.width}x{source.height}, {rate}, "
                     f"{source.file_frames} frames{sound}{starts}")
    engine = analysis.engine
    arithmetic = "" if engine.precision == "float32" else f" ({engine.precision})"
    lines.append(f"  engine      {engine.detector} faces, {engine.mode} mode{arithmetic} on {engine.device}, "
                 f"{analysis.timings.get('total', 0):.1f} s")
    if analysis.tolerance is not None:
        lines.append(f"  tolerance   {describe_tolerance(analysis.tolerance)}")
    lines.extend(f"  note        {warning}" for warning in analysis.warnings)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..core import AnalysisCache, analyze_cached  # imports torch: not needed for --help

    # the output checks run before a long analysis, not after it
    if args.json and args.json.exists() and not args.overwrite:
        raise SyncdeskError(f"{args.json} already exists: pass --overwrite to replace it")
    if args.report:
        from ..core.report import check_report_output

        check_report_output(args.report, args.overwrite)
    if args.markers:
        from ..core.markers import check_markers_output

        check_markers_output(args.markers, args.overwrite)
    if args.annotate:
        from ..core import check_review_output

        check_review_output(args.video, args.annotate, args.overwrite)
    if args.token_file and not args.server:
        print("syncdesk analyze: error: --token-file goes with --server (see syncdesk analyze --help)", file=sys.stderr)
        return 2
    with StageBar(quiet=args.quiet) as bar:
        if args.server:  # the same engine on another machine: its document, printed and written as below
            from ..server.client import analyze_remote

            analysis = analyze_remote(args.server, args.video, options_from(args), args.token_file, progress=bar)
        else:
            # always measured afresh (a user re-running analyze wants a new measurement, and benchmarks time
            # it), then stored, so that fix --auto and the app reuse it
            analysis, _ = analyze_cached(args.video, options_from(args), AnalysisCache(), reuse=False, progress=bar)
    if args.tolerance or args.report or args.markers:
        analysis.tolerance = judge_tolerance(analysis, tolerance_from(args))
    print(summary(analysis))
    if args.json:
        save_analysis(analysis, args.json)
        print(f"  wrote       {args.json}")
    if args.annotate:
        from ..core import write_review

        with StageBar(quiet=args.quiet) as bar:
            write_review(args.video, analysis, args.annotate, overwrite=args.overwrite, progress=bar)
        print(f"  wrote       {args.annotate}")
    if args.report:
        from ..core.report import write_report

        write_report(analysis, args.report, tolerance_from(args), overwrite=args.overwrite)
        print(f"  wrote       {args.report}")
    if args.markers:
        from ..core.markers import write_markers

        count = len(write_markers(analysis, args.markers, tolerance_from(args), overwrite=args.overwrite))
        print(f"  wrote       {args.markers} ({count} marker{'' if count == 1 else 's'})")
    return 0
