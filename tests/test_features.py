"""Audio features and inference-time rewrites equal the reference maths."""

from __future__ import annotations

import numpy as np
import pytest
import python_speech_features
import torch
from scipy.signal import medfilt as scipy_medfilt

from syncdesk.core.media import first_video_time, read_audio
from syncdesk.core.sync import features
from syncdesk.core.sync.model import SyncNet, for_inference
from syncdesk.core.sync.scoring import medfilt
from syncdesk.core.sync.synthetic import random_state_dict


def assert_library_mfcc(pcm: np.ndarray) -> None:
    """Ours equals python_speech_features' to float32 rounding. Only the DCT differs (a matrix
    product, not scipy's FFT), in the last float64 bits: rarely one float32 ulp, and ~1e-12 instead
    of scipy's ~1e-14 where a silent frame's coefficients are 0 in exact maths."""
    expected = python_speech_features.mfcc(pcm, 16000).T.astype(np.float32)
    np.testing.assert_allclose(features.mfcc(pcm), expected, rtol=2.0**-23, atol=1e-10)


@pytest.mark.parametrize("samples", [300, 401, 16000, features.MFCC_BLOCK * 160 + 400, 2 * features.MFCC_BLOCK * 160 + 12345])
def test_blockwise_mfcc_equals_the_library_on_the_whole_signal(samples):
    assert_library_mfcc(np.random.default_rng(samples).normal(0, 3000, samples).astype(np.int16))


def test_mfcc_equals_the_library_on_noise_with_silence():
    pcm = np.random.default_rng(1).integers(-32768, 32768, 3 * features.MFCC_BLOCK * 160, dtype=np.int16)
    pcm[50_000:90_000] = 0  # whole frames of digital silence: every band at the eps floor
    pcm[-5000:] = 0  # and the last, padded frames
    assert_library_mfcc(pcm)
    assert_library_mfcc(np.zeros(16000, dtype=np.int16))


def test_mfcc_equals_the_library_on_the_example_clip(example_avi):
    assert_library_mfcc(read_audio(example_avi, first_video_time(example_avi)))


def test_mel_filterbank_equals_get_filterbanks():
    np.testing.assert_array_equal(features.MEL_FILTERBANK, python_speech_features.get_filterbanks(26, 512, 16000))


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
    # the BatchNorms are folded away and the audio tower's 1x1 max-pool (an identity) is dropped
    assert not any(isinstance(layer, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)) for layer in fast.modules())
    assert [type(layer).__name__ for layer in fast.netcnnaud].count("MaxPool2d") == 2
    torch.manual_seed(0)
    video = torch.rand(1, 3, 9, 224, 224) * 255
    audio = torch.randn(6, 1, 13, 20) * 10
    with torch.inference_mode():
        for ours, theirs in ((fast.forward_video(video), reference.forward_video(video)),
                             (fast.forward_audio(audio), reference.forward_audio(audio))):
            assert float((ours - theirs).norm() / theirs.norm()) < 1e-5


def test_inference_model_in_bfloat16_is_cast_and_channels_last_throughout():
    model = SyncNet()
    model.load_state_dict(random_state_dict(7))
    model = for_inference(model, torch.bfloat16)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.bfloat16}
    for layer in [*model.netcnnaud, *model.netcnnlip]:
        if isinstance(layer, torch.nn.Conv2d):
            assert layer.weight.is_contiguous(memory_format=torch.channels_last)
        elif isinstance(layer, torch.nn.Conv3d):
            assert layer.weight.is_contiguous(memory_format=torch.channels_last_3d)
