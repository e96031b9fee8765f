"""Broadcast tolerances: parsing, the limits of each standard, and a file judged by its confident parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncdesk.core.results import (Analysis, Engine, Source, SyncOverTime, SyncPoint, SyncSegment, load, save)
from syncdesk.core.tolerance import TOLERANCES, describe, judge, outside_parts, parse_tolerance


def _analysis(offset_ms: float = 0.0, confidence: float = 7.0, over_time: SyncOverTime | None = None,
              duration_s: float = 60.0) -> Analysis:
    frames = int(duration_s * 25)
    return Analysis(
        source=Source("clip.mp4", 1000, duration_s, 25.0, frames, 48000),
        engine=Engine(version="test", device="cpu", detector="whole-frame", syncnet={"path": "w", "sha256": "0" * 64}),
        offset_frames=round(offset_ms / 40), offset_ms=offset_ms, min_dist=6.5, confidence=confidence, tracks=[],
        shots=[[0, frames - 1]], active_speaker=[None] * frames, timings={"total": 1.0}, sync_over_time=over_time,
    )


def _points(offset_at, confidence: float = 6.0, end_s: float = 60.0) -> list[SyncPoint]:
    return [SyncPoint(t, offset_at(t), confidence) for t in range(4, int(end_s) - 3, 2)]


@pytest.mark.parametrize("text, lead, lag", [
    ("ebu-r37", 40, 60), ("EBU-R37", 40, 60), ("atsc-is191", 15, 45), ("itu-bt1359", 90, 185),
    ("20/30", 20, 30), ("+40/-60", 40, 60), (" 12.5 / 0 ", 12.5, 0),
])
def test_names_and_custom_limits_parse(text, lead, lag):
    tolerance = parse_tolerance(text)
    assert (tolerance.lead_ms, tolerance.lag_ms) == (lead, lag)


@pytest.mark.parametrize("text", ["", "ebu", "40", "40/", "/60", "a/b", "-40/60", "40/60/80", "1e9/60", "nan/1",
                                  "99999/1"])
def test_malformed_tolerances_are_refused_with_a_reason(text):
    with pytest.raises(ValueError, match="tolerance"):
        parse_tolerance(text)


@pytest.mark.parametrize("offset_ms, name, result", [
    (30.0, "ebu-r37", "within"), (30.0, "atsc-is191", "outside"), (-50.0, "ebu-r37", "within"),
    (50.0, "ebu-r37", "outside"), (40.0, "ebu-r37", "within"), (-60.0, "ebu-r37", "within"),
    (-61.0, "ebu-r37", "outside"), (-50.0, "atsc-is191", "outside"), (-180.0, "itu-bt1359", "within"),
])
def test_a_constant_offset_against_each_standard(offset_ms, name, result):
    verdict = judge(_analysis(offset_ms), TOLERANCES[name])
    assert verdict.result == result
    assert verdict.worst_ms == offset_ms


def test_the_verdict_says_which_limit_was_crossed_and_by_how_much():
    verdict = judge(_analysis(73.0), TOLERANCES["ebu-r37"])
    assert (verdict.limit, verdict.excess_ms) == ("lead", 33.0)
    assert describe(verdict) == "outside: audio 73 ms early: EBU R37 allows 40"
    late = judge(_analysis(-80.0), parse_tolerance("20/30"))
    assert describe(late) == "outside: audio 80 ms late: custom tolerance allows 30"
    near = judge(_analysis(40.4), TOLERANCES["ebu-r37"])
    assert describe(near) == "outside: audio 40.4 ms early: EBU R37 allows 40"
    within = judge(_analysis(-12.0), TOLERANCES["ebu-r37"])
    assert within.excess_ms == -48.0
    assert describe(within) == "within EBU R37 (+40/-60 ms): at worst audio 12 ms late"
    # nearer the lead limit, yet late: the words follow the sign, not the limit
    assert describe(judge(_analysis(-4.0), parse_tolerance("20/30"))).endswith("at worst audio 4 ms late")


def test_no_confident_evidence_is_unknown_not_within():
    verdict = judge(_analysis(300.0, confidence=1.0), TOLERANCES["ebu-r37"])
    assert (verdict.result, verdict.worst_ms) == ("unknown", None)
    assert "unknown" in describe(verdict)


def test_a_slip_makes_the_file_outside_from_the_slip_on():
    over_time = SyncOverTime(8.0, 2.0, _points(lambda t: 0.0 if t < 20 else 160.0), "steps",
                             segments=[SyncSegment(0.0, 20.0, 0.0, 6.0), SyncSegment(20.0, 60.0, 160.0, 6.0)])
    verdict = judge(_analysis(120.0, over_time=over_time), TOLERANCES["ebu-r37"])
    assert (verdict.result, verdict.worst_ms) == ("outside", 160.0)
    assert verdict.outside == [{"start_s": 20.0, "end_s": 60.0, "offset_ms": 160.0, "confidence": 6.0}]
    assert describe(verdict) == "outside: audio 160 ms early from 20.0 s: EBU R37 allows 40"


def test_a_segment_few_windows_measured_is_not_judged():
    points = _points(lambda t: 0.0 if t < 40 else 160.0)
    points = [p if p.t_s < 40 else SyncPoint(p.t_s, p.offset_ms, 0.5) for p in points]  # the tail: weak evidence
    over_time = SyncOverTime(8.0, 2.0, points, "steps",
                             segments=[SyncSegment(0.0, 40.0, 0.0, 6.0), SyncSegment(40.0, 60.0, 160.0, 0.5)])
    assert judge(_analysis(0.0, over_time=over_time), TOLERANCES["ebu-r37"]).result == "within"


def test_a_drift_is_outside_from_where_its_line_crosses_the_limit():
    over_time = SyncOverTime(8.0, 2.0, _points(lambda t: 2.0 * t - 40.0), "drift", drift_ms_per_min=120.0,
                             segments=[SyncSegment(0.0, 60.0, -40.0, 6.0, end_offset_ms=80.0)])
    verdict = judge(_analysis(20.0, over_time=over_time), TOLERANCES["ebu-r37"])
    assert (verdict.result, verdict.worst_ms, verdict.excess_ms) == ("outside", 80.0, 40.0)
    [span] = verdict.outside
    assert (span["start_s"], span["end_s"], span["offset_ms"], span["end_offset_ms"]) == (40.0, 60.0, 40.0, 80.0)
    both_ways = judge(_analysis(20.0, over_time=over_time), parse_tolerance("20/20"))
    assert [(p.start_s, p.end_s) for p in outside_parts(_analysis(20.0, over_time=over_time),
                                                        parse_tolerance("20/20"))] == [(0.0, 10.0), (30.0, 60.0)]
    assert len(both_ways.outside) == 2


def test_the_tolerance_block_is_saved_and_loaded(tmp_path: Path):
    analysis = _analysis(50.0)
    analysis.tolerance = judge(analysis, TOLERANCES["ebu-r37"])
    path = save(analysis, tmp_path / "a.json")
    block = json.loads(path.read_text(encoding="utf-8"))["tolerance"]
    assert {k: block[k] for k in ("name", "lead_ms", "lag_ms", "result", "worst_ms")} == {
        "name": "ebu-r37", "lead_ms": 40.0, "lag_ms": 60.0, "result": "outside", "worst_ms": 50.0}
    assert load(path) == analysis
    assert "tolerance" not in json.loads(save(_analysis(), tmp_path / "b.json").read_text(encoding="utf-8"))
