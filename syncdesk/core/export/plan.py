"""The stream plan: which input stream is re-encoded, which is copied packet for packet, which is
dropped; copies keep their metadata, dispositions and frame rate, and chapters are written again."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence, cast

import av
from av.audio.stream import AudioStream
from av.video.codeccontext import VideoCodecContext

from .audio import AudioJob, add_encoder
from .result import ExportError
from .segments import SegmentFix


def is_chapter_track(container: av.container.Container, stream: av.stream.Stream) -> bool:
    """mp4/mov chapter titles live in a text track that the muxer rebuilds from the chapter list."""
    is_mov = bool({"mov", "mp4"} & set(container.format.name.split(",")))
    return stream.type == "data" and is_mov and stream.codec_context is None and bool(container.chapters())


def _copy_stream(out: av.container.OutputContainer, stream: av.stream.Stream) -> av.stream.Stream:
    copy = out.add_stream_from_template(stream, opaque=True)  # opaque: no encoder needed for the codec
    copy.metadata.update(stream.metadata)
    copy.disposition = stream.disposition
    if stream.type == "video" and stream.average_rate:
        # as ffmpeg's stream copy: mkv and avi take the frame duration from it
        cast(VideoCodecContext, copy.codec_context).framerate = stream.average_rate
    return copy



@dataclass
class Plan:
    """Which input stream goes where."""

    copies: dict[int, av.stream.Stream] = field(default_factory=dict)  # input index -> copied stream
    jobs: dict[int, AudioJob] = field(default_factory=dict)  # input index -> re-encoded stream
    lossless_ticks: dict[int, int] = field(default_factory=dict)  # input index -> shift in its time base
    dropped: list[str] = field(default_factory=list)
    note: Optional[str] = None
    codec_out: str = ""
    bit_rate: Optional[int] = None
    frame_size: int = 0  # encoder frame, in samples (0: any)


def plan_streams(inp: av.container.InputContainer, out: av.container.OutputContainer, fmt: str, offset_ms: float,
          targets: list[int], lossless: bool, fixes: Sequence[SegmentFix] = ()) -> Plan:
    """``fixes``: re-encode the targets with an offset over time instead of ``offset_ms``."""
    plan = Plan()
    main_video = inp.streams.video[0].index
    for stream in inp.streams:
        if stream.index in targets and not lossless:
            source = cast(AudioStream, stream)
            target, note = add_encoder(out, fmt, source)
            ctx = source.codec_context
            plan.jobs[stream.index] = AudioJob(
                target=target, shift=round(offset_ms * ctx.sample_rate / 1000), rate=ctx.sample_rate,
                layout=ctx.layout.name, fmt=target.format.name, planar=target.format.is_planar,
                converter=av.AudioResampler(format=target.format.name, layout=ctx.layout.name,
                                            rate=ctx.sample_rate),
                fixes=fixes)
            plan.note = plan.note or note
            plan.codec_out = plan.codec_out or target.codec_context.codec.canonical_name
            plan.bit_rate = plan.bit_rate or target.bit_rate or None
            continue
        if is_chapter_track(inp, stream):
            continue  # the muxer writes it again from the chapters
        try:
            plan.copies[stream.index] = _copy_stream(out, stream)
        except (ValueError, av.error.FFmpegError) as exc:
            if stream.index == main_video or stream.index in targets:
                raise ExportError(f"a {fmt} file cannot hold stream {stream.index} ({stream.type}): {exc}") from None
            plan.dropped.append(f"stream {stream.index} ({stream.type}): {exc}")
            continue
        if stream.index in targets:  # lossless: only timestamps move
            time_base = stream.time_base or Fraction(1, cast(AudioStream, stream).codec_context.sample_rate)
            plan.lossless_ticks[stream.index] = round(Fraction(offset_ms) / 1000 / time_base)
            plan.codec_out = plan.codec_out or stream.codec_context.codec.canonical_name
    return plan

