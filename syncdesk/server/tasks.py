"""What a worker process does for one job: the same engine calls as ``analyze`` and ``fix``.

A task gets a spec (a plain dict the dispatcher built from the queued request: real paths, options,
where to write) and returns a small result dict for the queue; the Analysis document and the fixed
file are written into the job's folder (atomically, by the engine's own writers). A problem with
the file raises ``SyncdeskError`` with a message the client sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from ..core import (Analysis, AnalysisCache, CancelToken, SyncOverTime, analyze_cached, correct_audio,
                    describe_tolerance, direction, judge_tolerance, load_analysis, parse_tolerance, save_analysis,
                    shift_audio, verdict)
from ..core.batch.worker import summary as queue_summary
from ..core.export import Advice, plan_auto_fix
from ..core.progress import StageProgress, analysis_stages
from .config import options_from_dict

#: seconds between progress messages
PROGRESS_EVERY_S = 0.25
#: each stage's share of a job: (start, end)
_EXPORT_STAGES = {"exporting": (0.0, 0.9), "verifying": (0.9, 1.0)}

Send = Callable[[float, str], None]


def summary(analysis: Analysis, cached: bool) -> dict[str, Any]:
    """What the queue keeps of an analysis (the document is a file in the job's folder): what a batch
    job keeps, and the words and judgements a page or a log shows."""
    over_time = analysis.sync_over_time
    return {
        **queue_summary(analysis),
        # the words the command line prints
        "direction": direction(analysis.offset_ms),
        "verdict": verdict(analysis.offset_frames, analysis.offset_ms, analysis.confidence, analysis.tier_cap),
        "model": over_time.model if over_time is not None else None,
        "tolerance": analysis.tolerance.result if analysis.tolerance is not None else None,
        "tolerance_words": describe_tolerance(analysis.tolerance) if analysis.tolerance is not None else None,
        "warnings": list(analysis.warnings),
        "cached": cached,
    }


def _analyse(spec: dict[str, Any], progress: StageProgress, cancel: CancelToken) -> tuple[Analysis, bool]:
    options = options_from_dict(spec["options"])
    analysis, cached = analyze_cached(Path(spec["source"]), options, AnalysisCache(), progress=progress,
                                      cancel=cancel)
    analysis.source.path = spec["name"]  # the client's name for it, not the server's folders
    if spec.get("tolerance"):
        analysis.tolerance = judge_tolerance(analysis, parse_tolerance(spec["tolerance"]))
    return analysis, cached


def analyse(spec: dict[str, Any], send: Send, cancel: CancelToken) -> dict[str, Any]:
    detector = spec["options"]["detector"]
    analysis, cached = _analyse(spec, StageProgress(send, analysis_stages(detector), PROGRESS_EVERY_S), cancel)
    save_analysis(analysis, spec["document"])
    return summary(analysis, cached)


#: how a client overrides a refusal of ``auto``: the request's JSON fields
SERVER_ADVICE = Advice(force='send "force": true to apply it anyway', segments='or send an edited "segments" list',
                       lossless_asked='"lossless": true', lossless='send "lossless": false to re-encode the audio')


def auto_plan(analysis: Analysis, force: bool, tolerance: Optional[str], lossless: bool
              ) -> tuple[Optional[float], Optional[SyncOverTime], Optional[str]]:
    """What ``auto`` applies, decided as ``syncdesk fix --auto`` decides it (core's
    ``plan_auto_fix``): a constant offset, or the offset over time, or the reason nothing is written."""
    plan = plan_auto_fix(analysis, force, parse_tolerance(tolerance) if tolerance else None, lossless, SERVER_ADVICE)
    return plan.offset_ms, plan.over_time, plan.skip


def fix(spec: dict[str, Any], send: Send, cancel: CancelToken) -> dict[str, Any]:
    """Write the fixed copy: by ``offset_ms``, ``auto`` (analysing first, or from a finished
    analysis's document) or an edited ``segments`` list."""
    from ..core.export import load_segments

    source, output = Path(spec["source"]), Path(spec["output"])
    offset_ms: Optional[float] = spec.get("offset_ms")
    over_time: Optional[SyncOverTime] = None
    reason: Optional[str] = None
    analysed: Optional[dict[str, Any]] = None
    export_span = (0.0, 1.0)
    if spec["mode"] == "auto":
        if spec.get("analysis_document"):
            analysis, cached = load_analysis(spec["analysis_document"]), True
        else:
            detector = spec["options"]["detector"]
            progress = StageProgress(send, analysis_stages(detector), PROGRESS_EVERY_S, (0.0, 0.6))
            analysis, cached = _analyse(spec, progress, cancel)
            export_span = (0.6, 1.0)
        save_analysis(analysis, spec["document"])
        analysed = summary(analysis, cached)
        offset_ms, over_time, reason = auto_plan(analysis, spec.get("force", False), spec.get("tolerance"),
                                                 spec.get("lossless", False))
    elif spec["mode"] == "segments":
        over_time = load_segments(Path(spec["segments"]))
        if over_time.model == "constant":
            offset_ms, over_time = float(over_time.segments[0].offset_ms or 0.0), None
    elif offset_ms == 0 and not spec.get("force", False):
        reason = "an offset of 0 ms changes nothing: nothing written (send \"force\": true for a copy anyway)"
    result: dict[str, Any] = {"written": False, "analysis": analysed, "message": reason, "details": [], "notes": []}
    if reason is not None:
        return result
    progress = StageProgress(send, _EXPORT_STAGES, PROGRESS_EVERY_S, export_span)
    if over_time is not None:
        done = correct_audio(source, output, over_time, all_audio=spec.get("all_audio", False), progress=progress,
                             cancel=cancel)
        applied = over_time.model
    else:
        assert offset_ms is not None
        done = shift_audio(source, output, offset_ms, lossless=spec.get("lossless", False),
                           all_audio=spec.get("all_audio", False), progress=progress, cancel=cancel)
        applied = "constant"
    outside = str(done.output)
    result.update(
        written=True, applied=applied, offset_ms=done.offset_ms, applied_ms=done.applied_ms,
        message=done.describe().replace(outside, spec["download_name"]),
        details=[line.replace(outside, spec["download_name"]) for line in done.details()],
        notes=[note for note in (done.note, *(f"not copied, {dropped}" for dropped in done.dropped)) if note])
    return result


TASKS: dict[str, Callable[[dict[str, Any], Send, CancelToken], dict[str, Any]]] = {"analysis": analyse, "fix": fix}
