"""Shot boundaries (hard cuts) from the analysis frame stream, one frame at a time.

The cut score is PySceneDetect's ContentDetector's: the mean absolute change of hue, saturation
and value between consecutive downscaled frames, a cut at or above 27 (0..255 scale), shots at
least 15 frames long. PySceneDetect itself is not a dependency: it requires ``opencv-python``,
which pip installs beside our ``opencv-python-headless`` into the same ``cv2`` folder, resolving
to OpenCV 5 (no Haar cascades, GUI build). One addition: a cut must also change the picture's
structure: both the normalised grey thumbnails and their gradient magnitudes decorrelate. So a
flash, a fade or a face lit up by a lamp (grey structure kept) is not a cut, nor are two faces
lit differently from one frame to the next (one darker, one brighter: the grey structure flips
but the edges stay where they were).
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

#: PySceneDetect's ContentDetector defaults
CUT_THRESHOLD = 27.0
MIN_SHOT_FRAMES = 15
#: below this correlation of normalised thumbnails the picture's structure has changed
STRUCTURE_CORRELATION = 0.6
#: thumbnails are about this wide: the frame shrunk by the whole factor nearest to width / 96
THUMB_WIDTH = 96
#: a thumbnail pixel averages this many pixels a side of its block (a 1080p frame's block is 20 a side)
SAMPLES_PER_SIDE = 4


def sampled_size(width: int, height: int) -> Optional[tuple[int, int]]:
    """The size a frame this large is first reduced to by picking pixels (SAMPLES_PER_SIDE a thumbnail
    pixel a side); None for a frame small enough to average whole. A frame already of that size, or a
    colour copy made that size by other means, gives the same thumbnail."""
    factor = max(1, round(width / THUMB_WIDTH))
    if factor <= SAMPLES_PER_SIDE:
        return None
    return round(width / factor) * SAMPLES_PER_SIDE, round(height / factor) * SAMPLES_PER_SIDE


def colour_copy_size(width: int, height: int) -> tuple[int, int, int]:
    """The colour copy of a ``width`` x ``height`` frame to give the cut detector, where the decoder
    can make one (:meth:`~syncdesk.core.media.Picture.small`): its width, height and the pixels a side
    each of its pixels averages. Half the sampled size, 2 x 2 samples a pixel: the thumbnail then
    averages 2 x 2 of them, the same SAMPLES_PER_SIDE a side in all. A small frame: itself, made even."""
    picked = sampled_size(width, height)
    if picked is None:
        return width - width % 2, height - height % 2, 1
    return picked[0] // 2, picked[1] // 2, 2


def _unit(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit norm; all zeros for a flat picture."""
    values = values - values.mean()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 1e-3 * values.size**0.5 else np.zeros_like(values)


class _Thumbnail:
    """One frame downscaled, its HSV (scored every frame) and, only when a cut is in question,
    its structure vectors (most frames never need them: the HSV change is small)."""

    def __init__(self, image: np.ndarray) -> None:
        # a whole factor takes OpenCV's box-filter path, far cheaper than an area resize to exactly
        # 96 wide; from a large frame the box averages SAMPLES_PER_SIDE x SAMPLES_PER_SIDE pixels
        # picked evenly from its block, not all of them (bench/engine_notes.md)
        height, width = image.shape[:2]
        picked = sampled_size(width, height)
        if picked is not None:
            image = cv2.resize(image, picked, interpolation=cv2.INTER_NEAREST)
        factor = max(1, round(image.shape[1] / THUMB_WIDTH))
        self.small = cv2.resize(image, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        self.hsv = cv2.cvtColor(self.small, cv2.COLOR_BGR2HSV)
        self._structure: Optional[np.ndarray] = None

    @property
    def structure(self) -> np.ndarray:
        """Two unit-norm vectors: the grey levels and the gradient magnitude."""
        if self._structure is None:
            grey = cv2.cvtColor(self.small, cv2.COLOR_BGR2GRAY).astype(np.float32)
            edges = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
            self._structure = np.stack([_unit(grey.ravel()), _unit(edges.ravel())])
        return self._structure


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """How much of the picture's structure two frames share (1.0 when either is flat)."""
    if not a[0].any() or not b[0].any():
        return 1.0
    return float(np.max(np.sum(a * b, axis=1)))


class ShotDetector:
    """Feed every analysis frame in order with :meth:`process`; read :meth:`shots` at the end."""

    def __init__(self, threshold: float = CUT_THRESHOLD, min_shot_frames: int = MIN_SHOT_FRAMES) -> None:
        self.threshold = threshold
        self.min_shot_frames = min_shot_frames
        self.cuts: list[int] = []  # first frame of each new shot
        self.frames = 0
        self._previous: Optional[_Thumbnail] = None

    def content_score(self, hsv: np.ndarray, previous: np.ndarray) -> float:
        """Mean over H, S and V of the mean absolute per-pixel change of two uint8 HSV thumbnails."""
        # OpenCV sums each channel's |change| exactly, far faster than numpy's mean down a strided
        # axis; dividing by the pixel count, then averaging the three, keeps numpy's score to the bit
        sums = np.array(cv2.sumElems(cv2.absdiff(hsv, previous))[:3])
        return float(np.mean(sums / (hsv.shape[0] * hsv.shape[1])))

    def process(self, image: np.ndarray) -> None:
        """One BGR frame, in order."""
        thumb = _Thumbnail(image)
        previous = self._previous
        if previous is not None:
            last_cut = self.cuts[-1] if self.cuts else 0
            if (self.frames - last_cut >= self.min_shot_frames
                    and self.content_score(thumb.hsv, previous.hsv) >= self.threshold
                    and _correlation(thumb.structure, previous.structure) < STRUCTURE_CORRELATION):
                self.cuts.append(self.frames)
        self._previous = thumb
        self.frames += 1

    def shots(self) -> list[list[int]]:
        """``[[start, end], ...]`` over the frames seen, ends inclusive."""
        if self.frames == 0:
            return []
        starts = [0, *self.cuts]
        ends = [cut - 1 for cut in self.cuts] + [self.frames - 1]
        return [[start, end] for start, end in zip(starts, ends, strict=True)]
