"""The thumbnail strip: a fixed number of small frames spread over the clip, decoded in a worker
and drawn as one mosaic image (one ImageItem) stretched over the clip's time span."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from ..core import CancelToken, FrameReader

COUNT = 24  # thumbnails per clip, whatever its length
HEIGHT = 28  # pixels


def shrink(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an H x W x 3 picture (cheap; the strip is a guide, not a viewer)."""
    rows = np.linspace(0, image.shape[0] - 1, height).round().astype(int)
    columns = np.linspace(0, image.shape[1] - 1, width).round().astype(int)
    return np.ascontiguousarray(image[rows][:, columns])


def thumbnail_times(duration_s: float, count: int = COUNT) -> np.ndarray:
    """The middle of each of ``count`` equal slices of the clip."""
    return (np.arange(count) + 0.5) * duration_s / count


def read_thumbnails(path: Path, duration_s: float, width: int, cancel: CancelToken,
                    deliver: Callable[[int, np.ndarray], None], count: int = COUNT) -> int:
    """Decode ``count`` frames of ``path`` and ``deliver(index, HEIGHT x width x 3)`` each as it
    comes. Off the GUI thread; returns how many were delivered."""
    reader = FrameReader(path)
    try:
        for index, time_s in enumerate(thumbnail_times(duration_s, count)):
            cancel.check()
            deliver(index, shrink(reader.frame_at(float(time_s)).image, HEIGHT, width))
    finally:
        reader.close()
    return count


def thumbnail_width(width: int, height: int) -> int:
    return max(1, round(HEIGHT * width / max(1, height)))


class ThumbnailStrip:
    """The mosaic on ``plot`` (x linked to the timeline; y from 0 to 1, drawn top down)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        plot.getViewBox().invertY(True)
        plot.setYRange(0.0, 1.0, padding=0)
        self.mosaic = np.zeros((HEIGHT, 1, 3), np.uint8)
        self.width = 1
        self.received: set[int] = set()

    def reset(self, duration_s: float, width: int) -> None:
        """An empty strip for a new clip of ``duration_s``, thumbnails ``width`` pixels wide."""
        self.width = width
        self.received.clear()
        self.mosaic = np.zeros((HEIGHT, COUNT * width, 3), np.uint8)
        self.image.setImage(self.mosaic, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(0.0, 0.0, max(duration_s, 1e-3), 1.0))

    def add(self, index: int, thumbnail: np.ndarray) -> None:
        self.mosaic[:, index * self.width:(index + 1) * self.width] = thumbnail[:, :self.width]
        self.received.add(index)
        self.image.setImage(self.mosaic, autoLevels=False, levels=(0, 255))
