"""Writing the shifted copy into a hidden ``.part`` file, verifying it, and moving it into place."""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, cast

import av
from av.audio.stream import AudioStream

from ..cancel import CancelToken
from ..errors import MediaError
from ..media import decode_packet, ffmpeg_reason, open_input
from ..outputs import atomic_output
from ..progress import ProgressCallback, report
from ..results import StreamDamage, SyncOverTime
from .paths import preflight
from .plan import Plan, is_chapter_track, plan_streams
from .result import ExportError, ExportResult
from .segments import SegmentFix, constant_offset, fixes_for

STAGE = "exporting"


def _duration_s(container: av.container.InputContainer) -> float:
    return container.duration / 1e6 if container.duration and container.duration > 0 else 0.0


def _video_fps(container: av.container.InputContainer) -> float:
    video = container.streams.video[0]
    rate = video.average_rate or video.base_rate or video.guessed_rate
    return float(rate) if rate else 25.0



class _Clip:
    """Holds lossless-delayed packets back and drops those that would start past the original end."""

    def __init__(self) -> None:
        self.held: deque[av.Packet] = deque()
        self.end: Optional[int] = None  # the original stream's end so far, in its ticks

    def push(self, packet: av.Packet, original_end: int) -> list[av.Packet]:
        self.end = original_end if self.end is None else max(self.end, original_end)
        self.held.append(packet)
        ready = []
        while self.held and (self.held[0].pts is None or self.held[0].pts < self.end):
            ready.append(self.held.popleft())
        return ready

    def finish(self) -> list[av.Packet]:
        kept = [p for p in self.held if p.pts is None or (self.end is not None and p.pts < self.end)]
        self.held.clear()
        return kept


@dataclass
class _Written:
    plan: Plan
    shift: int
    rate: int
    codec_in: str
    video_codec: str
    duration_s: float
    fps: float
    chapters: int
    expected: list[tuple[str, Optional[str]]]  # (type, codec) of each output stream, in order
    shifted: tuple[int, ...]
    packet_s: float  # longest audio packet of the shifted stream, in seconds
    damaged: tuple[StreamDamage, ...]  # shifted streams with packets that did not decode


def _write(src: Path, part: Path, fmt: str, offset_ms: float, lossless: bool, all_audio: bool,
           progress: Optional[ProgressCallback], cancel: Optional[CancelToken], fixes: Sequence[SegmentFix]
           ) -> _Written:
    with open_input(src) as inp:
        targets = [s.index for s in inp.streams.audio]
        if not inp.streams.video or not targets:
            raise MediaError(f"{src.name} needs a video and an audio stream")
        targets = targets if all_audio else targets[:1]
        first = cast(AudioStream, inp.streams[targets[0]])
        rate = first.codec_context.sample_rate
        duration = _duration_s(inp)
        start = inp.start_time / 1e6 if inp.start_time is not None else 0.0
        options = {"movie_timescale": str(rate)} if lossless else {}  # sample-exact edit lists
        with av.open(str(part), "w", format=fmt, options=options) as out:
            out.metadata.update(inp.metadata)
            plan = plan_streams(inp, out, fmt, offset_ms, targets, lossless, fixes)
            chapters = inp.chapters()
            if chapters:
                out.set_chapters(chapters)
            clips = {index: _Clip() for index, ticks in plan.lossless_ticks.items() if ticks > 0}
            damage: dict[int, StreamDamage] = {}
            packet_s = 0.0
            reported = -1.0
            report(progress, STAGE, 0.0)
            for packet in inp.demux():
                if cancel is not None:
                    cancel.check()
                index = packet.stream.index
                if index in targets and packet.duration and packet.time_base is not None:
                    packet_s = max(packet_s, float(packet.duration * packet.time_base))
                job = plan.jobs.get(index)
                if job is not None:
                    job.saw(packet)
                    # a packet that does not decode becomes silence (the frames after it keep their place)
                    decoded = decode_packet(packet, damage.setdefault(index, StreamDamage("audio")))
                    job.feed(cast(list[av.AudioFrame], decoded), out, flush=packet.size == 0)
                    continue
                if index not in plan.copies or packet.size == 0:
                    continue
                if duration > 0 and packet.pts is not None and packet.time_base is not None:
                    done = (float(packet.pts * packet.time_base) - start) / duration
                    if done >= reported + 0.01:  # whole percents: a bar shows no finer
                        reported = done
                        report(progress, STAGE, done)
                ready = [packet]
                ticks = plan.lossless_ticks.get(index)
                if ticks is not None:
                    end = (packet.pts or 0) + (packet.duration or 0)
                    packet.pts = packet.pts + ticks if packet.pts is not None else None
                    packet.dts = packet.dts + ticks if packet.dts is not None else None
                    if index in clips:
                        ready = clips[index].push(packet, end)
                for item in ready:
                    item.stream = plan.copies[index]
                    out.mux(item)
            for index, clip in clips.items():
                for item in clip.finish():
                    item.stream = plan.copies[index]
                    out.mux(item)
            report(progress, STAGE, 1.0)
            plan.frame_size = max((j.target.codec_context.frame_size or 0 for j in plan.jobs.values()), default=0)
        job = plan.jobs.get(targets[0])
        return _Written(
            plan=plan, shift=job.shift if job else round(offset_ms * rate / 1000), rate=rate,
            codec_in=first.codec_context.codec.canonical_name,
            video_codec=inp.streams.video[0].codec_context.name, duration_s=duration, fps=_video_fps(inp),
            chapters=len(chapters),
            expected=[(s.type, s.codec_context.name if s.codec_context else None) for s in inp.streams
                      if s.index in plan.copies or s.index in plan.jobs],
            shifted=tuple(targets), packet_s=packet_s,
            damaged=tuple(d for d in damage.values() if d.packets),
        )


def verify(path: Path, fmt: str, expected: list[tuple[str, Optional[str]]], duration_s: float,
           tolerance_s: float) -> None:
    """Probe a written file: the expected stream types in order, the same video codec, the duration."""
    try:
        with av.open(str(path), format=fmt, metadata_errors="ignore") as check:
            streams = [s for s in check.streams if not is_chapter_track(check, s)]
            found = [s.type for s in streams]
            if found != [kind for kind, _ in expected]:
                raise ExportError(f"the written file has streams {found}, expected {[k for k, _ in expected]}")
            for stream, (kind, codec) in zip(streams, expected, strict=True):
                if kind == "video" and stream.codec_context.name != codec:
                    raise ExportError(f"the written file's video is {stream.codec_context.name}, not {codec}")
            written = _duration_s(check)
    except av.error.FFmpegError as exc:
        raise ExportError(f"the written file does not read back ({ffmpeg_reason(exc)})") from None
    if duration_s > 0 and abs(written - duration_s) > tolerance_s:
        raise ExportError(f"the written file lasts {written:.3f} s instead of {duration_s:.3f} s")


def _export(src: Path, dst: Path, fmt: str, offset_ms: float, lossless: bool, overwrite: bool, all_audio: bool,
            progress: Optional[ProgressCallback], cancel: Optional[CancelToken], fixes: Sequence[SegmentFix] = ()
            ) -> ExportResult:
    """Write ``dst`` through a ``.part`` file, verify it, move it into place; what was done."""
    with atomic_output(dst, ExportError) as part:
        try:
            done = _write(src, part, fmt, offset_ms, lossless, all_audio, progress, cancel, fixes)
        except av.error.FFmpegError as exc:
            raise ExportError(f"writing {dst.name} failed: {ffmpeg_reason(exc)}") from None
        except OSError as exc:
            raise ExportError(f"writing {dst.name} failed: {exc.strerror or exc}") from None
        if cancel is not None:
            cancel.check()
        report(progress, "verifying", 0.0)
        # one video frame; plus an encoder's priming frame, which some containers count, or for
        # lossless the last moved audio packet, which may overhang
        tolerance = 1.0 / done.fps + 1e-3
        tolerance += done.packet_s if lossless else done.plan.frame_size / done.rate
        verify(part, fmt, done.expected, done.duration_s, tolerance)
        report(progress, "verifying", 1.0)
        if os.path.lexists(dst) and not overwrite:  # appeared while we worked
            raise ExportError(f"{dst} already exists: pass --overwrite to replace it")
    plan = done.plan
    return ExportResult(
        source=src, output=dst, offset_ms=offset_ms, shift_samples=done.shift, sample_rate=done.rate,
        method="lossless" if lossless else "re-encode", audio_codec_in=done.codec_in,
        audio_codec_out=plan.codec_out, audio_bit_rate=None if lossless else plan.bit_rate,
        video_codec=done.video_codec, shifted_streams=done.shifted,
        copied_streams=tuple(i for i in plan.copies if i not in plan.lossless_ticks),
        dropped=tuple(plan.dropped), note=plan.note, duration_s=done.duration_s, chapters=done.chapters,
        segments=tuple(fixes), damaged=done.damaged,
    )


def shift_audio(
    src: os.PathLike | str,
    dst: os.PathLike | str,
    offset_ms: float,
    *,
    lossless: bool = False,
    overwrite: bool = False,
    all_audio: bool = False,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ExportResult:
    """Write ``dst``: ``src`` with its first audio track (or every one, ``all_audio``) moved.

    Positive ``offset_ms`` (the audio leads) delays the audio, negative advances it. Raises
    :class:`ExportError`, :class:`MediaError` or :class:`Cancelled`, leaving ``dst`` as it was.
    Progress stages: "exporting", "verifying".
    """
    src, dst = Path(src), Path(dst)
    if not math.isfinite(offset_ms):
        raise ExportError(f"the offset must be a number of milliseconds, not {offset_ms}")
    fmt = preflight(src, dst, overwrite=overwrite, lossless=lossless)
    return _export(src, dst, fmt, offset_ms, lossless, overwrite, all_audio, progress, cancel)


def _file_span(src: Path) -> tuple[float, float]:
    """Where the file starts and ends on its own clock, in seconds."""
    with open_input(src) as inp:
        start = inp.start_time / 1e6 if inp.start_time is not None else 0.0
        return start, start + _duration_s(inp)


def correct_audio(
    src: os.PathLike | str,
    dst: os.PathLike | str,
    over_time: SyncOverTime,
    *,
    overwrite: bool = False,
    all_audio: bool = False,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ExportResult:
    """Write ``dst``: ``src`` with its audio put in sync along the whole file, as ``over_time`` models it.

    ``constant`` (or segments that all carry one offset): :func:`shift_audio`. ``drift``: the audio is
    resampled so that output audio at video time t is input audio at ``t - offset(t)``, the line
    extended to both ends of the file. ``steps``: one whole-sample shift per segment, with a short
    crossfade at each boundary (silence where the delay grows, a cut where it shrinks). A segment
    with ``end_offset_ms`` is a line within that segment. ``unknown`` and malformed segments raise
    :class:`ExportError` before anything is written. The video is copied, the duration kept.
    """
    src, dst = Path(src), Path(dst)
    fmt = preflight(src, dst, overwrite=overwrite)
    start_s, end_s = _file_span(src)
    fixes = fixes_for(over_time, start_s, end_s)
    offset = constant_offset(fixes)
    if offset is not None:
        return _export(src, dst, fmt, offset, False, overwrite, all_audio, progress, cancel)
    return _export(src, dst, fmt, fixes[0].offset_ms, False, overwrite, all_audio, progress, cancel, fixes)
