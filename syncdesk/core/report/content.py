"""What a file's QC report shows, gathered once from the document, the tolerance and the media, so
that the HTML page and the PDF cannot disagree: each says what a :class:`FileReport` holds.

Numbers taken from the document keep their exact value beside the text shown (``Field.value``):
the HTML page carries it in a ``data-value`` attribute, so a reader (or a test) can check that the
page says what the document says.
"""

from __future__ import annotations

import datetime
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ... import __version__
from ..errors import SyncdeskError
from ..media import ANALYSIS_FPS
from ..quality import direction, tier
from ..results import Analysis, SyncSegment, ToleranceVerdict
from ..sizes import human_size
from ..sync.sync_model import supported
from ..tolerance import Tolerance, describe, judge
from . import plot
from .facts import MediaFacts, media_facts
from .thumbs import track_thumbnails

#: the page's one-word result for each tolerance result
BADGES = {"within": "PASS", "outside": "FAIL", "unknown": "UNKNOWN"}


@dataclass(frozen=True)
class Field:
    """One labelled line. ``key`` and ``value``: the document's field and its exact value, for the
    numbers a page must show as the document has them."""

    label: str
    text: str
    key: Optional[str] = None
    value: Optional[float | int | str] = None
    mono: bool = False  # hashes, paths and commands: shown in a fixed-width font


@dataclass(frozen=True)
class SegmentRow:
    number: int
    start_s: float
    end_s: float
    offset_ms: Optional[float]
    end_offset_ms: Optional[float]
    confidence: float
    evidence: str  # "confident" or "weak" (too few of its windows measured it to judge it)
    judged: str  # "within", "outside" or "not judged"

    @property
    def offset_text(self) -> str:
        if self.offset_ms is None:
            return "no evidence"
        if self.end_offset_ms is None:
            return ms(self.offset_ms)
        return f"{ms(self.offset_ms)} → {ms(self.end_offset_ms)}"


@dataclass(frozen=True)
class TrackRow:
    id: int
    on_screen: str
    offset_ms: float
    confidence: float
    speaking_s: float
    in_verdict: bool
    thumbnail: Optional[bytes]  # JPEG


@dataclass
class FileReport:
    """Everything one file's page shows (``analysis`` None: the file has no document, ``reason``
    says why)."""

    name: str
    path: str
    created: str
    analysis: Optional[Analysis] = None
    missing_badge: str = "NO DATA"  # without a document: "ERROR", "SKIPPED" or "NO DATA"
    verdict: Optional[ToleranceVerdict] = None
    tolerance: Optional[Tolerance] = None
    reason: str = ""
    summary: list[Field] = field(default_factory=list)
    segments: list[SegmentRow] = field(default_factory=list)
    plot_svg: bytes = b""
    plot_png: bytes = b""
    timeline_svg: Optional[bytes] = None
    timeline_png: Optional[bytes] = None
    tracks: list[TrackRow] = field(default_factory=list)
    facts: list[Field] = field(default_factory=list)
    reproduce: list[Field] = field(default_factory=list)
    command: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        return self.verdict.result if self.verdict is not None else "unknown"

    @property
    def headline(self) -> str:
        """``outside EBU R37 (+40/-60 ms)``: the result and the tolerance, beside the badge."""
        if self.analysis is None or self.tolerance is None:
            return "No analysis for this file"
        word = "not judged against" if self.result == "unknown" else self.result
        return f"{word} {self.tolerance.label()}"

    @property
    def plot_caption(self) -> str:
        over_time = self.analysis.sync_over_time if self.analysis is not None else None
        if over_time is None:
            return "This document has no offset over time: the line is the clip's one offset."
        return (f"Each dot is the offset measured over {over_time.window_s:g} s around it, every {over_time.hop_s:g} s "
                "(hollow: too weak to judge); the dark line is the model of the whole file (dotted: too little "
                "evidence); green: the tolerance; red: where the file is outside it.")

    @property
    def badge(self) -> str:
        return BADGES[self.result] if self.analysis is not None else self.missing_badge


def display(text: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 (kept by Python
    as surrogates) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def ms(value: float) -> str:
    return f"{value:+.1f} ms"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def now() -> str:
    """The report's date: local time and its zone, to the minute."""
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def verdict_for(analysis: Analysis, tolerance: Tolerance) -> ToleranceVerdict:
    """The document's own verdict when it was judged against ``tolerance``, else a new one."""
    kept = analysis.tolerance
    if kept is not None and (kept.name, kept.lead_ms, kept.lag_ms) == (tolerance.name, tolerance.lead_ms,
                                                                        tolerance.lag_ms):
        return kept
    return judge(analysis, tolerance)


def missing_report(path: os.PathLike | str, reason: str, created: str, badge: str = "NO DATA") -> FileReport:
    return FileReport(display(Path(path).name), display(str(path)), created, reason=reason, missing_badge=badge)


def file_report(analysis: Analysis, tolerance: Tolerance, created: str,
                media: Optional[os.PathLike | str] = None) -> FileReport:
    """Gather a file's report; ``media``: where the file is now (default: the document's path)."""
    media_path = Path(media if media is not None else analysis.source.path)
    verdict = verdict_for(analysis, tolerance)
    facts = media_facts(media_path, analysis.source.size)
    report = FileReport(display(media_path.name), display(str(media_path)), created, analysis=analysis,
                        verdict=verdict, tolerance=tolerance, reason=describe(verdict))
    report.warnings = [*analysis.warnings, *facts.problems]
    thumbnails: dict[int, bytes] = {}
    if facts.info is not None:
        try:
            thumbnails = track_thumbnails(media_path, analysis.tracks)
        except SyncdeskError as exc:
            report.warnings.append(f"no face pictures: {exc}")
    start_s, end_s = _span(analysis, facts)
    offset_figure = plot.offset_figure(analysis, verdict, start_s, end_s)
    report.plot_svg, report.plot_png = plot.svg(offset_figure), plot.png(offset_figure)
    timeline = plot.speaking_figure(analysis, start_s, end_s)
    if timeline is not None:
        report.timeline_svg, report.timeline_png = plot.svg(timeline), plot.png(timeline)
    report.summary = _summary(analysis, verdict, tolerance)
    report.segments = _segments(analysis, verdict)
    report.tracks = _tracks(analysis, thumbnails)
    report.facts = _facts(facts)
    report.command = reproduce_command(analysis, tolerance, media_path)
    report.reproduce = _reproduce(analysis)
    return report


def _span(analysis: Analysis, facts: MediaFacts) -> tuple[float, float]:
    """The analysed stretch on the file's clock (the clock of the offset's time stamps)."""
    over_time = analysis.sync_over_time
    if over_time is not None and over_time.segments:
        return over_time.segments[0].start_s, over_time.segments[-1].end_s
    start = facts.info.video_start_s if facts.info is not None else 0.0
    frames = len(analysis.active_speaker) or round(analysis.source.duration_s * ANALYSIS_FPS)
    return start, start + frames / ANALYSIS_FPS


def _summary(analysis: Analysis, verdict: ToleranceVerdict, tolerance: Tolerance) -> list[Field]:
    fields = [
        Field("Tolerance", tolerance.label(), "tolerance.name", verdict.name),
        Field("Audio may lead by", f"{verdict.lead_ms:g} ms", "tolerance.lead_ms", verdict.lead_ms),
        Field("Audio may lag by", f"{verdict.lag_ms:g} ms", "tolerance.lag_ms", verdict.lag_ms),
        Field("Result", verdict.result, "tolerance.result", verdict.result),
    ]
    if verdict.worst_ms is not None:
        beyond = (f"{verdict.excess_ms:.1f} ms beyond the {verdict.limit} limit" if verdict.result == "outside"
                  else f"{-(verdict.excess_ms or 0.0):.1f} ms inside the {verdict.limit} limit")
        fields.append(Field("Worst confident offset", f"{ms(verdict.worst_ms)} ({beyond})", "tolerance.worst_ms",
                            verdict.worst_ms))
    if verdict.outside:
        spans = ", ".join(f"{s['start_s']:.1f}–{s['end_s']:.1f} s" for s in verdict.outside)
        fields.append(Field("Outside the tolerance", spans))
    fields += [
        Field("Clip offset (one for the file)", f"{ms(analysis.offset_ms)}: {direction(analysis.offset_ms)}",
              "offset_ms", analysis.offset_ms),
        Field("Clip offset in frames", f"{analysis.offset_frames:+d} (25 fps analysis frames, 40 ms each)",
              "offset_frames", analysis.offset_frames),
        Field("Confidence", f"{analysis.confidence:.2f} ({certainty(analysis)})", "confidence",
              analysis.confidence),
        Field("Sync over time", model_text(analysis), "sync_over_time.model",
              analysis.sync_over_time.model if analysis.sync_over_time is not None else None),
    ]
    return fields


def certainty(analysis: Analysis) -> str:
    """The confidence in words, as the verdict line says it (capped where the evidence is thin)."""
    words = tier(analysis.confidence, analysis.tier_cap)
    if words is None:
        return "too low to judge"
    return words if words == tier(analysis.confidence) else f"{words}: capped, see the notes"


def model_text(analysis: Analysis) -> str:
    """The model of the offset over time in a few words."""
    over_time = analysis.sync_over_time
    if over_time is None:
        return "not measured (an older document)"
    if over_time.model == "drift" and over_time.drift_ms_per_min is not None:
        return f"drift, {over_time.drift_ms_per_min:+.1f} ms a minute"
    if over_time.model == "steps":
        return f"steps, {len(over_time.segments)} segments"
    if over_time.model == "unknown":
        return "unknown (too little confident evidence to model)"
    return over_time.model


def _segments(analysis: Analysis, verdict: ToleranceVerdict) -> list[SegmentRow]:
    over_time = analysis.sync_over_time
    if over_time is None:
        return []
    rows = []
    for number, segment in enumerate(over_time.segments, 1):
        confident = segment.offset_ms is not None and supported(over_time, segment)
        rows.append(SegmentRow(number, segment.start_s, segment.end_s, segment.offset_ms, segment.end_offset_ms,
                               segment.confidence, "confident" if confident else "weak",
                               _judged(segment, verdict) if confident else "not judged"))
    return rows


def _judged(segment: SyncSegment, verdict: ToleranceVerdict) -> str:
    overlaps = any(s["start_s"] < segment.end_s and segment.start_s < s["end_s"] for s in verdict.outside)
    return "outside" if overlaps else "within"


def _tracks(analysis: Analysis, thumbnails: dict[int, bytes]) -> list[TrackRow]:
    frame_s = 1.0 / ANALYSIS_FPS
    return [TrackRow(track.id, f"{seconds(track.start_frame * frame_s)} – {seconds((track.end_frame + 1) * frame_s)}",
                     track.offset_ms, track.confidence,
                     sum(1 for s in analysis.active_speaker if s == track.id) * frame_s,
                     track.id in analysis.verdict_tracks, thumbnails.get(track.id))
            for track in analysis.tracks]


def _facts(facts: MediaFacts) -> list[Field]:
    info, extras = facts.info, facts.extras
    if info is None:
        return [Field("File", display(facts.path), mono=True)]
    rows = [
        Field("File", display(facts.path), mono=True),
        Field("Size", f"{human_size(info.size)} ({info.size:,} bytes)"),
        Field("SHA-256", facts.sha256 or "", mono=True),
        Field("Container", extras.container_title or info.container),
        Field("Duration", f"{info.duration_s:.3f} s"),
        Field("Video", ", ".join(filter(None, [info.video_codec, f"{info.width}×{info.height}", extras.pixel_format,
                                               _rate(extras.video_bit_rate)]))),
        Field("Frame rate", f"{info.fps:.3f} fps" + (" (variable)" if info.variable_frame_rate else "")
              + f", {info.frames} frames"),
        Field("Video starts at", f"{info.video_start_s:.3f} s"),
    ]
    if info.has_audio:
        channels = {1: "mono", 2: "stereo"}.get(info.audio_channels or 0, f"{info.audio_channels} channels")
        rows += [
            Field("Audio", ", ".join(filter(None, [info.audio_codec, f"{info.audio_rate} Hz", channels,
                                                   _rate(extras.audio_bit_rate)]))),
            Field("Audio starts at", f"{info.audio_start_s:.3f} s ({_start_gap(info.audio_start_s, info.video_start_s)})"),
        ]
    else:
        rows.append(Field("Audio", "none"))
    if extras.timecode:
        rows.append(Field("Start timecode", display(extras.timecode)))
    return rows


def _rate(bits_per_s: Optional[int]) -> Optional[str]:
    return f"{bits_per_s / 1000:.0f} kb/s" if bits_per_s else None


def _start_gap(audio_s: Optional[float], video_s: float) -> str:
    gap_ms = 1000 * ((audio_s or 0.0) - video_s)
    if abs(gap_ms) < 0.5:
        return "with the video"
    return f"{abs(gap_ms):.0f} ms {'after' if gap_ms > 0 else 'before'} the video"


def _reproduce(analysis: Analysis) -> list[Field]:
    engine = analysis.engine
    if engine.mode == "exact":
        mode = "exact (every window, float32)"
    else:
        mode = "fast (every window)" if engine.window_stride == 1 else f"fast (one window in {engine.window_stride})"
    return [
        Field("syncdesk", engine.version),
        Field("Device", engine.device),
        Field("Face detector", engine.detector),
        Field("Mode", mode),
        Field("Precision", engine.precision),
        Field("Silence weighting", "on" if engine.silence_weighting else "off"),
        Field("SyncNet weights", display(engine.syncnet.get("path", "")), mono=True),
        Field("Weights SHA-256", engine.syncnet.get("sha256", ""), mono=True),
        Field("Report made by", f"syncdesk {__version__}"),
    ]


def reproduce_command(analysis: Analysis, tolerance: Tolerance, media: Path) -> str:
    """The command line that analyses the file again with the same settings and tolerance."""
    engine = analysis.engine
    words = ["syncdesk", "analyze", display(str(media)), "--detector", engine.detector,
             "--tolerance", tolerance.name if tolerance.name != "custom" else f"{tolerance.lead_ms:g}/{tolerance.lag_ms:g}"]
    words += ["--exact"] if engine.mode == "exact" else ["--precision", engine.precision]
    if engine.syncnet.get("path"):
        words += ["--weights", display(engine.syncnet["path"])]
    return shlex.join(words)
