"""The document's ``source`` block (issue 20, part 3): start times, a measured VFR flag, the file's own
frame count beside the analysis frames, and the codecs; older documents still load."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from syncdesk.cli import main
from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.results import Analysis, Source

from .oracle import make_flash_clip


def _source(clip: Path, weights: Path) -> Source:
    return analyze(clip, AnalysisOptions(weights=weights, detector="whole-frame")).source


def test_a_30_fps_clip_gives_its_own_frames_beside_the_analysis_frames_and_its_codecs(tmp_path, oracle_weights):
    source = _source(make_flash_clip(tmp_path / "thirty.mkv", seconds=3, fps=30), oracle_weights)
    assert (source.fps, source.file_frames, source.frames, source.analysis_fps) == (30.0, 90, 75, 25)
    assert (source.container, source.video_codec, source.audio_codec) == ("matroska,webm", "ffv1", "pcm_s16le")
    assert (source.width, source.height, source.variable_frame_rate, source.damage) == (64, 64, False, [])
    assert source.video_start_s == 0.0 and source.audio_start_s == 0.0


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_a_video_that_starts_after_its_audio_says_when_each_starts(tmp_path, oracle_weights, suffix):
    """(A Matroska file's duration is the container's, from the audio's start: the video's part of it is
    what a truncated file is judged by, or this clip would be refused as truncated.)"""
    source = _source(make_flash_clip(tmp_path / f"late{suffix}", seconds=3, video_start_s=0.85), oracle_weights)
    assert source.video_start_s == pytest.approx(0.85, abs=0.015) and source.audio_start_s == 0.0
    assert source.duration_s == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_a_variable_frame_rate_is_measured_from_the_timestamps(tmp_path, oracle_weights, suffix):
    assert _source(make_flash_clip(tmp_path / f"vfr{suffix}", seconds=3, vfr=True), oracle_weights).variable_frame_rate


def test_ntsc_timestamps_rounded_to_the_millisecond_are_not_a_variable_rate(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "ntsc.mkv", seconds=3, fps=Fraction(30000, 1001))  # 33 or 34 ms apart
    source = _source(clip, oracle_weights)
    assert not source.variable_frame_rate and source.file_frames == 89


def test_the_fields_are_in_the_json(tmp_path, oracle_weights):
    out = tmp_path / "a.json"
    clip = make_flash_clip(tmp_path / "clip.mp4", seconds=3)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "whole-frame",
                 "--json", str(out), "--quiet"]) == 0
    source = json.loads(out.read_text())["source"]
    assert {"container", "video_codec", "audio_codec", "width", "height", "file_frames", "video_start_s",
            "audio_start_s", "variable_frame_rate", "damage"} <= set(source)
    assert (source["video_codec"], source["audio_codec"], source["file_frames"]) == ("h264", "aac", 75)


def test_a_document_from_before_these_fields_still_loads():
    old = {"schema": "syncdesk.analysis/1",
           "source": {"path": "a.mp4", "size": 1, "duration_s": 4.0, "fps": 25.0, "frames": 100, "audio_rate": 48000,
                      "analysis_fps": 25},
           "engine": {"version": "0", "device": "cpu", "detector": "haar", "syncnet": {"path": "w", "sha256": "0"}},
           "offset_frames": 0, "offset_ms": 0.0, "min_dist": 5.0, "confidence": 7.0, "tracks": [], "shots": [[0, 99]],
           "active_speaker": [], "timings": {}}
    analysis = Analysis.from_dict(old)
    assert (analysis.source.file_frames, analysis.source.video_codec, analysis.source.damage) == (0, "", [])
    assert analysis.source.audio_start_s is None and not analysis.source.variable_frame_rate


def test_the_summary_says_what_the_file_is(tmp_path, oracle_weights, capsys):
    late = make_flash_clip(tmp_path / "late.mkv", seconds=3, video_start_s=0.85)
    vfr = make_flash_clip(tmp_path / "vfr.mp4", seconds=3, vfr=True)
    for clip in (late, vfr):
        assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "whole-frame", "--quiet"]) == 0
    late_out, vfr_out = capsys.readouterr().out.split("vfr.mp4:")
    assert "  file        ffv1 64x64, 25 fps, 75 frames; pcm_s16le 16000 Hz; video starts 0.8" in late_out
    assert "s after the audio (allowed for)" in late_out
    assert "  file        h264 64x64, " in vfr_out and " fps (variable), " in vfr_out and "starts" not in vfr_out
