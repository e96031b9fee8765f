"""Active speaker and the clip's verdict, on hand-made framewise-confidence curves."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from syncdesk.core.speaker import WINDOW_CENTRE, active_speaker, clip_verdict

VSHIFT = 3


@dataclass
class FakeTrack:
    id: int
    start_frame: int
    framewise_confidence: list[float]
    confidence: float = 5.0
    min_dist: float = 6.0
    mean_dists: list[float] = field(default_factory=list)


def curve(values: list[float]) -> list[float]:
    return [float(v) for v in values]


def test_the_speaker_switches_where_the_curves_cross():
    a = FakeTrack(0, 0, curve([5] * 50 + [0.5] * 50))
    b = FakeTrack(1, 0, curve([0.5] * 50 + [5] * 50))
    speaker = active_speaker([a, b], 104)
    centre = WINDOW_CENTRE  # window k speaks for frame k + 2
    assert speaker[centre : centre + 50] == [0] * 50
    assert speaker[centre + 50 : centre + 100] == [1] * 50
    assert speaker[:centre] == [None] * centre  # no window is centred there


def test_nobody_speaks_in_silence_or_outside_the_tracks():
    a = FakeTrack(0, 10, curve([4] * 30 + [0.2] * 30 + [4] * 30))
    speaker = active_speaker([a], 140)
    assert speaker[:12] == [None] * 12  # before the track
    assert speaker[12:42] == [0] * 30
    assert speaker[42:72] == [None] * 30  # below the threshold: silence
    assert speaker[102:] == [None] * 38  # after the track


def test_a_tie_goes_to_the_first_track():
    a, b = FakeTrack(0, 0, curve([3] * 20)), FakeTrack(1, 0, curve([3] * 20))
    assert set(active_speaker([a, b], 24)[2:22]) == {0}
    assert set(active_speaker([b, a], 24)[2:22]) == {1}


def test_a_track_unconfident_overall_is_never_the_speaker():
    loud = FakeTrack(0, 0, curve([2] * 40), confidence=6.0)
    chance = FakeTrack(1, 0, curve([4] * 40), confidence=2.5)  # high here and there, weak overall
    assert set(active_speaker([loud, chance], 44)[2:42]) == {0}
    alone = FakeTrack(0, 0, curve([4] * 40), confidence=1.5)  # fails even the relaxed preset
    assert active_speaker([alone], 44) == [None] * 44


def dists_with_minimum_at(offset: int, depth: float) -> list[float]:
    """D(k) for k = -vshift..vshift with its minimum where the offset says (offset = -k)."""
    values = np.full(2 * VSHIFT + 1, 10.0)
    values[VSHIFT - offset] -= depth
    return values.tolist()


def test_the_verdict_pools_speaking_tracks_by_confidence_and_speaking_time():
    strong = FakeTrack(0, 0, [], confidence=6.0, mean_dists=dists_with_minimum_at(2, 6.0))
    weak = FakeTrack(1, 0, [], confidence=3.0, mean_dists=dists_with_minimum_at(-1, 3.0))
    silent = FakeTrack(2, 0, [], confidence=9.0, mean_dists=dists_with_minimum_at(3, 9.0))
    speaker = [0] * 60 + [1] * 40 + [None] * 10  # track 2 never speaks: it has no say
    verdict = clip_verdict([strong, weak, silent], speaker, VSHIFT)
    assert verdict.tracks == [0, 1]
    assert verdict.weights == pytest.approx([360 / 480, 120 / 480])
    assert verdict.offset_frames == 2
    pooled = 0.75 * np.array(strong.mean_dists) + 0.25 * np.array(weak.mean_dists)
    assert verdict.min_dist == pytest.approx(pooled.min())
    assert verdict.confidence == pytest.approx(np.median(pooled) - pooled.min())


def test_one_speaking_track_gives_its_own_offset():
    track = FakeTrack(0, 0, [], confidence=5.0, mean_dists=dists_with_minimum_at(-3, 5.0))
    verdict = clip_verdict([track], [0] * 30, VSHIFT)
    assert (verdict.offset_frames, verdict.offset_ms) == (-3, pytest.approx(-120.0))


def test_no_speaker_means_no_offset_rather_than_an_invented_one():
    track = FakeTrack(0, 0, [], confidence=1.0, min_dist=7.5, mean_dists=dists_with_minimum_at(2, 1.0))
    verdict = clip_verdict([track], [None] * 30, VSHIFT)
    assert verdict.tracks == [] and verdict.offset_frames == 0 and verdict.confidence == 0.0
    assert verdict.min_dist == 7.5
