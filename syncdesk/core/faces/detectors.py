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
    """OpenCV's frontal-face Haar cascade ``alt2``, shipped inside opencv-python(-headless) 4.x.

    Runs on a copy scaled so its width is at most ``work_width`` and its area at most that of a 16:9
    frame of that width (the demo detected at 0.25 scale): a portrait frame is searched at 360x640.
    The cascade and settings are the ones ``bench/bench_detectors.py`` measured best at this cost:
    alt2 on the raw grey image (no histogram equalisation, which added false faces), 640 px wide,
    scale step 1.1, minNeighbors 3: recall 100/93/77 % at 360p/720p/1080p, against 71/44/32 % for
    the ``default`` cascade at 480 px with equalisation, for 37 against 30 ms per 720p frame. A
    scale step of 1.2 was as good and 10% cheaper, but its box sizes jump by 20% from one
    detection to the next, enough to break a track's IoU > 0.5 link.
    """

    name = "haar"

    def __init__(self, work_width: int = 640, min_neighbors: int = 3, scale_factor: float = 1.1) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing ({path}); install opencv-python-headless<5")
        self.work_width = work_width
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        # at most work_width x 9/16 of it: a portrait frame is not searched at 3x a landscape one's pixels
        scale = min(1.0, self.work_width / width, (self.work_width * self.work_width * 9 / 16 / (width * height)) ** 0.5)
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        min_side = max(16, round(min(grey.shape) * 0.06))
        boxes = self._cascade.detectMultiScale(grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                               minSize=(min_side, min_side))
        return [Detection(x / scale, y / scale, (x + w) / scale, (y + h) / scale) for x, y, w, h in boxes]
