"""End to end without the published weights: the oracle clips have a known offset.

This proves decoding, timing, MFCC windows, the sign convention and the sub-frame estimate.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from syncdesk.cli import main

from .oracle import make_flash_clip


def analyse(clip: Path, weights: Path, *extra: str) -> dict:
    out = clip.with_suffix(".json")
    assert main(["analyze", str(clip), "--detector", "whole-frame", "--weights", str(weights), "--json", str(out), "--quiet", *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("lead_s", "expected"),
    [(0.12, 3), (-0.2, -5), (0.0, 0)],
    ids=["audio-120ms-early", "audio-200ms-late", "in-sync"],
)
@pytest.mark.parametrize("mode", [[], ["--exact"]], ids=["fast", "exact"])
def test_known_shift_is_reported_with_the_contract_sign(tmp_path, oracle_weights, lead_s, expected, mode):
    clip = make_flash_clip(tmp_path / "clip.avi", audio_lead_s=lead_s)
    doc = analyse(clip, oracle_weights, *mode)
    assert doc["offset_frames"] == expected
    assert doc["offset_ms"] == pytest.approx(1000 * lead_s, abs=20)
    assert doc["confidence"] > 3.0
    assert doc["tracks"][0]["offset_frames"] == expected


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("ntsc.mkv", {"fps": Fraction(30000, 1001)}),
        ("thirty.mp4", {"fps": 30}),
        ("sixty.mp4", {"fps": 60}),
        ("fifty.mov", {"fps": 50}),
        ("vfr.mkv", {"vfr": True}),
        ("stereo48k.mkv", {"audio_rate": 48000, "channels": 2}),
        ("late-video.mkv", {"video_start_s": 0.4}),
    ],
)
def test_in_sync_whatever_the_rate_or_start_time(tmp_path, oracle_weights, name, options):
    doc = analyse(make_flash_clip(tmp_path / name, **options), oracle_weights)
    assert doc["offset_frames"] == 0
    assert abs(doc["offset_ms"]) <= 20
    assert doc["confidence"] > 3.0


def test_late_video_start_with_a_real_offset(tmp_path, oracle_weights):
    """Start-time alignment and a true offset together: 120 ms early audio in a clip starting 0.4 s late."""
    doc = analyse(make_flash_clip(tmp_path / "late.mkv", video_start_s=0.4, audio_lead_s=0.12), oracle_weights)
    assert doc["offset_frames"] == 3


def test_delaying_the_audio_lowers_the_offset_by_as_much(tmp_path, oracle_weights):
    """syncnet-facts.md: delaying the audio by n frames must lower the reported offset by n."""
    early = analyse(make_flash_clip(tmp_path / "a.avi", audio_lead_s=0.16), oracle_weights)
    delayed = analyse(make_flash_clip(tmp_path / "b.avi", audio_lead_s=0.16 - 0.08), oracle_weights)
    assert early["offset_frames"] - delayed["offset_frames"] == 2
