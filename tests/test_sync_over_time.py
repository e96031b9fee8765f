"""The offset over time end to end, on oracle clips whose audio lead is a known function of time.

Each clip is made and analysed once per module (fast mode, whole-frame), then checked: the
model, the points against the truth, the drift's slope, the change points, offsets far beyond
the published ±15 frames found with no flag, and the CLI's line and JSON.
"""

from __future__ import annotations

import json
import re
from typing import Callable

import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.results import Analysis
from syncdesk.core.sync.sync_model import MIN_POINT_CONFIDENCE

from .oracle import make_flash_clip

HOP_S = 2.0


def _drift(t: np.ndarray) -> np.ndarray:
    return -0.040 + 0.120 * np.asarray(t) / 60.0


def _steps(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t)
    return np.select([t < 20.0, t < 40.0], [0.0, 0.200], -0.120)


CLIPS: dict[str, tuple[float, float | Callable[[np.ndarray], np.ndarray]]] = {
    "constant": (60.0, 0.080),
    "drift": (60.0, _drift),
    "steps": (60.0, _steps),
    "lead_1200": (20.0, 1.200),
    "lag_2000": (20.0, -2.000),
}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, oracle_weights) -> dict[str, Analysis]:
    folder = tmp_path_factory.mktemp("over-time")
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNCDESK_DATA_DIR", str(folder / "data"))
        return {name: analyze(make_flash_clip(folder / f"{name}.avi", seconds=seconds, audio_lead_s=lead), options)
                for name, (seconds, lead) in CLIPS.items()}


def _truth_ms(name: str, t: float) -> float:
    lead = CLIPS[name][1]
    return 1000.0 * float(lead(np.array([t]))[0] if callable(lead) else lead)


def _confident(analysis: Analysis):
    points = [p for p in analysis.sync_over_time.points if p.offset_ms is not None and p.confidence >= MIN_POINT_CONFIDENCE]
    assert len(points) >= 0.8 * len(analysis.sync_over_time.points)
    return points


def test_points_cover_the_clip_every_hop(analysed):
    sync = analysed["constant"].sync_over_time
    assert (sync.window_s, sync.hop_s) == (8.0, HOP_S)
    times = [p.t_s for p in sync.points]
    assert times[0] == pytest.approx(sync.window_s / 2) and times[-1] == pytest.approx(60.0 - sync.window_s / 2)
    assert np.diff(times) == pytest.approx(HOP_S)


def test_constant_offset_is_constant(analysed):
    analysis = analysed["constant"]
    sync = analysis.sync_over_time
    assert sync.model == "constant" and sync.drift_ms_per_min is None
    assert [(s.start_s, s.end_s) for s in sync.segments] == [(0.0, 60.0)]
    assert sync.segments[0].offset_ms == pytest.approx(80.0, abs=25.0)
    assert all(abs(p.offset_ms - 80.0) <= 25.0 for p in _confident(analysis))
    assert analysis.offset_frames == 2  # the clip verdict is unchanged


def test_drift_is_followed_with_its_slope(analysed):
    analysis = analysed["drift"]
    sync = analysis.sync_over_time
    assert sync.model == "drift"
    assert sync.drift_ms_per_min == pytest.approx(120.0, rel=0.15)
    line = sync.segments[0]
    assert (line.start_s, line.end_s) == (0.0, 60.0)
    assert line.end_offset_ms - line.offset_ms == pytest.approx(120.0, rel=0.15)
    errors = [p.offset_ms - _truth_ms("drift", p.t_s) for p in _confident(analysis)]
    # the oracle reads whole frames (its towers say on or off per frame), so a point between two
    # frames reads the lower one: within one frame of the truth, and within half of one on average
    assert max(abs(e) for e in errors) < 40.0
    assert np.mean(np.abs(errors)) <= 25.0


def test_subframe_oracle_follows_the_drift_within_25_ms(tmp_path, subframe_oracle_weights):
    """The sub-frame oracle (towers that measure how much of a window is loud or bright) reads
    between frames: every confident point is within 25 ms of the truth, not just within one frame."""
    clip = make_flash_clip(tmp_path / "drift.avi", seconds=60.0, audio_lead_s=_drift)
    analysis = analyze(clip, AnalysisOptions(weights=subframe_oracle_weights, detector="whole-frame"))
    sync = analysis.sync_over_time
    assert sync.model == "drift"
    assert sync.drift_ms_per_min == pytest.approx(120.0, rel=0.05)
    errors = [p.offset_ms - _truth_ms("drift", p.t_s) for p in _confident(analysis)]
    assert max(abs(e) for e in errors) <= 25.0  # measured 6 ms at worst
    assert np.mean(np.abs(errors)) <= 5.0  # measured 2 ms


def test_steps_give_segments_and_change_points(analysed):
    analysis = analysed["steps"]
    sync = analysis.sync_over_time
    assert sync.model == "steps"
    assert [s.offset_ms for s in sync.segments] == pytest.approx([0.0, 200.0, -120.0], abs=25.0)
    assert [s.start_s for s in sync.segments[1:]] == pytest.approx([20.0, 40.0], abs=1.5)
    assert sync.segments[0].start_s == 0.0 and sync.segments[-1].end_s == 60.0
    # a window that straddles a change mixes both offsets; every other one reads its own
    clean = [p for p in _confident(analysis) if min(abs(p.t_s - 20.0), abs(p.t_s - 40.0)) >= HOP_S]
    assert all(abs(p.offset_ms - _truth_ms("steps", p.t_s)) <= 25.0 for p in clean)


@pytest.mark.parametrize(("name", "expected_ms"), [("lead_1200", 1200.0), ("lag_2000", -2000.0)])
def test_offsets_far_beyond_15_frames_are_found_without_flags(analysed, name, expected_ms):
    analysis = analysed[name]
    sync = analysis.sync_over_time
    assert sync.model == "constant"
    assert sync.segments[0].offset_ms == pytest.approx(expected_ms, abs=20.0)
    assert all(abs(p.offset_ms - expected_ms) <= 25.0 for p in _confident(analysis))
    # the clip verdict does not report a wrong in-range offset: it reads the wide search, and says so
    assert analysis.offset_ms == pytest.approx(expected_ms, abs=20.0)
    assert analysis.offset_frames == round(expected_ms / 40.0)
    assert any("beyond the published ±15 frames" in w for w in analysis.warnings)


def test_exact_mode_keeps_the_published_verdict_and_says_what_the_wide_search_sees(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "far.avi", seconds=16.0, audio_lead_s=1.2)  # windows enough to confirm it
    analysis = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="whole-frame", exact=True))
    assert abs(analysis.offset_frames) <= 15
    assert any("--exact keeps the published reading" in w for w in analysis.warnings)
    assert analysis.sync_over_time.points[0].offset_ms == pytest.approx(1200.0, abs=20.0)


def test_silence_gives_points_without_an_offset(tmp_path, oracle_weights):
    pattern = np.random.default_rng(5).random(20 * 25 + 2) < 0.35
    pattern[8 * 25 : 20 * 25] = False  # flashes and sound stop after 8 s
    clip = make_flash_clip(tmp_path / "quiet.avi", seconds=20.0, pattern=pattern)
    sync = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="whole-frame")).sync_over_time
    late = [p for p in sync.points if p.t_s - sync.window_s / 2 >= 9.0]
    assert late and all(p.offset_ms is None and p.confidence == 0.0 for p in late)
    assert sync.points[0].offset_ms == pytest.approx(0.0, abs=25.0)


def test_cli_prints_the_model_and_writes_it_to_json(analysed, tmp_path, oracle_weights, capsys):
    clip = make_flash_clip(tmp_path / "drift.avi", seconds=60.0, audio_lead_s=_drift)
    out = tmp_path / "a.json"
    assert main(["analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--quiet",
                 "--json", str(out)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "sync over time" in l)
    assert line.strip().startswith("sync over time: drifting +1")
    assert "ms/min (from -" in line and "at 00:00:00 to +" in line and "at 00:01:00)" in line
    document = json.loads(out.read_text())
    assert document["sync_over_time"]["model"] == "drift"
    assert len(document["sync_over_time"]["points"]) == len(analysed["drift"].sync_over_time.points)


def test_summary_lines_for_steps_and_constant(analysed):
    from syncdesk.cli.analyze import summary

    steps = next(l for l in summary(analysed["steps"]).splitlines() if "sync over time" in l)
    assert steps.strip().startswith("sync over time: 3 segments: 00:00:")
    levels = [int(x) for x in re.findall(r" ([+-]\d+) ms", steps)]
    assert levels == pytest.approx([0, 200, -120], abs=25)
    constant = next(l for l in summary(analysed["constant"]).splitlines() if "sync over time" in l)
    assert constant.strip().startswith("sync over time: constant")
