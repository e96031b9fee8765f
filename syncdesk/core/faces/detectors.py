"""Face detectors: one method, ``detect(image) -> list[Detection]``, and a ``name`` for the document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np


#: which of the bundled detector's cascades found a face (others leave a detection's pose empty)
FRONTAL, PROFILE, MIRRORED_PROFILE = "frontal", "profile", "mirrored profile"


@dataclass(frozen=True)
class Detection:
    """A face box in source pixels; ``pose``: as the detector saw it, where it tells."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    pose: str = ""

    @property
    def size(self) -> float:
        return max(self.x2 - self.x1, self.y2 - self.y1)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x1, self.y1, self.x2, self.y2


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes x1, y1, x2, y2."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector(Protocol):
    name: str
    #: False: grey frames (H x W) do as well as BGR ones; True: BGR frames, or decoded pictures
    #: (:class:`~syncdesk.core.media.Picture`) of which the detector converts what it searches
    needs_colour: bool
    search_every: int  # frames from one whole-frame search to the next (at most; cuts start one too)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces anywhere in one frame (BGR, or grey where colour is not needed)."""
        ...

    def detect_near(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        """Faces near ``faces`` (found a few frames before) and of about their size: a far cheaper search."""
        ...


#: a face is looked for within a square this many times its size, centred where it was
NEAR_REGION = 2.2
#: ... at a size from this much smaller to this much larger than it was
NEAR_SIZES = (0.65, 1.5)


def near_region(face: Detection, width: int, height: int, inside: bool = False) -> tuple[int, int, int, int]:
    """The part of a ``width`` x ``height`` frame to search for ``face`` again: x1, y1, x2, y2 (maybe
    empty). ``inside``: a square the frame's edge would cut is moved inside the frame instead, where
    the frame is large enough (regions of faces of any size then scale to one input size)."""
    half = face.size * NEAR_REGION / 2
    cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
    x1, y1, x2, y2 = round(cx - half), round(cy - half), round(cx + half), round(cy + half)
    if inside:
        x1, x2 = _moved_inside(x1, x2, width)
        y1, y2 = _moved_inside(y1, y2, height)
    return max(0, x1), max(0, y1), min(width, x2), min(height, y2)


def _moved_inside(low: int, high: int, limit: int) -> tuple[int, int]:
    """The span ``low``-``high`` shifted to lie within 0-``limit``; as it is where it is longer than that."""
    if low < 0 <= high - limit or high - low > limit:
        return low, high
    shift = -low if low < 0 else min(0, limit - high)
    return low + shift, high + shift


def suppress(found: Sequence[Detection], overlap: float = 0.3) -> list[Detection]:
    """One box per face: each box, best score first, drops the later ones overlapping it by more than ``overlap``."""
    kept: list[Detection] = []
    for box in sorted(found, key=lambda d: -d.score):
        if all(iou(box.box, other.box) <= overlap for other in kept):
            kept.append(box)
    return kept


class WholeFrameDetector:
    """Every frame is one face crop (clips that are already tight crops, like the demo's)."""

    name = "whole-frame"
    needs_colour = False
    search_every = 25

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        return [Detection(0.0, 0.0, float(width), float(height))]

    def detect_near(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        return self.detect(image)


def _scaled_grey(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


class HaarFaceDetector:
    """OpenCV's Haar cascades shipped inside opencv-python(-headless) 4.x: frontal ``alt2`` and the
    profile cascade, run on the grey frame and on its mirror image (the cascade knows faces turned
    one way only). Boxes that overlap are one face; a frontal box is preferred.

    A whole-frame search runs the frontal cascade on a copy at most ``work_width`` wide and of at most
    the area of a 16:9 frame that wide (a portrait frame is searched at 360x640), and the profile
    cascades on a copy ``profile_width`` wide (they cost twice as much per pixel). Frontal settings
    as ``bench/bench_detectors.py`` measured best at this cost: alt2 on the raw grey image (no
    histogram equalisation, which added false faces), 640 px wide, scale step 1.1, minNeighbors 3 (a
    step of 1.2 costs a third less, but its box sizes jump by 20% from one detection to the next,
    enough to break a track's IoU > 0.5 link; the profile cascades take 1.2: their boxes matter only
    for turned faces, and most boxes come from searches near known faces, at 1.1). A search near known
    faces looks in a small region around each, scaled so that the face is ``near_px`` pixels, for
    faces of nearly its size: frontal first, the profile cascades only where it found none (a face
    last found turned: the profile cascade that found it first, see :func:`_near_order`).
    """

    name = "haar"
    needs_colour = False
    #: every 2 s: a whole-frame search costs about as much as ten near ones, and while no face is known
    #: every regular check searches the whole frame anyway; a face that comes in beside a known one
    #: waits up to this long
    search_every = 50
    #: a frontal box is preferred to a profile one for the same face
    PROFILE_SCORE = 0.9

    def __init__(self, work_width: int = 640, profile_width: int = 320, min_neighbors: int = 3,
                 scale_factor: float = 1.1, profile_scale_factor: float = 1.2, near_px: int = 48) -> None:
        self._frontal = self._load("haarcascade_frontalface_alt2.xml")
        self._profile = self._load("haarcascade_profileface.xml")
        self.work_width = work_width
        self.profile_width = profile_width
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor
        self.profile_scale_factor = profile_scale_factor
        self.near_px = near_px

    @staticmethod
    def _load(name: str) -> cv2.CascadeClassifier:
        path = cv2.data.haarcascades + name
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing ({path}); install opencv-python-headless<5")
        return cascade

    @staticmethod
    def _work_scale(width: int, height: int, work_width: int) -> float:
        """At most ``work_width`` wide and ``work_width`` x 9/16 of it in area (portrait frames too)."""
        return min(1.0, work_width / width, (work_width * work_width * 9 / 16 / (width * height)) ** 0.5)

    def _search(self, grey: np.ndarray, poses: Sequence[str], scale_factor: float, min_side: int,
                max_side: int = 0) -> list[Detection]:
        """Boxes in ``grey``'s pixels from the cascade of each of ``poses`` (the profile one run on
        the mirror image for the mirrored profile)."""
        options = {"scaleFactor": scale_factor, "minNeighbors": self.min_neighbors, "minSize": (min_side, min_side),
                   "maxSize": (max_side, max_side)}
        width = grey.shape[1]
        found = []
        for pose in poses:
            if pose == FRONTAL:
                found += [Detection(float(x), float(y), float(x + w), float(y + h), 1.0, FRONTAL)
                          for x, y, w, h in self._frontal.detectMultiScale(grey, **options)]
                continue
            mirrored = pose == MIRRORED_PROFILE
            boxes = self._profile.detectMultiScale(cv2.flip(grey, 1) if mirrored else grey, **options)
            found += [Detection(float(width - x - w if mirrored else x), float(y),
                                float(width - x if mirrored else x + w), float(y + h), self.PROFILE_SCORE, pose)
                      for x, y, w, h in boxes]
        return found

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        found = []
        searches = ((self.work_width, (FRONTAL,), self.scale_factor),
                    (self.profile_width, (PROFILE, MIRRORED_PROFILE), self.profile_scale_factor))
        for work_width, poses, step in searches:
            scale = self._work_scale(width, height, work_width)
            grey = _scaled_grey(image, scale)
            boxes = self._search(grey, poses, step, max(16, round(min(grey.shape) * 0.06)))
            found += [_scaled(b, 1 / scale) for b in boxes]
        return suppress(found)

    def detect_near(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        height, width = image.shape[:2]
        found = []
        for face in faces:
            x1, y1, x2, y2 = near_region(face, width, height)
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            scale = min(1.0, self.near_px / max(face.size, 1.0))
            grey = _scaled_grey(image[y1:y2, x1:x2], scale)
            low, high = (round(self.near_px * f) if scale < 1.0 else round(face.size * f) for f in NEAR_SIZES)
            sizes = (1.1, max(20, low), max(high, 21))
            boxes: list[Detection] = []
            for poses in _near_order(face.pose):
                boxes = self._search(grey, poses, *sizes)
                if boxes:
                    break
            found += [_scaled(b, 1 / scale, x1, y1) for b in boxes]
        return suppress(found)


def _near_order(pose: str) -> tuple[tuple[str, ...], ...]:
    """The cascades to try near a face last seen in ``pose``, in turn until one finds it: frontal,
    then both profiles; a face last seen turned, that way first (it mostly stays turned), then frontal."""
    if pose in (PROFILE, MIRRORED_PROFILE):
        return (pose,), (FRONTAL,), (MIRRORED_PROFILE if pose == PROFILE else PROFILE,)
    return (FRONTAL,), (PROFILE, MIRRORED_PROFILE)


def _scaled(box: Detection, factor: float, dx: float = 0.0, dy: float = 0.0) -> Detection:
    return Detection(box.x1 * factor + dx, box.y1 * factor + dy, box.x2 * factor + dx, box.y2 * factor + dy, box.score,
                     box.pose)
