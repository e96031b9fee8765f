"""Markers for editing programs: one per out-of-tolerance stretch of a file or slip of its sync.

The format follows the file's suffix: ``.otio`` (OpenTimelineIO), ``.edl`` (CMX 3600) and
``.fcpxml`` (Final Cut Pro X XML) are written through OpenTimelineIO and its ``cmx_3600`` and
``fcpx_xml`` adapters; ``.csv`` is written here, as no adapter writes one.

Each file holds one video track with one clip that references the analysed media at the file's
own timecode rate (drop-frame at 29.97 and 59.94) from the timecode its first frame carries, and
the markers on that clip in the media's time: the place both adapters write clip markers from.
The EDL and the FCPXML place the clip at its own timecode on their timeline too, so a marker reads
the same on the clip and on the timeline.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote

import opentimelineio as otio

from .errors import SyncdeskError
from .outputs import atomic_output
from .results import Analysis
from .timecodes import is_drop_frame, smpte_rate, start_timecode
from .tolerance import Part, Tolerance, confident_parts, outside_parts

#: beyond a limit by at most this, a stretch is "just outside": within half an analysis frame of
#: the limit, nearer it than a whole-frame measurement can tell apart
JUST_OUTSIDE_MS = 20.0
#: severity -> the marker's colour (an OpenTimelineIO ``MarkerColor`` name, which EDL LOC lines use)
COLOURS = {"well outside": "RED", "just outside": "ORANGE", "slip": "YELLOW"}
CSV_COLUMNS = ("timecode_in", "timecode_out", "start_s", "end_s", "name", "offset_ms", "confidence",
               "severity", "colour", "comment")
_OWN_KEY = "syncdesk"  # the namespace of our metadata in an OTIO marker


@dataclass(frozen=True)
class Marker:
    """A place an editor should look at, in the words the editing program's marker list shows."""

    name: str
    start_s: float  # on the analysis clock: 0 is the file's first video frame
    duration_s: float  # the stretch outside the tolerance; 0 for a slip
    offset_ms: float  # the audio's lead (contract sign) at the start, or after the slip
    confidence: float
    severity: str  # a key of COLOURS
    colour: str
    comment: str


def plan_markers(analysis: Analysis, tolerance: Tolerance) -> list[Marker]:
    """The markers for ``analysis`` judged against ``tolerance``, in time order.

    One per confident stretch outside the tolerance (a slip into it is that stretch's marker),
    and one per slip between two adjacent within-tolerance segments of a "steps" model.
    Colour by severity: RED beyond a limit by more than half an analysis frame (well outside),
    ORANGE beyond it by at most that (just outside: a whole-frame measurement could not tell it
    from the limit), YELLOW a slip that stays within the tolerance (worth a look, not a fault)."""
    markers = [_outside_marker(part, tolerance) for part in outside_parts(analysis, tolerance)]
    markers += [_slip_marker(before, after, tolerance) for before, after in _slips(analysis, tolerance)]
    return sorted(markers, key=lambda marker: marker.start_s)


def _outside_marker(part: Part, tolerance: Tolerance) -> Marker:
    worst = max(part.ends(), key=tolerance.excess_ms)
    severity = "well outside" if tolerance.excess_ms(worst) > JUST_OUTSIDE_MS else "just outside"
    limit = tolerance.limit_for(worst)
    allowed = tolerance.lead_ms if limit == "lead" else tolerance.lag_ms
    amount = " to ".join(_ms(offset) for offset in part.ends())
    name = f"audio {amount} ms {'early' if limit == 'lead' else 'late'} ({tolerance.title} allows {allowed:g})"
    return Marker(name, part.start_s, part.end_s - part.start_s, part.offset_ms, part.confidence, severity,
                  COLOURS[severity], _comment(part, tolerance))


def _slips(analysis: Analysis, tolerance: Tolerance) -> list[tuple[Part, Part]]:
    """Adjacent confident segments of a "steps" model, both within the tolerance, that differ."""
    over_time = analysis.sync_over_time
    if over_time is None or over_time.model != "steps":
        return []
    parts = confident_parts(analysis)
    return [(before, after) for before, after in zip(parts, parts[1:])
            if math.isclose(before.end_s, after.start_s, abs_tol=1e-3) and before.offset_ms != after.offset_ms
            and tolerance.allows(before.offset_ms) and tolerance.allows(after.offset_ms)]


def _slip_marker(before: Part, after: Part, tolerance: Tolerance) -> Marker:
    name = f"slip: {_audio(after.offset_ms)} (was {_audio(before.offset_ms)}), within {tolerance.title}"
    return Marker(name, after.start_s, 0.0, after.offset_ms, after.confidence, "slip", COLOURS["slip"],
                  _comment(after, tolerance))


def _audio(offset_ms: float) -> str:
    if _ms(offset_ms) == "0":
        return "audio in sync"
    return f"audio {_ms(offset_ms)} ms {'early' if offset_ms > 0 else 'late'}"


def _ms(offset_ms: float) -> str:
    """Tenths at most, so that 40.4 ms never reads as a limit of 40."""
    return f"{round(abs(offset_ms), 1):g}"


def _comment(part: Part, tolerance: Tolerance) -> str:
    """The numbers behind a marker, for its note: where, the offset (contract sign), how sure."""
    offsets = " to ".join(f"{offset:+.1f}" for offset in part.ends())
    return (f"{part.start_s:.1f}-{part.end_s:.1f} s: offset {offsets} ms (> 0: the audio leads), "
            f"confidence {part.confidence:.1f}, {tolerance.label()}")


# --- writing -------------------------------------------------------------------------------------


def check_markers_output(path: os.PathLike | str, overwrite: bool = False) -> Path:
    """Refuse an unknown suffix or an existing file (unless ``overwrite``): before an analysis."""
    path = Path(path)
    if path.suffix.lower() not in _WRITERS:
        raise SyncdeskError(f"markers are written as {', '.join(_WRITERS)} files: {path.name!r} is none of these")
    if path.exists() and not overwrite:
        raise SyncdeskError(f"{path} already exists: pass --overwrite to replace it")
    return path


def write_markers(analysis: Analysis, path: os.PathLike | str, tolerance: Tolerance, *,
                  overwrite: bool = False) -> list[Marker]:
    """Write the markers of ``analysis`` against ``tolerance`` to ``path`` in the format its suffix
    names, atomically; a file with no markers is still a valid one. Returns the markers."""
    path = check_markers_output(path, overwrite)
    markers = plan_markers(analysis, tolerance)
    text = _WRITERS[path.suffix.lower()](_Media.of(analysis), markers)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as part, open(part, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
    return markers


@dataclass(frozen=True)
class _Media:
    """The analysed file as an editing program counts it."""

    name: str  # one printable line
    url: str
    rate: float  # an SMPTE rate (timecodes.SMPTE_RATES)
    start: otio.opentime.RationalTime  # the first frame's timecode
    frames: int

    @classmethod
    def of(cls, analysis: Analysis) -> "_Media":
        source = analysis.source
        rate = smpte_rate(source.fps)
        duration = source.duration_s if math.isfinite(source.duration_s) else 0.0
        return cls(_printable(Path(source.path).name) or "clip", _file_url(source.path), rate,
                   _start(source.path, rate), max(1, round(duration * rate)))

    @property
    def drop_frame(self) -> bool:
        return is_drop_frame(self.rate)

    def frame(self, seconds: float) -> int:
        """The frame shown at ``seconds`` from the first; the clip's end at most."""
        return min(max(0, round(seconds * self.rate)), self.frames)

    def time(self, seconds: float) -> otio.opentime.RationalTime:
        return self.start + otio.opentime.RationalTime(self.frame(seconds), self.rate)

    def timecode(self, seconds: float) -> str:
        return otio.opentime.to_timecode(self.time(seconds), self.rate, self.drop_frame)

    def range(self) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(self.start, otio.opentime.RationalTime(self.frames, self.rate))


def _start(path: str, rate: float) -> otio.opentime.RationalTime:
    """The file's start timecode at ``rate``; 00:00:00:00 when it has none or one that does not fit."""
    found = start_timecode(path)
    try:
        return otio.opentime.from_timecode(found, rate) if found else otio.opentime.RationalTime(0, rate)
    except ValueError:  # a drop-frame code at a non-drop rate, a frame number beyond the rate
        return otio.opentime.RationalTime(0, rate)


def _printable(text: str) -> str:
    """One line of printable text, as an EDL comment or an XML attribute can carry it: a file name
    may hold line breaks, control characters, or bytes that are not UTF-8."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join("".join(char if char.isprintable() else " " for char in text).split())


def _file_url(path: str) -> str:
    """``file://`` URL of the media, percent-encoded (quotes, spaces and line breaks included)."""
    absolute = Path(path).absolute()
    try:
        return absolute.as_uri()
    except UnicodeEncodeError:  # a name no file system encoding can hold
        return "file://" + quote(str(absolute).encode("utf-8", "replace"))


def _timeline(media: _Media, markers: list[Marker], *, clip_name: Optional[str] = None,
              record_from_start: bool = False) -> otio.schema.Timeline:
    """One video track, one clip of the whole media, the markers on the clip. With
    ``record_from_start``, a gap as long as the start timecode puts the clip at its own timecode
    on the track (an EDL's record timecode has no other way to say it)."""
    reference = otio.schema.ExternalReference(target_url=media.url, available_range=media.range())
    reference.name = media.name
    clip = otio.schema.Clip(name=clip_name or media.name, media_reference=reference, source_range=media.range())
    clip.markers.extend(_otio_marker(media, marker) for marker in markers)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    if record_from_start and media.start.value > 0:
        track.append(otio.schema.Gap(duration=media.start))
    track.append(clip)
    timeline = otio.schema.Timeline(name=media.name, global_start_time=media.start)
    timeline.tracks.append(track)
    return timeline


def _otio_marker(media: _Media, marker: Marker) -> otio.schema.Marker:
    start = min(media.frame(marker.start_s), media.frames - 1)  # on a frame of the clip
    frames = media.frame(marker.start_s + marker.duration_s) - start
    marked = otio.opentime.TimeRange(media.start + otio.opentime.RationalTime(start, media.rate),
                                     otio.opentime.RationalTime(frames, media.rate))
    return otio.schema.Marker(
        name=marker.name, marked_range=marked, color=marker.colour, comment=marker.comment,
        metadata={_OWN_KEY: {"offset_ms": marker.offset_ms, "confidence": marker.confidence,
                             "severity": marker.severity, "start_s": marker.start_s,
                             "duration_s": marker.duration_s}})


def _otio_text(media: _Media, markers: list[Marker]) -> str:
    return otio.adapters.write_to_string(_timeline(media, markers), adapter_name="otio_json")


_DROP_FRAME_CODE = re.compile(r"\b(\d\d:\d\d:\d\d);(\d\d)\b")


def _edl_text(media: _Media, markers: list[Marker]) -> str:
    """The cmx_3600 adapter's EDL (markers as ``* LOC:`` lines), with the frame code mode line it
    leaves out. Drop-frame codes are written the CMX 3600 way, with colons, and the ``FCM: DROP
    FRAME`` line saying how to count them: OpenTimelineIO's reader drops a LOC line with a ``;``."""
    timeline = _timeline(media, markers, record_from_start=True)
    for clip in timeline.find_clips():
        clip.metadata["cmx_3600"] = {"reel": _reel(media.name)}
    text = otio.adapters.write_to_string(timeline, adapter_name="cmx_3600", rate=media.rate)
    mode = "DROP FRAME" if media.drop_frame else "NON-DROP FRAME"
    return _DROP_FRAME_CODE.sub(r"\1:\2", text.replace("\n", f"\nFCM: {mode}\n", 1))


def _reel(name: str) -> str:
    """A CMX 3600 reel name: up to eight letters and digits (the adapter's own keeps spaces, which
    split the event line into too many fields)."""
    return re.sub(r"[^A-Za-z0-9]", "", Path(name).stem)[:8] or "AX"


def _fcpxml_text(media: _Media, markers: list[Marker]) -> str:
    """The fcpx_xml adapter's FCPXML, completed where the adapter falls short: the frame duration
    of rates its table lacks (every NTSC rate but 29.97 and 59.94 as typed decimals), the
    timecode format (drop-frame or not), and the sequence starting at the clip's timecode."""
    # the adapter looks names up in an XPath predicate in quotes: a straight quote breaks it
    clip_name = media.name.replace("'", "\u2019")
    text = otio.adapters.write_to_string(_timeline(media, markers, clip_name=clip_name), adapter_name="fcpx_xml")
    root = ElementTree.fromstring(text)
    rate = Fraction(media.rate).limit_denominator(1001)
    for element in root.iter("format"):
        element.set("frameDuration", element.get("frameDuration") or f"{rate.denominator}/{rate.numerator}s")
    tc_format = "DF" if media.drop_frame else "NDF"
    start = _fcpx_time(media.start)
    for sequence in root.iter("sequence"):
        sequence.set("tcStart", start)
        sequence.set("tcFormat", tc_format)
        for item in sequence.iterfind("spine/*"):
            item.set("offset", start)
    for element in (*root.iter("clip"), *root.iter("asset-clip")):
        element.set("tcFormat", tc_format)
    ElementTree.indent(root, space="    ")
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{body}\n'


def _fcpx_time(time: otio.opentime.RationalTime) -> str:
    """An FCPXML time: exact seconds as a ratio (``36000/1s``, ``1001/30000s``)."""
    seconds = Fraction(round(time.value)) / Fraction(time.rate).limit_denominator(1001)
    return f"{seconds.numerator}s" if seconds.denominator == 1 else f"{seconds.numerator}/{seconds.denominator}s"


def _csv_text(media: _Media, markers: list[Marker]) -> str:
    """One row per marker for a person or a script: timecodes (drop-frame with ``;``) and seconds."""
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for marker in markers:
        end_s = marker.start_s + marker.duration_s
        writer.writerow([media.timecode(marker.start_s), media.timecode(end_s), f"{marker.start_s:.3f}",
                         f"{end_s:.3f}", marker.name, f"{marker.offset_ms:.1f}", f"{marker.confidence:.2f}",
                         marker.severity, marker.colour, marker.comment])
    return stream.getvalue()


_WRITERS: dict[str, Callable[[_Media, list[Marker]], str]] = {
    ".otio": _otio_text, ".edl": _edl_text, ".fcpxml": _fcpxml_text, ".csv": _csv_text,
}
