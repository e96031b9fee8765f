"""The thumbnail strip: a fixed number of small frames spread over the clip, decoded in a worker
(``core.read_thumbnails``) and drawn as one mosaic image (one ImageItem) stretched over the clip's time span."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

COUNT = 24  # thumbnails per clip, whatever its length
HEIGHT = 28  # pixels


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
