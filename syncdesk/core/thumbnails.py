"""Small frames spread over a clip, for the app's thumbnail strip (decoded here, in the caller's
worker thread; the app only draws them)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .cancel import CancelToken
from .frames import FrameReader


def shrink(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an H x W x 3 picture (cheap; the strip is a guide, not a viewer)."""
    rows = np.linspace(0, image.shape[0] - 1, height).round().astype(int)
    columns = np.linspace(0, image.shape[1] - 1, width).round().astype(int)
    return np.ascontiguousarray(image[rows][:, columns])


def thumbnail_times(duration_s: float, count: int) -> np.ndarray:
    """The middle of each of ``count`` equal slices of the clip."""
    return (np.arange(count) + 0.5) * duration_s / count


def read_thumbnails(path: Path, duration_s: float, height: int, width: int, count: int, cancel: CancelToken,
                    deliver: Callable[[int, np.ndarray], None]) -> int:
    """Decode ``count`` frames of ``path`` and ``deliver(index, height x width x 3)`` each as it
    comes; returns how many were delivered."""
    reader = FrameReader(path)
    try:
        for index, time_s in enumerate(thumbnail_times(duration_s, count)):
            cancel.check()
            deliver(index, shrink(reader.frame_at(float(time_s)).image, height, width))
    finally:
        reader.close()
    return count
