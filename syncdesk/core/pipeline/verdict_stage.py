"""Stages "scoring" after the tracks: who speaks when, the clip's one offset, and the document."""

from __future__ import annotations

from ... import __version__
from ..errors import AnalysisError
from ..models.device import dtype_name
from ..results import Analysis, Engine, Source
from ..speaker import active_speaker, clip_verdict
from .context import AnalysisContext
from .caveats import damage_warnings, verdict_caveats
from .over_time_stage import measure_over_time
from .track_score import track_warnings


def find_speaker(context: AnalysisContext) -> None:
    """Sets ``speaker`` (per frame, the id of the track speaking or None) and each track's
    ``speaking_frames``; needs ``tracks`` and ``frames``. Refuses a clip silent throughout."""
    tracks = context.tracks
    if all(t.windows_scored and t.silent_windows == t.windows_scored for t in tracks):
        raise AnalysisError("the sound is silent throughout the clip: there is nothing to sync")
    with context.timer.stage("scoring"):
        context.speaker = active_speaker(tracks, context.frames)
        for track in tracks:
            track.speaking_frames = sum(1 for s in context.speaker if s == track.id)


def decide_verdict(context: AnalysisContext) -> None:
    """Sets ``verdict``, ``verdict_source`` and ``verdict_tracks``: the one track of the
    whole-frame path, else the speaking tracks' pooled evidence; needs ``tracks`` and ``speaker``.
    Then :func:`measure_over_time` (which may correct the verdict from its wide search), so
    whoever runs the stages gets both."""
    with context.timer.stage("scoring"):
        if context.whole_frame:
            track = context.tracks[0]
            context.verdict, context.verdict_source, context.verdict_tracks = track, "whole-frame", [track.id]
        else:
            verdict = clip_verdict(context.tracks, context.speaker, context.options.vshift)
            context.verdict = verdict
            context.verdict_source = "speaking-tracks" if verdict.tracks else "no-confident-speaker"
            context.verdict_tracks = list(verdict.tracks)
        measure_over_time(context)


def build_analysis(context: AnalysisContext) -> Analysis:
    """The :class:`Analysis` document of a context all stages have run on; adds the "total" timing."""
    timings = context.timer.timings
    timings["total"] = round(sum(timings.values()), 4)
    tracks, options, verdict = context.tracks, context.options, context.verdict
    source = _source(context)
    caveats = verdict_caveats(context)
    warnings = damage_warnings(source.damage) + caveats.warnings
    warnings += [w for track in tracks for w in track_warnings(track, len(tracks))]
    if context.verdict_source == "no-confident-speaker":
        warnings.append("no face is a confident speaker anywhere: the offset is not measured (confidence 0)")
    warnings.extend(context.notes)
    return Analysis(
        source=source,
        engine=Engine(
            version=__version__,
            device=context.device.type,
            detector=context.detector_name,
            syncnet={"path": str(context.weights_path), "sha256": context.weights_sha},
            mode="exact" if options.exact else "fast",
            window_stride=options.stride,
            silence_weighting=not options.exact,
            precision=dtype_name(context.dtype),
        ),
        offset_frames=verdict.offset_frames,
        offset_ms=verdict.offset_ms,
        min_dist=verdict.min_dist,
        confidence=verdict.confidence,
        tracks=tracks,
        shots=context.shots,
        active_speaker=context.speaker,
        timings=timings,
        warnings=warnings,
        verdict_source=context.verdict_source,
        verdict_tracks=context.verdict_tracks,
        sync_over_time=context.sync_over_time,
        tier_cap=caveats.tier_cap,
        evidence_s=caveats.evidence_s,
    )


def _source(context: AnalysisContext) -> Source:
    """The file's facts: its header's, and what decoding it showed (frames, rate, damage)."""
    info, log = context.info, context.video_log
    damage = [d for d in (context.audio_damage, log.damage if log else None) if d is not None and d.packets]
    return Source(
        str(context.path), info.size, info.duration_s, info.fps, context.frames, info.audio_rate or 0,
        container=info.container, video_codec=info.video_codec, audio_codec=info.audio_codec,
        width=info.width, height=info.height, file_frames=log.frames if log else info.frames,
        video_start_s=round(info.video_start_s, 6),
        audio_start_s=None if info.audio_start_s is None else round(info.audio_start_s, 6),
        variable_frame_rate=log.variable_frame_rate if log else info.variable_frame_rate,
        damage=damage,
    )
