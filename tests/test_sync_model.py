"""The model of a file's sync fitted on made-up points: constant, drift, steps, unknown, and wrong windows."""

from __future__ import annotations

import numpy as np
import pytest

from syncdesk.core.results import SyncPoint
from syncdesk.core.sync.over_time import read_curve
from syncdesk.core.sync.sync_model import MIN_POINT_CONFIDENCE, fit_model, theil_sen

TIMES = np.arange(4.0, 58.0, 2.0)


def _points(offsets, confidence: float = 4.0, seed: int = 0, noise_ms: float = 4.0) -> list[SyncPoint]:
    rng = np.random.default_rng(seed)
    return [SyncPoint(float(t), None if o is None else float(o + rng.normal(0, noise_ms)), confidence)
            for t, o in zip(TIMES, offsets, strict=True)]


def _fit(points, cuts=()):
    return fit_model(points, 0.0, 60.0, 8.0, 2.0, cuts)


def test_constant_with_a_few_wrong_windows_stays_constant():
    offsets = np.full(len(TIMES), 80.0)
    offsets[[3, 11, 20]] = [-400.0, 520.0, 0.0]  # three wrong windows
    result = _fit(_points(offsets))
    assert result.model == "constant"
    assert result.segments[0].offset_ms == pytest.approx(80.0, abs=5.0)
    assert (result.segments[0].start_s, result.segments[0].end_s) == (0.0, 60.0)
    assert result.drift_ms_per_min is None


def test_drift_gives_the_slope_and_the_line_at_both_ends():
    offsets = -40.0 + 120.0 * TIMES / 60.0
    offsets[[5, 17]] += 300.0
    result = _fit(_points(offsets))
    assert result.model == "drift"
    assert result.drift_ms_per_min == pytest.approx(120.0, rel=0.05)
    line = result.segments[0]
    assert line.offset_ms == pytest.approx(-40.0, abs=6.0)
    assert line.end_offset_ms == pytest.approx(80.0, abs=6.0)


def test_steps_give_change_points_and_levels():
    offsets = np.select([TIMES < 20, TIMES < 40], [0.0, 200.0], -120.0)
    offsets[8] = 600.0  # one wrong window inside a step is not a step
    result = _fit(_points(offsets))
    assert result.model == "steps"
    assert [s.offset_ms for s in result.segments] == pytest.approx([0.0, 200.0, -120.0], abs=6.0)
    bounds = [s.start_s for s in result.segments[1:]]
    assert bounds == pytest.approx([20.0, 40.0], abs=1.5)
    assert result.segments[0].start_s == 0.0 and result.segments[-1].end_s == 60.0
    for before, after in zip(result.segments, result.segments[1:]):
        assert before.end_s == after.start_s


def test_windows_that_straddle_a_change_are_blends_not_steps_of_their_own():
    """A window across a change hears some of each offset and reads between them (as SyncNet and the
    sub-frame oracle do): it joins the nearer step instead of making the model unknown."""
    offsets = np.select([TIMES < 20, TIMES < 40], [0.0, 200.0], -120.0)
    offsets[TIMES == 20.0] = 21.0  # mostly the first step's sound
    offsets[TIMES == 40.0] = -91.0  # mostly the third's
    result = _fit(_points(offsets, noise_ms=2.0))
    assert result.model == "steps"
    assert [s.offset_ms for s in result.segments] == pytest.approx([0.0, 200.0, -120.0], abs=6.0)
    assert [s.start_s for s in result.segments[1:]] == pytest.approx([20.0, 40.0], abs=1.5)


def test_a_short_run_beyond_both_neighbours_is_no_blend():
    offsets = np.select([TIMES < 20, TIMES < 40], [0.0, 200.0], -120.0)
    offsets[TIMES == 20.0] = 500.0  # not between 0 and 200: wrong evidence, not a blend
    offsets[TIMES == 22.0] = 500.0
    assert _fit(_points(offsets, noise_ms=2.0)).model == "unknown"


def test_a_change_point_snaps_to_a_nearby_shot_cut():
    offsets = np.where(TIMES < 30, 0.0, 160.0)
    result = _fit(_points(offsets), cuts=[12.0, 29.6])
    assert result.model == "steps"
    assert result.segments[1].start_s == 29.6


@pytest.mark.parametrize("points", [
    [],
    _points([None] * len(TIMES)),
    _points(np.full(len(TIMES), 40.0), confidence=MIN_POINT_CONFIDENCE / 2),  # all too weak
    _points(np.random.default_rng(3).uniform(-2000, 2000, len(TIMES)), noise_ms=0),  # no pattern at all
])
def test_too_little_or_no_coherent_evidence_is_unknown(points):
    result = _fit(points)
    assert result.model == "unknown"
    assert result.segments == [] and result.drift_ms_per_min is None
    assert result.points == points


def test_theil_sen_ignores_outliers():
    t = np.arange(20.0)
    y = 3.0 * t + 1.0
    y[[2, 9]] = 500.0
    slope, intercept = theil_sen(t, y)
    assert slope == pytest.approx(3.0) and intercept == pytest.approx(1.0)


def test_curve_reading_uses_only_measured_shifts():
    curve = np.full(11, 10.0)
    curve[[0, 1]] = np.inf  # no audio to compare there
    curve[7] = 4.0  # shift k = +2: the audio window two later matches: the audio lags
    reading = read_curve(curve)
    assert reading.offset_frames == -2
    assert reading.offset_ms == pytest.approx(-80.0)
    assert reading.confidence == pytest.approx(6.0)


def test_a_few_confident_windows_in_a_long_file_are_too_little_to_model():
    times = np.arange(4.0, 596.0, 2.0)  # 10 minutes
    points = [SyncPoint(float(t), None, 0.0) for t in times]
    for index, offset in ((50, 0.0), (200, 160.0), (201, 160.0)):
        points[index] = SyncPoint(points[index].t_s, offset, MIN_POINT_CONFIDENCE + 0.1)
    assert fit_model(points, 0.0, 600.0, 8.0, 2.0).model == "unknown"


def test_a_short_stretch_of_other_evidence_is_no_step():
    offsets = np.zeros(len(TIMES))
    offsets[10:12] = 120.0  # two neighbouring windows: they share 6 of their 8 s
    offsets[20:23] = -90.0
    assert _fit(_points(offsets)).model != "steps"


def test_a_line_through_one_corner_of_the_file_is_no_drift():
    offsets = [40.0 + 3.0 * t if t < 16 else None for t in TIMES]  # evidence only in the first 16 s of 60
    assert _fit(_points(offsets)).model != "drift"
