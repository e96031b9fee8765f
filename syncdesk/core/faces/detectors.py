"""Face detectors: one method, ``detect(image) -> list[Detection]``, and a ``name`` for the document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class Detection:
    """A face box in source pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    @property
    def size(self) -> float:
        return max(self.x2 - self.x1, self.y2 - self.y1)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one BGR frame."""
        ...


class WholeFrameDetector:
    """Every frame is one face crop (clips that are already tight crops, like the demo's)."""

    name = "whole-frame"

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        return [Detection(0.0, 0.0, float(width), float(height))]


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, shipped inside opencv-python(-headless) 4.x.

    Runs on a copy scaled so its width is at most ``work_width`` (the demo detected at 0.25 scale).
    """

    name = "haar"

    def __init__(self, work_width: int = 480, min_neighbors: int = 5) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing ({path}); install opencv-python-headless<5")
        self.work_width = work_width
        self.min_neighbors = min_neighbors

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        scale = min(1.0, self.work_width / width)
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        min_side = max(16, round(min(grey.shape) * 0.06))
        boxes = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                               minSize=(min_side, min_side))
        return [Detection(x / scale, y / scale, (x + w) / scale, (y + h) / scale) for x, y, w, h in boxes]
