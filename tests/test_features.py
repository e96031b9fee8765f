"""Audio features and inference-time rewrites equal the reference maths."""

from __future__ import annotations

import numpy as np
import pytest
import python_speech_features
import torch
from scipy.signal import medfilt as scipy_medfilt

from syncdesk.core.sync import features
from syncdesk.core.sync.model import SyncNet, for_inference
from syncdesk.core.sync.scoring import medfilt
from syncdesk.core.sync.synthetic import random_state_dict


@pytest.mark.parametrize("samples", [300, 401, 16000, features.MFCC_BLOCK * 160 + 400, 2 * features.MFCC_BLOCK * 160 + 12345])
def test_blockwise_mfcc_equals_the_library_on_the_whole_signal(samples):
    pcm = np.random.default_rng(samples).normal(0, 3000, samples).astype(np.int16)
    expected = python_speech_features.mfcc(pcm, 16000).T.astype(np.float32)
    np.testing.assert_array_equal(features.mfcc(pcm), expected)


def test_medfilt_equals_scipy():
    values = np.random.default_rng(0).normal(size=57)
    np.testing.assert_array_equal(medfilt(values, 9), scipy_medfilt(values, 9))


def test_window_loudness_in_dbfs():
    pcm = np.zeros(640 * 20, dtype=np.int16)
    pcm[640 * 10 :] = 16384  # half of full scale: -6 dB
    level = features.window_loudness_db(pcm, 15)
    assert level[10:15] == pytest.approx(-6.02, abs=0.01)
    assert level[0] < -100
    assert level[8] == pytest.approx(-6.02 + 10 * np.log10(3 / 5), abs=0.01)  # 3 of its 5 frames loud


def test_folded_inference_model_equals_the_published_layers():
    reference = SyncNet()
    reference.load_state_dict(random_state_dict(7))
    reference.eval()
    fast = SyncNet()
    fast.load_state_dict(random_state_dict(7))
    fast = for_inference(fast)
    torch.manual_seed(0)
    video = torch.rand(1, 3, 9, 224, 224) * 255
    audio = torch.randn(6, 1, 13, 20) * 10
    with torch.inference_mode():
        for ours, theirs in ((fast.forward_video(video), reference.forward_video(video)),
                             (fast.forward_audio(audio), reference.forward_audio(audio))):
            assert float((ours - theirs).norm() / theirs.norm()) < 1e-5
