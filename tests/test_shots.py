"""Shot detection: cuts found where the picture changes, not where only the light does."""

from __future__ import annotations

import numpy as np
import pytest

from syncdesk.core import media
from syncdesk.core.shots import ShotDetector


def scene(seed: int, size=(180, 320)) -> np.ndarray:
    """A textured picture: blobs of colour, different for every seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    import cv2

    return cv2.resize(coarse, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)


def detect(frames) -> list[list[int]]:
    detector = ShotDetector()
    for frame in frames:
        detector.process(frame)
    return detector.shots()


def test_a_cut_between_two_scenes_is_found_at_its_frame():
    rng = np.random.default_rng(0)
    a, b = scene(1), scene(2)
    frames = [noisy(a, rng) for _ in range(40)] + [noisy(b, rng) for _ in range(30)]
    assert detect(frames) == [[0, 39], [40, 69]]


def test_several_cuts_and_the_minimum_shot_length():
    rng = np.random.default_rng(1)
    order = [1] * 20 + [2] * 20 + [3] * 5 + [4] * 20  # the 5-frame shot is too short to stand alone
    shots = detect([noisy(scene(s), rng) for s in order])
    assert shots == [[0, 19], [20, 39], [40, 64]]


@pytest.mark.parametrize("kind", ["flashes", "fade", "uniform-flashes"])
def test_changes_of_light_are_not_cuts(kind):
    rng = np.random.default_rng(2)
    base = scene(5).astype(np.float32)
    if kind == "flashes":
        gains = np.where(rng.random(60) < 0.4, 1.6, 0.6)
    elif kind == "fade":
        gains = np.linspace(1.0, 0.05, 60)
    else:
        base = np.full_like(base, 100.0)
        gains = np.where(rng.random(60) < 0.4, 2.0, 0.4)
    frames = [np.clip(base * g, 0, 255).astype(np.uint8) for g in gains]
    assert detect(frames) == [[0, 59]]


def test_a_slow_pan_is_one_shot():
    wide = scene(7, size=(180, 480))
    frames = [wide[:, 2 * i : 2 * i + 320] for i in range(60)]
    assert detect(frames) == [[0, 59]]


def test_example_clip_is_one_shot(example_avi):
    detector = ShotDetector()
    for frame in media.iter_analysis_frames(example_avi):
        detector.process(frame.image)
    assert detector.shots() == [[0, 316]]


def test_content_score_is_the_mean_absolute_hsv_change():
    """PySceneDetect's definition: per channel the mean |change|, then the mean of the three."""
    a, b = np.random.default_rng(3).integers(0, 256, (2, 54, 96, 3), dtype=np.uint8)
    expected = np.abs(a.astype(np.int16) - b).reshape(-1, 3).mean(axis=0).mean()
    assert ShotDetector().content_score(a, b) == expected


def test_a_cut_in_full_hd_frames_is_found_from_the_sampled_thumbnail():
    """A 1920x1080 frame's thumbnail averages 4 x 4 pixels picked from each 20 x 20 block: the same cut."""
    from syncdesk.core.shots import _Thumbnail

    rng = np.random.default_rng(3)
    a, b = scene(1, size=(1080, 1920)), scene(2, size=(1080, 1920))
    assert _Thumbnail(a).small.shape == (54, 96, 3)
    full = a.reshape(54, 20, 96, 20, 3).mean(axis=(1, 3))
    assert np.abs(_Thumbnail(a).small.astype(float) - full).mean() < 3  # near the mean of all 400 (0..255)
    frames = [noisy(a, rng) for _ in range(20)] + [noisy(b, rng) for _ in range(20)]
    assert detect(frames) == [[0, 19], [20, 39]]
