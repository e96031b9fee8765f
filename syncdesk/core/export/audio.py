"""Re-encoding a shifted audio stream: the sample shifter, the per-stream job, the encoder choice.

The stream is decoded, moved in samples and encoded again in its own codec at a high bit rate
(lossless codecs and PCM stay lossless). When this FFmpeg build has no usable encoder for it, the
fallback is AAC for mp4/mov, PCM for avi/mkv and Opus for webm.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Optional, Sequence, Union, cast

import av
import numpy as np
from av.audio.stream import AudioStream

from .result import ExportError
from .segments import SegmentFix, pieces
from .timemap import Remapper

#: "high" bit rate: kilobits per second per channel for lossy codecs, and each codec's ceiling
HIGH_KBPS_PER_CHANNEL = {"aac": 128, "mp3": 160, "opus": 96, "ac3": 192, "eac3": 192, "mp2": 192, "wmav2": 96}
MAX_KBPS = {"aac": 512, "mp3": 320, "opus": 510, "ac3": 640, "eac3": 1536, "mp2": 384, "wmav2": 384}
LOSSLESS_CODECS = ("flac", "alac", "wavpack", "tta")
_EXPERIMENTAL = 0x0200  # AV_CODEC_CAP_EXPERIMENTAL: encoders FFmpeg itself does not recommend


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
class AudioJob:
    """One re-encoded stream: decoder, format converter, shifter, encoder."""

    target: AudioStream
    shift: int
    rate: int
    layout: str
    fmt: str
    planar: bool
    converter: av.AudioResampler
    fixes: Sequence[SegmentFix] = ()  # an offset over time instead of ``shift``
    shifter: Optional[Union[SampleShifter, Remapper]] = None
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
                    self.shifter = self._shifter(samples.shape[1], samples.dtype)
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

    def _shifter(self, channels: int, dtype: np.dtype) -> Union[SampleShifter, Remapper]:
        if not self.fixes:
            return SampleShifter(self.shift, channels, dtype)
        assert self.start_pts is not None
        return Remapper(pieces(self.fixes, self.rate, self.start_pts), channels, dtype, self.rate)

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


def add_encoder(out: av.container.OutputContainer, fmt: str, source: AudioStream
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

