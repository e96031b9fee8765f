"""What an export did (:class:`ExportResult`) and why one could not be written (:class:`ExportError`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..errors import SyncdeskError

if TYPE_CHECKING:
    from ..results import StreamDamage
    from .segments import SegmentFix


CROSSFADE_MS = 8.0  # whole length of a fade at a segment boundary


class ExportError(SyncdeskError):
    """The corrected file cannot be written (bad output path, unsupported stream, disk error)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`shift_audio` or :func:`correct_audio` did."""

    source: Path
    output: Path
    offset_ms: float  # as asked (positive: the audio led, so it was delayed); over time: at the file's start
    shift_samples: int  # applied: > 0 delayed, < 0 advanced, in samples at ``sample_rate``; over time: at the start
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
    #: an offset over time, as applied (the first from the file's start, the last to its end); () for one shift
    segments: tuple[SegmentFix, ...] = ()
    #: shifted audio streams with packets that did not decode: silence in their place, as the analysis has it
    damaged: tuple[StreamDamage, ...] = ()

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
        if self.segments:
            return f"{self._over_time()}; video copied; wrote {self.output}"
        ms = abs(self.applied_ms)
        amount = f"{ms:.0f}" if abs(ms - round(ms)) < 0.05 else f"{ms:.1f}"
        if self.shift_samples == 0:
            moved = "audio not shifted"
        else:
            moved = f"audio {'delayed' if self.shift_samples > 0 else 'advanced'} by {amount} ms"
        return f"{moved}; video copied; wrote {self.output}"

    def _over_time(self) -> str:
        if len(self.segments) == 1:
            line = self.segments[0]
            return (f"audio resampled to remove a drift of {line.drift_ms_per_min:+.0f} ms/min "
                    f"(from {line.describe_ends()})")
        return f"{len(self.segments)} segments shifted: {', '.join(s.describe() for s in self.segments)}"

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
        damage = [f"{d.packets} of {d.of_packets} audio packets did not decode ({d.lost_s:.2f} s from "
                  f"{d.spans_s[0][0]:.1f} s): silence in their place" for d in self.damaged]
        if not self.segments:
            return [f"{audio}, shift {self.shift_samples:+d} samples at {self.sample_rate} Hz", kept, *damage]
        how = []
        if any(s.is_line for s in self.segments):
            how.append("resampled by windowed-sinc interpolation where the offset drifts")
        if len(self.segments) > 1:
            how.append(f"a {CROSSFADE_MS:.0f} ms crossfade at each boundary")
        return [f"{audio}, at {self.sample_rate} Hz, {' and '.join(how)}", kept, *damage]

