"""Write a copy of a video with its audio shifted, the video stream copied bit for bit.

Sign (contract.md): a positive ``offset_ms`` means the audio leads, so the fix *delays* the audio
by ``offset_ms``; a negative one advances it. The shift is sample-accurate (``round(offset_ms *
rate / 1000)`` samples, not whole frames) and the audio keeps its length: a delay pads silence at
the start and drops as many samples at the end, an advance does the opposite.

Two methods:

* re-encode (default): the shifted audio stream is decoded, moved in samples and encoded again in
  its own codec at a high bit rate (lossless codecs and PCM stay lossless). When this FFmpeg build
  has no usable encoder for it, the fallback is AAC for mp4/mov, PCM for avi/mkv, Opus for webm,
  and :attr:`ExportResult.note` says so. Every other stream (video, other audio tracks, subtitles,
  attachments) is copied packet for packet, with chapters, container and stream metadata (title,
  language), dispositions and the rotation matrix.
* lossless (mp4/mov only): nothing is re-encoded; the audio packets' timestamps move and the muxer
  writes an edit list (an empty edit for a delay, a media-time skip for an advance), in a movie
  timescale equal to the audio's sample rate so the edit is sample-exact. Players on FFmpeg's
  libavformat honour it (mpv, ffplay, Kodi, syncdesk itself; checked here by decoding with FFmpeg),
  and so does Apple's QuickTime/AVFoundation, whose file format defines edit lists. Elsewhere (VLC's
  own MP4 demuxer, browsers, Windows players, MPC-HC/BE, Android, TVs, editors) support varies by
  version and kind of edit, and a player that ignores it plays the audio unshifted: re-encode when
  the file must play right everywhere. A delayed track ends within one audio packet (1024 samples
  for AAC) of the original end; an advanced one ends earlier by the shift.

The output keeps the input's container family (mp4/mov, mkv/webm, avi, ...): moving H.264 from mp4
to avi, for example, would need a bitstream filter that changes the video bytes.

Why in-process PyAV rather than the ``ffmpeg`` binary of imageio-ffmpeg driven by ffmpeg-python:
measured on the 2-core build machine, a 60 s 1280x720 H.264 file with two AAC tracks, a subtitle
track, chapters and a 90 degree rotation, delay 120 ms, best of 3 in three sessions (the binary
with ``-c copy -c:a:0 aac -filter:a:0 adelay=5760S:all=1,atrim=end_sample=N -progress pipe:1``):

=========================  ===========  ===========  ==========================================
method                     mp4          mkv          result (both containers)
=========================  ===========  ===========  ==========================================
PyAV, in-process (chosen)  0.65-0.68 s  0.65-0.67 s  video packets identical, shift +120.000 ms,
                                                     duration equal to the input's
ffmpeg binary              0.54-0.61 s  0.53-0.61 s  video packets identical, shift +120.000 ms,
                                                     mkv 21 ms longer than the input
=========================  ===========  ===========  ==========================================

On a 4 s 64x64 clip both take 0.12 s; lossless mode takes 0.06 s on the 60 s file. Both spend most
of their time in the same libavcodec AAC encoder (0.53 s of PyAV's run under cProfile); the binary
is 10-20% faster because its demuxer, decoder, encoder and muxer run in threads. PyAV wins on what
the binary cannot do without help: it counts the decoded samples itself, so padding and trimming
are exact (the binary's filter graph needs the sample count up front, from the header, and came out
one AAC frame long in mkv); it places audio by timestamps, so a gap in the stream stays a gap; it
checks the cancel token and reports progress between packets (no ``-progress`` parsing, no process
to terminate, no pipes); it sets the muxer's movie timescale for sample-exact edit lists; and it is
the same FFmpeg build that :mod:`syncdesk.core.media` probes and decodes with.

Safety: the output is written to a hidden ``.part`` file beside it, probed and checked (streams,
codecs, duration within one frame), then moved into place with :func:`os.replace`. An output that
is the input under any spelling (symlink, hard link, ``..``) is refused, an existing output is
refused unless ``overwrite``, the input is only opened for reading, and on any error, cancellation
or Ctrl-C the ``.part`` file is removed.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional, cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.video.codeccontext import VideoCodecContext

from .cancel import CancelToken
from .errors import MediaError, SyncdeskError
from .media import ffmpeg_reason, open_input
from .outputs import create_part, remove_quietly
from .progress import ProgressCallback, report

#: output container (libavformat muxer name) by file-name suffix
FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts", ".flv": "flv",
}
#: containers that can stand in for each other (same packet formats and timestamp rules)
FAMILIES = (("mp4", "mov"), ("matroska", "webm"), ("avi",), ("mpegts",), ("flv",))
#: containers where ``lossless`` moves the audio with an edit list
LOSSLESS_FORMATS = ("mp4", "mov")
#: "high" bit rate: kilobits per second per channel for lossy codecs, and each codec's ceiling
HIGH_KBPS_PER_CHANNEL = {"aac": 128, "mp3": 160, "opus": 96, "ac3": 192, "eac3": 192, "mp2": 192, "wmav2": 96}
MAX_KBPS = {"aac": 512, "mp3": 320, "opus": 510, "ac3": 640, "eac3": 1536, "mp2": 384, "wmav2": 384}
LOSSLESS_CODECS = ("flac", "alac", "wavpack", "tta")
_EXPERIMENTAL = 0x0200  # AV_CODEC_CAP_EXPERIMENTAL: encoders FFmpeg itself does not recommend
STAGE = "exporting"


class ExportError(SyncdeskError):
    """The corrected file cannot be written (bad output path, unsupported stream, disk error)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`shift_audio` did."""

    source: Path
    output: Path
    offset_ms: float  # as asked (positive: the audio led, so it was delayed)
    shift_samples: int  # applied: > 0 delayed, < 0 advanced, in samples at ``sample_rate``
    sample_rate: int
    method: str  # "re-encode" or "lossless"
    audio_codec_in: str
    audio_codec_out: str
    audio_bit_rate: Optional[int]  # bits per second of re-encoded lossy audio, else None
    video_codec: str
    shifted_streams: tuple[int, ...]  # input stream indices whose audio moved
    copied_streams: tuple[int, ...]  # input stream indices copied packet for packet
    dropped: tuple[str, ...] = ()  # streams the output container cannot hold, with the reason
    note: Optional[str] = None  # why a fallback codec was used
    duration_s: float = 0.0
    chapters: int = 0

    @property
    def applied_ms(self) -> float:
        return 1000.0 * self.shift_samples / self.sample_rate

    @property
    def delay_ms(self) -> float:
        return max(self.applied_ms, 0.0)

    @property
    def advance_ms(self) -> float:
        return max(-self.applied_ms, 0.0)

    def describe(self) -> str:
        """One line, e.g. ``audio delayed by 120 ms; video copied; wrote in.synced.mp4``."""
        ms = abs(self.applied_ms)
        amount = f"{ms:.0f}" if abs(ms - round(ms)) < 0.05 else f"{ms:.1f}"
        if self.shift_samples == 0:
            moved = "audio not shifted"
        else:
            moved = f"audio {'delayed' if self.shift_samples > 0 else 'advanced'} by {amount} ms"
        return f"{moved}; video copied; wrote {self.output}"

    def details(self) -> list[str]:
        """How the audio was written and what else was kept, a short line each."""
        tracks = "every audio track" if len(self.shifted_streams) > 1 else "first audio track"
        if self.method == "lossless":
            audio = f"{tracks}: {self.audio_codec_out} not re-encoded, moved by an edit list"
        else:
            rate = f" at {self.audio_bit_rate // 1000} kb/s" if self.audio_bit_rate else ""
            audio = f"{tracks}: {self.audio_codec_in} re-encoded as {self.audio_codec_out}{rate}"
        kept = f"{len(self.copied_streams)} other stream(s) copied unchanged"
        if self.chapters:
            kept += f", {self.chapters} chapter(s) kept"
        return [f"{audio}, shift {self.shift_samples:+d} samples at {self.sample_rate} Hz", kept]


# --- paths -------------------------------------------------------------------------------------


def output_format(path: Path) -> str:
    """The muxer for ``path``'s suffix; raises :class:`ExportError` for an unknown one."""
    name = FORMATS.get(path.suffix.lower())
    if name is None:
        known = ", ".join(sorted(FORMATS))
        raise ExportError(f"cannot tell the container from the name {path.name!r}: use one of {known}")
    return name


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or the same device and inode."""
    try:
        if os.path.normcase(str(a.resolve())) == os.path.normcase(str(b.resolve())):
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse a missing input, an output that is the input, a folder, or an existing output."""
    if not src.exists():
        raise MediaError(f"no such file: {src}")
    if not src.is_file():
        raise MediaError(f"{src} is not a regular file")
    if same_file(src, dst):
        raise ExportError(f"the output {dst} is the input file: choose another name")
    if not dst.parent.is_dir():
        raise ExportError(f"the output folder {dst.parent} does not exist")
    if dst.is_dir():
        raise ExportError(f"the output {dst} is a folder")
    if os.path.lexists(dst) and not overwrite:
        raise ExportError(f"{dst} already exists: pass --overwrite to replace it")


def _family(names: Iterable[str]) -> tuple[str, ...]:
    names = set(names)
    return next((family for family in FAMILIES if names & set(family)), tuple(sorted(names)))


def preflight(src: os.PathLike | str, dst: os.PathLike | str, *, overwrite: bool = False,
              lossless: bool = False) -> str:
    """Every check that needs no decoding: paths, readable input, container, lossless support.

    Returns the output's muxer name. Cheap: call it before a long analysis.
    """
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, overwrite)
    fmt = output_format(dst)
    if lossless and fmt not in LOSSLESS_FORMATS:
        raise ExportError(f"--lossless needs an .mp4 or .mov output (it uses an edit list); {dst.name} is not one")
    with open_input(src) as inp:
        if not inp.streams.video:
            raise MediaError(f"{src.name} has no video stream")
        if not inp.streams.audio:
            raise MediaError(f"{src.name} has no audio stream: there is nothing to shift")
        if inp.streams.audio[0].codec_context is None:
            raise MediaError(f"{src.name}: this FFmpeg build cannot decode its audio")
        family = _family(inp.format.name.split(","))
    if fmt not in family:
        suffixes = " or ".join(sorted({s for s, f in FORMATS.items() if f in family})) or "its suffix"
        raise ExportError(f"{dst.name}: the output must keep the container of {src.name} (use {suffixes}): "
                          f"the video is copied as is and cannot change container")
    return fmt


# --- audio shifting ----------------------------------------------------------------------------


class SampleShifter:
    """Delays (``shift`` > 0) or advances (< 0) a stream of samples, keeping its length.

    Samples are ``(n, channels)`` arrays. A delay emits ``shift`` zeros first and holds back the
    last ``shift`` input samples, which are dropped at the end; an advance drops the first
    ``-shift`` input samples and appends as many zeros at the end. Output length == input length.
    """

    def __init__(self, shift: int, channels: int, dtype: np.dtype) -> None:
        self.shift = shift
        self.seen = 0
        self.emitted = 0
        self._held = np.zeros((max(shift, 0), channels), dtype)
        self._to_drop = max(-shift, 0)

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.seen += len(samples)
        if self.shift >= 0:
            joined = np.concatenate([self._held, samples]) if len(self._held) else samples
            cut = len(joined) - self.shift
            out, self._held = joined[:cut], joined[cut:]
        else:
            drop = min(self._to_drop, len(samples))
            self._to_drop -= drop
            out = samples[drop:]
        self.emitted += len(out)
        return out

    def finish(self) -> np.ndarray:
        pad = self.seen - self.emitted
        self.emitted += pad
        return np.zeros((pad, self._held.shape[1]), self._held.dtype)


def _as_samples(frame: av.AudioFrame) -> np.ndarray:
    """``(n, channels)`` view of a frame, planar or packed."""
    data = frame.to_ndarray()
    return data.T if frame.format.is_planar else data.reshape(-1, frame.layout.nb_channels)


@dataclass
class _AudioJob:
    """One re-encoded stream: decoder, format converter, shifter, encoder."""

    target: AudioStream
    shift: int
    rate: int
    layout: str
    fmt: str
    planar: bool
    converter: av.AudioResampler
    shifter: Optional[SampleShifter] = None
    start_pts: Optional[int] = None  # first decoded sample, in 1/rate
    source_end: Optional[Fraction] = None  # where the source's packets say its sound ends
    held: Optional[av.Packet] = None

    def saw(self, packet: av.Packet) -> None:
        if packet.pts is not None and packet.duration and packet.time_base is not None:
            end = (packet.pts + packet.duration) * packet.time_base
            self.source_end = end if self.source_end is None else max(self.source_end, end)

    def feed(self, decoded: Iterable[av.AudioFrame], out: av.container.OutputContainer, flush: bool) -> None:
        """Shift and encode decoded frames, placed by their timestamps (``flush``: the stream ended)."""
        for frame in decoded:
            position = (round(frame.pts * frame.time_base * self.rate)
                        if frame.pts is not None and frame.time_base is not None else None)
            if self.start_pts is None:
                self.start_pts = position or 0
            # a gap in the stream becomes silence and an overlap is dropped, so later sound keeps its
            # place (2 ms of timestamp jitter is not a gap, and a jump of a minute is a broken timestamp)
            gap = 0 if position is None or self.shifter is None else position - self.start_pts - self.shifter.seen
            if abs(gap) > 60 * self.rate:
                gap = 0
            for chunk in self.converter.resample(frame):
                samples = _as_samples(chunk)
                if self.shifter is None:
                    self.shifter = SampleShifter(self.shift, samples.shape[1], samples.dtype)
                if gap > self.rate // 500:
                    self._encode(self.shifter.push(np.zeros((gap, samples.shape[1]), samples.dtype)), out)
                elif gap < -(self.rate // 500):
                    drop = min(-gap, len(samples))
                    samples, gap = samples[drop:], gap + drop
                    if gap:
                        continue
                gap = 0
                self._encode(self.shifter.push(samples), out)
        if flush:
            for chunk in self.converter.resample(None):
                if self.shifter is not None:
                    self._encode(self.shifter.push(_as_samples(chunk)), out)
            if self.shifter is not None:
                self._encode(self.shifter.finish(), out)
            self._mux(self.target.encode(None), out, last=True)

    def _encode(self, samples: np.ndarray, out: av.container.OutputContainer) -> None:
        if not len(samples):
            return
        assert self.shifter is not None and self.start_pts is not None
        data = samples.T if self.planar else samples.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=self.fmt, layout=self.layout)
        frame.sample_rate = self.rate
        frame.time_base = Fraction(1, self.rate)
        frame.pts = self.start_pts + self.shifter.emitted - len(samples)
        self._mux(self.target.encode(frame), out)

    def _mux(self, packets: Iterable[av.Packet], out: av.container.OutputContainer, last: bool = False) -> None:
        """Mux, one packet behind: the encoder pads its last frame, whose duration is cut to the true end."""
        for packet in packets:
            if self.held is not None:
                out.mux(self.held)
            self.held = packet
        if last and self.held is not None:
            held, self.held = self.held, None
            if self.start_pts is not None and self.shifter is not None and held.pts is not None and held.duration:
                end = Fraction(self.start_pts + self.shifter.emitted, self.rate)
                if self.source_end is not None:
                    end = min(end, self.source_end)
                ticks = round((end - held.pts * held.time_base) / held.time_base)
                if 0 < ticks < held.duration:
                    held.duration = ticks
            out.mux(held)


def _encoder(name: str) -> Optional[av.codec.Codec]:
    """The encoder for ``name``, or None where this build has none or only an experimental one."""
    try:
        codec = av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - PyAV raises several kinds for an unknown codec
        return None
    return None if codec.capabilities & _EXPERIMENTAL else codec


def _fallback_codec(fmt: str, sample_format: str) -> str:
    if fmt in ("avi", "matroska"):
        return "pcm_s16le" if sample_format in ("u8", "u8p", "s16", "s16p") else "pcm_s24le"
    return "opus" if fmt == "webm" else "aac"


def _bit_rate(codec: str, channels: int, source_bit_rate: int) -> Optional[int]:
    if codec.startswith("pcm_") or codec in LOSSLESS_CODECS:
        return None
    kbps = max(HIGH_KBPS_PER_CHANNEL.get(codec, 128) * channels, source_bit_rate // 1000)
    return 1000 * min(kbps, MAX_KBPS.get(codec, kbps))


def _add_encoder(out: av.container.OutputContainer, fmt: str, source: AudioStream
                 ) -> tuple[AudioStream, Optional[str]]:
    """An encoder stream in the source's codec, else the container's fallback (and a note saying why)."""
    ctx = source.codec_context
    wanted = ctx.codec.canonical_name
    sample_format = ctx.format.name if ctx.format else "fltp"
    reason = ""
    for name in (wanted, _fallback_codec(fmt, sample_format)):
        codec = _encoder(name)
        if codec is None:
            reason = f"this FFmpeg build has no usable {name} encoder"
            continue
        if codec.audio_rates and ctx.sample_rate not in codec.audio_rates:
            reason = f"{name} cannot be encoded at {ctx.sample_rate} Hz"
            continue
        try:
            stream = cast(AudioStream, out.add_stream(name, rate=ctx.sample_rate))
        except ValueError:
            reason = f"a {fmt} file cannot hold {name}"
            continue
        formats = [f.name for f in codec.audio_formats or ()]
        stream.layout = ctx.layout.name
        stream.format = sample_format if not formats or sample_format in formats else formats[0]
        stream.time_base = Fraction(1, ctx.sample_rate)
        bit_rate = _bit_rate(codec.canonical_name, ctx.channels, ctx.bit_rate or 0)
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.metadata.update(source.metadata)
        stream.disposition = source.disposition
        note = None if name == wanted else f"{reason}: audio written as {codec.canonical_name}"
        return stream, note
    raise ExportError(f"cannot write the {wanted} audio into a {fmt} file: {reason}")


# --- streams -----------------------------------------------------------------------------------


def _is_chapter_track(container: av.container.Container, stream: av.stream.Stream) -> bool:
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


def _duration_s(container: av.container.InputContainer) -> float:
    return container.duration / 1e6 if container.duration and container.duration > 0 else 0.0


def _video_fps(container: av.container.InputContainer) -> float:
    video = container.streams.video[0]
    rate = video.average_rate or video.base_rate or video.guessed_rate
    return float(rate) if rate else 25.0


@dataclass
class _Plan:
    """Which input stream goes where."""

    copies: dict[int, av.stream.Stream] = field(default_factory=dict)  # input index -> copied stream
    jobs: dict[int, _AudioJob] = field(default_factory=dict)  # input index -> re-encoded stream
    lossless_ticks: dict[int, int] = field(default_factory=dict)  # input index -> shift in its time base
    dropped: list[str] = field(default_factory=list)
    note: Optional[str] = None
    codec_out: str = ""
    bit_rate: Optional[int] = None
    frame_size: int = 0  # encoder frame, in samples (0: any)


def _plan(inp: av.container.InputContainer, out: av.container.OutputContainer, fmt: str, offset_ms: float,
          targets: list[int], lossless: bool) -> _Plan:
    plan = _Plan()
    main_video = inp.streams.video[0].index
    for stream in inp.streams:
        if stream.index in targets and not lossless:
            source = cast(AudioStream, stream)
            target, note = _add_encoder(out, fmt, source)
            ctx = source.codec_context
            plan.jobs[stream.index] = _AudioJob(
                target=target, shift=round(offset_ms * ctx.sample_rate / 1000), rate=ctx.sample_rate,
                layout=ctx.layout.name, fmt=target.format.name, planar=target.format.is_planar,
                converter=av.AudioResampler(format=target.format.name, layout=ctx.layout.name,
                                            rate=ctx.sample_rate))
            plan.note = plan.note or note
            plan.codec_out = plan.codec_out or target.codec_context.codec.canonical_name
            plan.bit_rate = plan.bit_rate or target.bit_rate or None
            continue
        if _is_chapter_track(inp, stream):
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
    plan: _Plan
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


def _write(src: Path, part: Path, fmt: str, offset_ms: float, lossless: bool, all_audio: bool,
           progress: Optional[ProgressCallback], cancel: Optional[CancelToken]) -> _Written:
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
            plan = _plan(inp, out, fmt, offset_ms, targets, lossless)
            chapters = inp.chapters()
            if chapters:
                out.set_chapters(chapters)
            clips = {index: _Clip() for index, ticks in plan.lossless_ticks.items() if ticks > 0}
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
                    job.feed(cast(list[av.AudioFrame], packet.decode()), out, flush=packet.size == 0)
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
        )


def verify(path: Path, fmt: str, expected: list[tuple[str, Optional[str]]], duration_s: float,
           tolerance_s: float) -> None:
    """Probe a written file: the expected stream types in order, the same video codec, the duration."""
    try:
        with av.open(str(path), format=fmt, metadata_errors="ignore") as check:
            streams = [s for s in check.streams if not _is_chapter_track(check, s)]
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
    part = create_part(dst, ExportError)
    try:
        try:
            done = _write(src, part, fmt, offset_ms, lossless, all_audio, progress, cancel)
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
        os.replace(part, dst)
    except BaseException:
        remove_quietly(part)
        raise
    plan = done.plan
    return ExportResult(
        source=src, output=dst, offset_ms=offset_ms, shift_samples=done.shift, sample_rate=done.rate,
        method="lossless" if lossless else "re-encode", audio_codec_in=done.codec_in,
        audio_codec_out=plan.codec_out, audio_bit_rate=None if lossless else plan.bit_rate,
        video_codec=done.video_codec, shifted_streams=done.shifted,
        copied_streams=tuple(i for i in plan.copies if i not in plan.lossless_ticks),
        dropped=tuple(plan.dropped), note=plan.note, duration_s=done.duration_s, chapters=done.chapters,
    )
