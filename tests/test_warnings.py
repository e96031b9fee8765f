"""Honest verdicts (issue 20, part 3): the document's and the summary's warnings, and the confidence tier the
verdict's words may claim; the numbers stay the measurement's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.analysis import analyze
from syncdesk.core.errors import AnalysisError
from syncdesk.core.faces.scan import FaceScan
from syncdesk.core.faces.tracking import FaceTrack, keep_tracks
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.pipeline.caveats import _edge_warning
from syncdesk.core.pipeline.faces_stage import usable_tracks
from syncdesk.core.quality import verdict
from syncdesk.core.results import Analysis

from .face_clips import Tile, make_faces_clip
from .oracle import flash_pattern, make_flash_clip

LEFT = (60, 68)


def whole_frame(weights: Path, **extra) -> AnalysisOptions:
    return AnalysisOptions(weights=weights, detector="whole-frame", **extra)


def _warned(analysis: Analysis, words: str) -> list[str]:
    return [w for w in analysis.warnings if words in w]


@pytest.mark.parametrize("exact", [False, True])
def test_a_short_clip_is_called_low_confidence_at_most_and_keeps_its_numbers(tmp_path, oracle_weights, exact):
    clip = make_flash_clip(tmp_path / "short.mkv", seconds=1.8)
    analysis = analyze(clip, whole_frame(oracle_weights, exact=exact))
    [track] = analysis.tracks
    assert (analysis.offset_frames, analysis.confidence) == (track.offset_frames, track.confidence)  # not capped
    assert analysis.confidence >= 4.0 and analysis.tier_cap == "low" and analysis.evidence_s < 2.0
    [warning] = _warned(analysis, "too little evidence")
    assert f"rests on {analysis.evidence_s:.1f} s of sound" in warning and "called low at most" in warning
    words = verdict(analysis.offset_frames, analysis.offset_ms, analysis.confidence, analysis.tier_cap)
    assert words == "in sync (low confidence, capped: see the notes)"


def test_a_few_seconds_of_sound_are_called_medium_at_most(tmp_path, oracle_weights):
    analysis = analyze(make_flash_clip(tmp_path / "three.mkv", seconds=3, audio_lead_s=0.12), whole_frame(oracle_weights))
    assert analysis.tier_cap == "medium" and 2.0 <= analysis.evidence_s < 4.0
    assert _warned(analysis, "under 4 s its confidence is called medium at most")


def test_enough_sound_is_not_capped(tmp_path, oracle_weights):
    analysis = analyze(make_flash_clip(tmp_path / "eight.mkv", seconds=8), whole_frame(oracle_weights))
    assert analysis.tier_cap is None and analysis.evidence_s >= 4.0 and analysis.warnings == []


def test_the_cap_is_in_the_words_only():
    assert verdict(2, 80.0, 9.0) == "out of sync (high confidence): delay the audio by 80 ms to fix"
    assert verdict(2, 80.0, 9.0, "medium") == ("out of sync (medium confidence, capped: see the notes): "
                                               "delay the audio by 80 ms to fix")
    assert verdict(0, 0.0, 4.5, "medium") == "in sync (medium confidence)"  # nothing to cap
    assert verdict(0, 0.0, 1.0, "low").startswith("no reliable verdict")


def test_the_summary_prints_the_capped_verdict_and_the_warnings(tmp_path, oracle_weights, capsys):
    out = tmp_path / "short.json"
    clip = make_flash_clip(tmp_path / "short.mkv", seconds=1.8)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "whole-frame",
                 "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "  verdict     in sync (low confidence, capped: see the notes)" in printed
    assert "  note        too little evidence: the verdict rests on" in printed
    doc = json.loads(out.read_text())
    assert doc["tier_cap"] == "low" and doc["evidence_s"] < 2 and doc["warnings"][0].startswith("too little evidence")


@pytest.mark.parametrize("exact, advice", [(False, "the wide search could not confirm one"),
                                           (True, "analyse without --exact")])
def test_an_offset_on_the_edge_of_the_search_says_the_truth_may_lie_beyond(tmp_path, oracle_weights, exact, advice):
    """800 ms (20 frames) is past the published ±15; a 4 s clip has too little along it for the wide
    search to confirm it, so the verdict lands on the edge (-15 fast, +15 exact) and says so."""
    clip = make_flash_clip(tmp_path / "far.mkv", seconds=4, audio_lead_s=0.8)
    analysis = analyze(clip, whole_frame(oracle_weights, exact=exact))
    assert abs(analysis.offset_frames) == 15 and analysis.tier_cap == "low"
    [warning] = _warned(analysis, "at the edge of the searched range")
    assert f"({analysis.offset_frames:+d} frames, ±600 ms): the true offset may lie beyond it" in warning
    assert advice in warning and "(the wide search points to +20 frames)" in warning


def test_an_offset_on_the_edge_that_the_wide_search_confirms_is_not_warned(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "edge.mkv", seconds=4, audio_lead_s=0.6)  # exactly +15 frames
    for exact in (False, True):
        analysis = analyze(clip, whole_frame(oracle_weights, exact=exact))
        assert analysis.offset_frames == 15 and not _warned(analysis, "edge")


def _context(offset: int, wide: int | None, exact: bool = False) -> SimpleNamespace:
    return SimpleNamespace(verdict=SimpleNamespace(offset_frames=offset), wide_minimum=wide,
                           options=AnalysisOptions(exact=exact))


def test_the_edge_rules():
    assert _edge_warning(_context(14, None)) is None  # inside the range
    assert _edge_warning(_context(15, 15)) is None  # the wide search saw both sides of it
    assert "could not confirm one;" in _edge_warning(_context(15, None))
    assert "(the wide search points to -40 frames)" in _edge_warning(_context(-15, -40, exact=True))
    assert "at the edge of what the wide search could measure" in _edge_warning(_context(60, None))
    assert _edge_warning(_context(60, 60)) is None  # read from the wide search, measured on both sides


def test_steady_sound_is_not_speech(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "hum.mkv", seconds=6, pattern=[True] * 160, video_pattern=flash_pattern(160))
    [warning] = _warned(analyze(clip, whole_frame(oracle_weights, exact=True)), "hardly changes in level")
    assert "not speech" in warning


def test_real_speech_is_not_called_steady(example_avi, oracle_weights):
    analysis = analyze(example_avi, whole_frame(oracle_weights))
    assert not _warned(analysis, "hardly changes") and analysis.evidence_s > 8


def test_sound_that_is_silent_under_the_face_says_there_is_nothing_to_sync(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "mute.mkv", seconds=4, pattern=[False] * 120, video_pattern=flash_pattern(120))
    analysis = analyze(clip, whole_frame(oracle_weights, exact=True))  # fast mode refuses it outright
    assert analysis.evidence_s == 0 and analysis.tier_cap == "low"
    assert _warned(analysis, "there is no sound where the verdict's face is")


def test_a_verdict_on_a_small_face_says_so(tmp_path, example_avi, oracle_weights):
    clip = make_faces_clip(tmp_path / "small.mp4", example_avi, [Tile(1, lambda n: LEFT, side=112)], 0, seconds=6)
    analysis = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="haar", min_face_size=40))
    assert analysis.verdict_source == "speaking-tracks"
    [warning] = _warned(analysis, "under the default --min-face-size 100")
    assert warning.startswith(f"the verdict rests on track {analysis.verdict_tracks[0]}, a face of ")


def test_a_verdict_on_a_briefly_seen_face_says_so(tmp_path, example_avi, oracle_weights):
    clip = make_faces_clip(tmp_path / "brief.mp4", example_avi, [Tile(1, lambda n: LEFT, frames=range(0, 60))], 0,
                           seconds=3)
    analysis = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="haar", min_track=40))
    assert analysis.verdict_source == "speaking-tracks"
    [warning] = _warned(analysis, "under the default --min-track 100")
    assert "a face on screen for 60 frames (2.4 s)" in warning and analysis.tier_cap == "medium"  # little sound too


def test_a_document_without_the_cap_loads_without_one():
    doc = {"schema": "syncdesk.analysis/1",
           "source": {"path": "a.mp4", "size": 1, "duration_s": 4.0, "fps": 25.0, "frames": 100, "audio_rate": 48000},
           "engine": {"version": "0", "device": "cpu", "detector": "haar", "syncnet": {"path": "w", "sha256": "0"}},
           "offset_frames": 0, "offset_ms": 0.0, "min_dist": 5.0, "confidence": 7.0, "tracks": [], "shots": [],
           "active_speaker": [], "timings": {}}
    analysis = Analysis.from_dict(doc)
    assert analysis.tier_cap is None and analysis.evidence_s is None


# Errors that help (issue 20, part 4): when no face is usable, every reason at once, with its figures, and
# advice that fits the footage.

def _track(frames: int, size: float, start: int = 0) -> FaceTrack:
    return FaceTrack(np.arange(start, start + frames), np.tile([10.0, 10.0, 10.0 + size, 10.0 + size], (frames, 1)))


def _refusal(tracks: list[FaceTrack], detector: str = "haar", frame: tuple[int, int] = (1920, 1080)) -> str:
    scan = FaceScan(frames=250, shots=[[0, 249]], tracks=tracks, frames_checked=60, detections=3 * len(tracks))
    with pytest.raises(AnalysisError) as refused:
        usable_tracks(scan, AnalysisOptions(), "clip.mp4", detector, frame)
    return str(refused.value)


def test_no_face_in_a_wide_shot_suggests_s3fd_not_whole_frame():
    message = _refusal([])
    found, advice = message.splitlines()
    assert found == "no face found in clip.mp4: the haar detector found none in 60 frames checked"
    assert advice.startswith("try S3FD, which finds small and turned faces") and "whole-frame" not in message


def test_no_face_in_a_small_square_frame_also_suggests_whole_frame():
    assert _refusal([], frame=(224, 224)).endswith("; or --detector whole-frame if the 224x224 frame is one face crop")
    assert "S3FD" not in _refusal([], detector="s3fd", frame=(224, 224))


def test_every_reason_is_given_at_once_with_its_figures_and_one_way_to_keep_a_track():
    message = _refusal([_track(60, 185.0), _track(130, 87.6, start=70)])
    found, advice = message.splitlines()
    assert found == ("no usable face in clip.mp4: 6 faces found in 60 frames checked, linked into 2 tracks: 1 shorter "
                     "than --min-track 100 frames (the longest: 130 frames, 5.2 s), 1 smaller than --min-face-size "
                     "100 px (the largest: 185 px)")
    assert advice.startswith("try --min-face-size 87 (the verdict then warns that it rests on a small or brief face)")
    kept = keep_tracks([_track(60, 185.0), _track(130, 87.6, start=70)], 100, 87)
    assert len(kept) == 1  # the advice works


def test_a_track_too_short_and_too_small_gets_both_flags():
    advice = _refusal([_track(40, 60.0)]).splitlines()[1]
    assert advice.startswith("try --min-track 40 --min-face-size 60 ")


def test_faces_too_brief_for_any_setting_say_so():
    assert _refusal([_track(4, 150.0)], detector="s3fd").endswith(
        "no setting can help: the faces found are too brief to measure")
