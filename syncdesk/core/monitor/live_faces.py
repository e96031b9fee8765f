"""Faces in a stream, found and followed as pictures arrive, cropped for SyncNet.

The file pipeline detects every 5th frame and interpolates the boxes between detections once the
whole clip is known (:mod:`syncdesk.core.faces.scan`). Live, the pictures since the last check
wait (at most :data:`~syncdesk.core.faces.scan.DETECT_EVERY` of them) until the next one, then
each track's box is interpolated over them and they are cropped: the same boxes, a fifth of a
second later. Where to look is the file pipeline's choice too (:class:`~syncdesk.core.faces.scan.FaceFinder`:
the whole picture every 2 s and at cuts, near the known faces between). Tracks are linked as
the file pipeline links them (IoU with the recent boxes, or a small step), end at a cut or after
:data:`~syncdesk.core.faces.tracking.MAX_GAP` frames unseen, and hold their last box in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..faces.crop import crop_face
from ..faces.detectors import FaceDetector
from ..faces.scan import DETECT_EVERY, FaceFinder
from ..faces.tracking import IOU_THRESHOLD, MAX_GAP, RECENT_BOXES, overlap
from ..pipeline.embed_stage import whole_frame_crop
from ..shots import ShotDetector

Box = tuple[float, float, float, float]


@dataclass
class Crop:
    """One track's face in one picture."""

    track: int
    index: int  # analysis frame in the epoch
    image: np.ndarray  # 224 x 224 BGR
    size: float  # the face's size in px (the larger side of its box)
    box: Box


@dataclass
class _Track:
    id: int
    boxes: list[Box] = field(default_factory=list)  # the last detections
    last_seen: int = 0  # frame of the last detection
    last_box: Box = (0.0, 0.0, 0.0, 0.0)
    last_frame: int = -1  # frame of the last crop given out

    def overlap(self, box: Box) -> float:
        return overlap(self.boxes, box)


class LiveFaces:
    """Feed pictures in order; get back the crops of every track, in frame order per track."""

    def __init__(self, detector: FaceDetector, whole_frame: bool, every: int = DETECT_EVERY) -> None:
        self._finder = FaceFinder(detector, every)
        self._whole_frame = whole_frame
        self._every = every
        self._shots = ShotDetector()
        self._waiting: list[tuple[int, np.ndarray]] = []  # pictures since the last check
        self._tracks: list[_Track] = []
        self._next_id = 0
        self.boxes: dict[int, Box] = {}  # the latest box of each live track, for a picture of the stream

    def add(self, index: int, image: np.ndarray) -> list[Crop]:
        if self._whole_frame:
            height, width = image.shape[:2]
            self.boxes = {0: (0.0, 0.0, float(width), float(height))}
            return [Crop(0, index, whole_frame_crop(image), float(min(width, height)), self.boxes[0])]
        cuts = len(self._shots.cuts)
        self._shots.process(image)
        crops: list[Crop] = []
        cut = len(self._shots.cuts) > cuts
        if cut:  # what waits belongs to the old shot's tracks
            crops += self._hold_all()
            self._tracks = []
        self._waiting.append((index, image))
        if cut or index % self._every == 0 or len(self._waiting) > self._every:
            crops += self._check(index, image, cut)
        return crops

    def _hold_all(self) -> list[Crop]:
        crops = [crop for track in self._tracks for crop in self._hold(track)]
        self._waiting = []
        return crops

    def _hold(self, track: _Track) -> list[Crop]:
        return [self._crop(track, index, image, track.last_box) for index, image in self._waiting
                if index > track.last_frame]

    def _check(self, index: int, image: np.ndarray, cut: bool) -> list[Crop]:
        found = sorted(self._finder.look(index, image, cut, due=True), key=lambda d: -d.score)
        crops: list[Crop] = []
        taken: set[int] = set()
        for detection in found:
            box = (detection.x1, detection.y1, detection.x2, detection.y2)
            scores = [(t.overlap(box), n) for n, t in enumerate(self._tracks) if n not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] > IOU_THRESHOLD:
                track = self._tracks[best[1]]
                taken.add(best[1])
                crops += self._interpolate(track, box, index)
            else:
                track = _Track(self._next_id, [box], index, box)
                self._next_id += 1
                self._tracks.append(track)
                taken.add(len(self._tracks) - 1)
                crops.append(self._crop(track, index, image, box))
        for n, track in enumerate(list(self._tracks)):
            if n not in taken:
                crops += self._hold(track)
        self._tracks = [t for t in self._tracks if index - t.last_seen <= MAX_GAP]
        self.boxes = {t.id: t.last_box for t in self._tracks}
        self._waiting = []
        return crops

    def _interpolate(self, track: _Track, box: Box, index: int) -> list[Crop]:
        """Crops of the waiting pictures with the box moving from the track's last to ``box``."""
        crops = []
        start, before = track.last_frame, np.asarray(track.last_box)
        after = np.asarray(box)
        for frame, image in self._waiting:
            if frame <= track.last_frame:
                continue
            share = (frame - start) / max(1, index - start)
            crops.append(self._crop(track, frame, image, tuple(before + share * (after - before))))
        track.boxes = (track.boxes + [box])[-RECENT_BOXES:]
        track.last_seen, track.last_box = index, box
        return crops

    def _crop(self, track: _Track, index: int, image: np.ndarray, box: Box) -> Crop:
        track.last_frame = index
        size = max(box[2] - box[0], box[3] - box[1])
        return Crop(track.id, index, crop_face(image, box), float(size), box)

    @property
    def waiting(self) -> Optional[int]:
        """The first picture still waiting for its boxes, or None."""
        return self._waiting[0][0] if self._waiting else None
