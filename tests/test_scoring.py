"""Offset maths on synthetic distance rows: sign, zero padding, confidence, sub-frame, silence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from syncdesk.core.pipeline.clip_audio import sounding_windows
from syncdesk.core.pipeline.track_score import silence_weights
from syncdesk.core.quality import direction
from syncdesk.core.sync.scoring import score, subframe_shift


def rows_from_embeddings(video: np.ndarray, audio: np.ndarray, vshift: int) -> np.ndarray:
    padded = np.pad(audio, ((vshift, vshift), (0, 0)))
    return np.stack([np.linalg.norm(video[i] - padded[i : i + 2 * vshift + 1] + 1e-6, axis=1) for i in range(len(video))])


@pytest.mark.parametrize("s", [-4, -1, 0, 2, 5])
def test_audio_matching_a_later_video_window_is_a_lead(s):
    """Audio window i matches video window i+s: the sound comes s frames early, offset +s."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 16))
    video = base[10:70]
    audio = base[10 + s : 70 + s]  # a_j = base[j + s]: sound of frame j+s heard at j
    result = score(rows_from_embeddings(video, audio, vshift=6), vshift=6)
    assert result.offset_frames == s
    assert result.offset_ms == pytest.approx(40 * s, abs=1.0)
    assert result.min_dist < 0.2 * float(np.median(result.mean_dists))
    assert result.confidence > 1.0
    assert len(result.framewise_confidence) == 60


def test_matches_torch_reference_with_zero_padding():
    rng = np.random.default_rng(1)
    video, audio = rng.normal(size=(30, 8)), rng.normal(size=(30, 8))
    ours = rows_from_embeddings(video, audio, 4)
    feat2p = torch.nn.functional.pad(torch.from_numpy(audio), (0, 0, 4, 4))
    ref = np.stack([torch.nn.functional.pairwise_distance(torch.from_numpy(video[[i]]).repeat(9, 1), feat2p[i : i + 9]).numpy()
                    for i in range(30)])
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    mean = ref.mean(axis=0)
    result = score(ours, 4)
    assert result.offset_frames == 4 - int(np.argmin(mean))
    assert result.confidence == pytest.approx(np.median(mean) - mean.min())


def test_subframe_vertex_of_a_parabola():
    k = np.arange(-5, 6, dtype=float)
    curve = (k - 0.3) ** 2
    assert subframe_shift(curve, int(np.argmin(curve))) == pytest.approx(0.3)
    result = score(np.tile(curve, (9, 1)), vshift=5)
    assert result.offset_frames == 0
    assert result.offset_ms == pytest.approx(-0.3 * 40)  # minimum at k=+0.3: audio 12 ms late


def test_strided_rows_give_a_framewise_curve_for_every_window():
    rows = np.tile(np.abs(np.arange(-3, 4, dtype=float)), (4, 1))
    result = score(rows, vshift=3, window_index=np.array([0, 5, 10, 15]), windows=19)
    assert len(result.framewise_confidence) == 19


def test_weights_leave_out_windows():
    good = np.tile(np.abs(np.arange(-3, 4, dtype=float) - 2), (5, 1))  # minimum at k=+2
    bad = np.tile(np.abs(np.arange(-3, 4, dtype=float) + 3) * 10, (5, 1))  # minimum at k=-3
    rows = np.vstack([good, bad])
    assert score(rows, 3).offset_frames == 3
    assert score(rows, 3, weights=np.r_[np.ones(5), np.zeros(5)]).offset_frames == -2


def test_silent_windows_are_those_with_no_sound_within_reach():
    pcm = np.zeros(640 * 100, dtype=np.int16)
    pcm[640 * 40 : 640 * 50] = 10000  # sound in audio windows 36..49 (each spans 5 frames)
    weights = silence_weights(sounding_windows(pcm, 95), np.arange(95), vshift=5)
    assert weights[31:55].all()  # within 5 windows of the sound
    assert not weights[:31].any() and not weights[55:].any()


@pytest.mark.parametrize(("ms", "text"), [(120, "audio leads video by 120 ms"), (-80.4, "audio lags video by 80 ms"),
                                          (0.2, "audio and video are in sync")])
def test_direction_in_words(ms, text):
    assert direction(ms) == text
