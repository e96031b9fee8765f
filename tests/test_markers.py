"""NLE markers: planned from the tolerance verdict's parts, written as OTIO, EDL, FCPXML and CSV,
and read back with OpenTimelineIO at the file's own timecode (drop-frame, a start timecode)."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ElementTree
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import av
import numpy as np
import opentimelineio as otio
import pytest

from syncdesk.core.errors import SyncdeskError
from syncdesk.core.markers import CSV_COLUMNS, plan_markers, write_markers
from syncdesk.core.results import Analysis, Engine, Source, SyncOverTime, SyncPoint, SyncSegment
from syncdesk.core.timecodes import is_drop_frame, smpte_rate, start_timecode, timecode
from syncdesk.core.tolerance import TOLERANCES, parse_tolerance

EBU = TOLERANCES["ebu-r37"]
NTSC = 30000 / 1001
FORMATS = (".otio", ".edl", ".fcpxml", ".csv")
SLIP_NAME = "audio 160 ms early (EBU R37 allows 40)"


def _document(offset_at: Optional[Callable[[float], float]] = None, segments: tuple = (), model: str = "steps",
              offset_ms: float = 0.0, confidence: float = 7.0, duration_s: float = 60.0, fps: float = 25.0,
              path: str = "clip.mp4") -> Analysis:
    """An Analysis built by hand: the clip's verdict, and sync over time when ``offset_at`` is given."""
    over_time = None
    if offset_at is not None:
        points = [SyncPoint(t, offset_at(t), 6.0) for t in range(4, int(duration_s) - 3, 2)]
        over_time = SyncOverTime(8.0, 2.0, points, model,
                                 segments=[SyncSegment(start, end, offset, 6.0, *rest)
                                           for start, end, offset, *rest in segments])
    frames = int(duration_s * 25)
    return Analysis(
        source=Source(path, 1000, duration_s, fps, round(duration_s * fps), 48000),
        engine=Engine(version="test", device="cpu", detector="whole-frame", syncnet={"path": "w", "sha256": "0" * 64}),
        offset_frames=round(offset_ms / 40), offset_ms=offset_ms, min_dist=6.5, confidence=confidence, tracks=[],
        shots=[[0, frames - 1]], active_speaker=[None] * frames, timings={"total": 1.0}, sync_over_time=over_time,
    )


def _slip_at_20s(**source) -> Analysis:
    """In sync, then the audio 160 ms early from 20 s on: the acceptance check's clip."""
    return _document(lambda t: 0.0 if t < 20 else 160.0, [(0.0, 20.0, 0.0), (20.0, 60.0, 160.0)], **source)


def _drop_frame_label(frame: int, start: int = 0) -> str:
    """SMPTE 12M drop-frame at 29.97, computed here rather than by the code under test: frame
    numbers 0 and 1 are skipped at each minute but every tenth."""
    frame += start
    tens, rest = divmod(frame, 17982)
    frame += 18 * tens + 2 * max(0, (rest - 2) // 1798)
    return f"{frame // 108000:02d}:{frame // 1800 % 60:02d}:{frame // 30 % 60:02d};{frame % 30:02d}"


def _clip_with_timecode(path: Path, fps: Fraction, code: Optional[str], seconds: float = 1.0) -> Path:
    """A short silent clip whose first frame carries ``code`` (PyAV passes the container's
    ``timecode`` tag to the muxer, which writes a MOV/MP4 ``tmcd`` track)."""
    with av.open(str(path), "w") as container:
        if code:
            container.metadata["timecode"] = code
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _read_markers(path: Path, rate: float) -> tuple[otio.schema.Clip, list[otio.schema.Marker]]:
    """The one clip OpenTimelineIO reads back from ``path``, and its markers."""
    options = {"rate": rate} if path.suffix == ".edl" else {}
    [clip] = otio.adapters.read_from_file(str(path), **options).find_clips()
    return clip, list(clip.markers)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


# --- what is marked --------------------------------------------------------------------------------


def test_a_slip_into_an_outside_segment_is_one_marker_at_the_slip():
    [marker] = plan_markers(_slip_at_20s(), EBU)
    assert abs(marker.start_s - 20.0) <= 1.0
    assert (marker.name, marker.duration_s, marker.offset_ms, marker.confidence) == (SLIP_NAME, 40.0, 160.0, 6.0)
    assert (marker.severity, marker.colour) == ("well outside", "RED")
    assert "+160.0 ms" in marker.comment and "confidence 6.0" in marker.comment


def test_colour_by_severity_and_words_for_late_sound_and_drift():
    [just] = plan_markers(_document(offset_ms=50.0), EBU)
    assert (just.name, just.colour, just.start_s, just.duration_s) == (
        "audio 50 ms early (EBU R37 allows 40)", "ORANGE", 0.0, 60.0)
    [late] = plan_markers(_document(offset_ms=-140.0), EBU)
    assert (late.name, late.colour) == ("audio 140 ms late (EBU R37 allows 60)", "RED")
    [near] = plan_markers(_document(offset_ms=40.4), EBU)
    assert near.name == "audio 40.4 ms early (EBU R37 allows 40)"
    drift = _document(lambda t: 2.0 * t - 40.0, [(0.0, 60.0, -40.0, 80.0)], model="drift")
    [drifting] = plan_markers(drift, EBU)
    assert (drifting.name, drifting.start_s, drifting.colour) == (
        "audio 40 to 80 ms early (EBU R37 allows 40)", 40.0, "RED")
    assert "+40.0 to +80.0 ms" in drifting.comment


def test_a_slip_within_the_tolerance_is_a_yellow_marker_at_the_step():
    steps = _document(lambda t: 0.0 if t < 30 else 30.0, [(0.0, 30.0, 0.0), (30.0, 60.0, 30.0)])
    [slip] = plan_markers(steps, EBU)
    assert (slip.start_s, slip.duration_s, slip.offset_ms, slip.severity, slip.colour) == (
        30.0, 0.0, 30.0, "slip", "YELLOW")
    assert slip.name == "slip: audio 30 ms early (was audio in sync), within EBU R37"
    [outside] = plan_markers(steps, parse_tolerance("20/20"))  # the same step, just outside a tighter tolerance
    assert (outside.name, outside.start_s, outside.colour) == (
        "audio 30 ms early (custom tolerance allows 20)", 30.0, "ORANGE")


def test_in_sync_or_unmeasured_documents_have_no_markers():
    assert plan_markers(_document(offset_ms=-20.0), EBU) == []
    assert plan_markers(_document(offset_ms=300.0, confidence=1.0), EBU) == []  # no confident evidence
    weak_tail = _document(lambda t: 0.0 if t < 40 else 160.0, [(0.0, 40.0, 0.0), (40.0, 60.0, 160.0)])
    weak_tail.sync_over_time.points = [p if p.t_s < 40 else SyncPoint(p.t_s, p.offset_ms, 0.5)
                                       for p in weak_tail.sync_over_time.points]
    assert plan_markers(weak_tail, EBU) == []


# --- the files, read back --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_no_markers_is_still_a_valid_file(tmp_path: Path, suffix: str):
    for index, analysis in enumerate((_document(offset_ms=10.0), _document(offset_ms=300.0, confidence=0.5))):
        path = tmp_path / f"m{index}{suffix}"
        assert write_markers(analysis, path, EBU) == []
        if suffix == ".csv":
            assert _csv_rows(path) == []
        else:
            assert _read_markers(path, 25.0)[1] == []


def test_the_slip_reads_back_from_every_format_at_29_97_drop_frame(tmp_path: Path):
    # a second stretch after two minutes, where drop-frame and frame counting part ways
    analysis = _document(lambda t: 0.0 if t < 20 else 160.0 if t < 60 else 0.0 if t < 125 else -100.0,
                         [(0.0, 20.0, 0.0), (20.0, 60.0, 160.0), (60.0, 125.0, 0.0), (125.0, 180.0, -100.0)],
                         duration_s=180.0, fps=29.97)
    frames = [round(20.0 * NTSC), round(125.0 * NTSC)]
    labels = [_drop_frame_label(frame) for frame in frames]
    assert labels == ["00:00:19;29", "00:02:05;00"]
    names = [SLIP_NAME, "audio 100 ms late (EBU R37 allows 60)"]

    assert [m.name for m in write_markers(analysis, tmp_path / "m.otio", EBU)] == names
    clip, markers = _read_markers(tmp_path / "m.otio", NTSC)
    assert [(m.name, otio.opentime.to_timecode(m.marked_range.start_time, NTSC)) for m in markers] == list(
        zip(names, labels))
    assert [m.color for m in markers] == ["RED", "RED"]
    assert markers[0].metadata["syncdesk"]["offset_ms"] == 160.0 and "confidence 6.0" in markers[0].comment

    write_markers(analysis, tmp_path / "m.edl", EBU)
    text = (tmp_path / "m.edl").read_text(encoding="utf-8")
    assert "FCM: DROP FRAME" in text.splitlines()[:3]
    # drop-frame codes written with colons (CMX 3600; OTIO's LOC reader needs them), counted drop-frame
    assert f"* LOC: {labels[0].replace(';', ':')} RED     {SLIP_NAME.upper()}" in text
    clip, markers = _read_markers(tmp_path / "m.edl", NTSC)
    assert [m.name for m in markers] == [name.upper() for name in names]
    assert [otio.opentime.to_timecode(m.marked_range.start_time, NTSC, False) for m in markers] == [
        label.replace(";", ":") for label in labels]

    write_markers(analysis, tmp_path / "m.fcpxml", EBU)
    root = ElementTree.parse(tmp_path / "m.fcpxml").getroot()
    assert root.find("resources/format").get("frameDuration") == "1001/30000s"
    assert root.find(".//sequence").get("tcFormat") == "DF"
    starts = [Fraction(m.get("start").rstrip("s")) for m in root.iter("marker")]
    assert starts == [Fraction(frame * 1001, 30000) for frame in frames]  # exact frame times
    clip, markers = _read_markers(tmp_path / "m.fcpxml", NTSC)
    assert [m.name for m in markers] == names
    # the adapter reads an NTSC file at a whole 29 fps: its times are right to within a frame or two
    assert abs(markers[0].marked_range.start_time.to_seconds() - 20.0) < 2 / 29

    write_markers(analysis, tmp_path / "m.csv", EBU)
    rows = _csv_rows(tmp_path / "m.csv")
    assert [(row["timecode_in"], row["name"], row["colour"]) for row in rows] == list(
        zip(labels, names, ["RED", "RED"]))
    assert (rows[0]["timecode_out"], rows[0]["start_s"], rows[0]["offset_ms"], rows[0]["confidence"]) == (
        _drop_frame_label(round(60.0 * NTSC)), "20.000", "160.0", "6.00")


@pytest.mark.parametrize("suffix, fps, code", [
    (".mov", Fraction(25), "10:00:00:00"), (".mp4", Fraction(25), "10:00:00:00"),
    (".mov", Fraction(30000, 1001), "01:00:00;00"),
])
def test_the_start_timecode_is_read_from_the_file(tmp_path: Path, suffix: str, fps: Fraction, code: str):
    assert start_timecode(_clip_with_timecode(tmp_path / f"tc{suffix}", fps, code)) == code
    assert start_timecode(_clip_with_timecode(tmp_path / f"none{suffix}", fps, None)) is None


def test_an_unreadable_file_has_no_start_timecode(tmp_path: Path):
    (tmp_path / "notes.mov").write_text("not a video", encoding="utf-8")
    assert start_timecode(tmp_path / "notes.mov") is None
    assert start_timecode(tmp_path / "missing.mov") is None


def test_a_clip_starting_at_ten_hours_is_marked_at_its_own_timecode(tmp_path: Path):
    media = _clip_with_timecode(tmp_path / "take 1.mov", Fraction(25), "10:00:00:00")
    analysis = _slip_at_20s(path=str(media))
    for suffix in (".otio", ".edl", ".fcpxml"):
        write_markers(analysis, tmp_path / f"m{suffix}", EBU)
        clip, [marker] = _read_markers(tmp_path / f"m{suffix}", 25.0)
        start = marker.marked_range.start_time
        assert otio.opentime.to_timecode(start, 25.0) == "10:00:20:00", suffix
        assert otio.opentime.to_timecode(clip.source_range.start_time, 25.0) == "10:00:00:00", suffix
        assert clip.media_reference.target_url == media.absolute().as_uri(), suffix
    event = next(line for line in (tmp_path / "m.edl").read_text(encoding="utf-8").splitlines() if line[:1].isdigit())
    assert event.split()[4:] == ["10:00:00:00", "10:01:00:00", "10:00:00:00", "10:01:00:00"]  # source = record
    sequence = ElementTree.parse(tmp_path / "m.fcpxml").getroot().find(".//sequence")
    assert (sequence.get("tcStart"), sequence.find("spine/clip").get("offset")) == ("36000s", "36000s")
    write_markers(analysis, tmp_path / "m.csv", EBU)
    assert [(row["timecode_in"], row["timecode_out"]) for row in _csv_rows(tmp_path / "m.csv")] == [
        ("10:00:20:00", "10:01:00:00")]


def test_a_drop_frame_start_timecode_counts_on_from_the_file(tmp_path: Path):
    media = _clip_with_timecode(tmp_path / "ntsc.mov", Fraction(30000, 1001), "01:00:00;00")
    write_markers(_slip_at_20s(path=str(media), fps=NTSC), tmp_path / "m.otio", EBU)
    clip, [marker] = _read_markers(tmp_path / "m.otio", NTSC)
    assert otio.opentime.to_timecode(marker.marked_range.start_time, NTSC) == _drop_frame_label(599, start=107892)
    assert otio.opentime.to_timecode(clip.source_range.start_time, NTSC) == "01:00:00;00"


def test_hostile_file_names_keep_the_edl_and_fcpxml_whole(tmp_path: Path):
    name = "it's a \"clip\"\n* LOC: 00:00:01:00 RED fake\tüñï\x07.mov"
    analysis = _slip_at_20s(path=str(tmp_path / name))
    write_markers(analysis, tmp_path / "m.edl", EBU)
    lines = (tmp_path / "m.edl").read_text(encoding="utf-8").splitlines()
    assert "* FROM CLIP NAME:  it's a \"clip\" * LOC: 00:00:01:00 RED fake üñï .mov" in lines
    assert [line for line in lines if line.startswith("* LOC")] == [f"* LOC: 00:00:20:00 RED     {SLIP_NAME.upper()}"]
    assert all(len(line.split()) == 8 for line in lines if line[:1].isdigit())  # event lines keep their fields
    clip, [marker] = _read_markers(tmp_path / "m.edl", 25.0)
    assert marker.name == SLIP_NAME.upper()
    for suffix in (".fcpxml", ".otio"):
        write_markers(analysis, tmp_path / f"m{suffix}", EBU)
        clip, [marker] = _read_markers(tmp_path / f"m{suffix}", 25.0)
        assert "\n" not in clip.name and "üñï" in clip.name and "%0A" in clip.media_reference.target_url


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.txt", "m.xml", "markers", "m.edl.bak"])
def test_an_unknown_suffix_is_refused_naming_the_accepted_ones(tmp_path: Path, name: str):
    with pytest.raises(SyncdeskError, match=r"\.otio, \.edl, \.fcpxml, \.csv"):
        write_markers(_slip_at_20s(), tmp_path / name, EBU)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_refused_and_left_as_it_was(tmp_path: Path):
    path = tmp_path / "m.edl"
    path.write_text("an editor's own EDL", encoding="utf-8")
    with pytest.raises(SyncdeskError, match="already exists"):
        write_markers(_slip_at_20s(), path, EBU)
    assert path.read_text(encoding="utf-8") == "an editor's own EDL"
    assert len(write_markers(_slip_at_20s(), path, EBU, overwrite=True)) == 1
    assert "* LOC:" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["m.edl"]  # no temporary file left behind


# --- rates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps, rate", [
    (29.97, NTSC), (30000 / 1001, NTSC), (59.94, 60000 / 1001), (23.976, 24000 / 1001), (25.0, 25.0),
    (30.0, 30.0), (50.0, 50.0), (120.0, 60.0), (float("nan"), 25.0), (0.0, 25.0),
])
def test_a_files_rate_is_counted_at_the_nearest_smpte_rate(fps: float, rate: float):
    assert smpte_rate(fps) == rate


def test_drop_frame_is_29_97_and_59_94_only():
    assert [is_drop_frame(smpte_rate(fps)) for fps in (29.97, 59.94, 23.976, 25.0, 30.0)] == [
        True, True, False, False, False]
    assert timecode(61.5, 25.0) == "00:01:01:12"  # the nominal-rate time the app shows is unchanged
