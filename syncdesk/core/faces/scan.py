"""Shot boundaries and face detections, linked into tracks, one frame at a time (:class:`FaceFollower`).

Where to look is :class:`FaceFinder`'s choice: the whole frame every ``search_every`` frames (the
detector's: 2 s), on the first frame of each shot and on every regular check while no face is known
(new faces), near the faces already known on every ``every``-th frame in between (a
search of a few small regions, a fraction of a whole frame's cost); the tracker interpolates between
checks and bridges a face missed for up to its gap limit. When a check misses a face the check
before had found, or a cut's first frame shows no face, the search runs on every frame until they
are found again, up to the next regular check: no longer, because on real footage a detector
misses faces often, and a longer search ran it on most frames. Only boxes are kept (a few numbers
per frame), never frames: the caller crops each frame as the boxes near it settle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..shots import ShotDetector
from .detectors import Detection, FaceDetector, iou
from .tracking import MAX_GAP, FaceTrack, OpenTrack, TrackLinker

#: detect every 5th frame (0.2 s): measured to keep the tracks' boxes (bench/bench_faces.py)
DETECT_EVERY = 5
#: a face found near a known one, overlapping it by more than this, is that face
SAME_FACE_IOU = 0.2
#: a known face this large against the frame's smaller side (a box the frame cannot hold, from a
#: detector's outsized guess): the whole frame is searched
NEAR_FACE_MAX = 1.0


@dataclass
class _Known:
    face: Detection
    seen: int  # the frame it was last found on


class FaceFinder:
    """Frame by frame, where to look for faces, and what was found: call :meth:`look` on every frame."""

    def __init__(self, detector: FaceDetector, every: int = DETECT_EVERY, search_every: Optional[int] = None) -> None:
        self.detector = detector
        self.every = every
        self.search_every = search_every or detector.search_every
        self.checked = 0  # frames the detector ran on
        self._known: list[_Known] = []
        self._last_check = -1
        self._dense_until = -1  # look on every frame before this one (a face missed, or a new shot)
        self._dense_whole = False  # ... in the whole frame (a new shot without a face) or near the known faces

    def look(self, index: int, image: np.ndarray, cut: bool = False, due: bool = False) -> list[Detection]:
        """The faces found on frame ``index`` (``cut``: the first of a new shot); [] where it did not look.
        ``due``: a regular check now, whatever the frame's number (a stream checks when it must)."""
        if cut:
            self._known, self._dense_until = [], -1
        self._known = [k for k in self._known if index - k.seen <= MAX_GAP]
        regular = due or index % self.every == 0
        dense = index < self._dense_until
        whole = cut or index % self.search_every == 0 or (regular and not self._known) \
            or (dense and self._dense_whole)
        if not whole and not ((regular or dense) and self._known):
            return []
        if whole or self._fills_the_frame(image):
            found = self.detector.detect(image)
        else:
            found = self.detector.detect_near(image, [k.face for k in self._known])
        self.checked += 1
        missed = self._update(index, found)
        fresh_miss = any(k.seen == self._last_check for k in missed)  # found at the check before, not now
        next_regular = index - index % self.every + self.every
        if cut and not found:
            self._dense_until, self._dense_whole = next_regular, True
        elif dense:
            if found if self._dense_whole else not missed:
                self._dense_until = -1
        elif fresh_miss:
            self._dense_until, self._dense_whole = next_regular, False
        self._last_check = index
        return found

    def _fills_the_frame(self, image: np.ndarray) -> bool:
        """Whether a known face is so large against the frame that a search near it gains nothing (and
        its region, cut by the frame's edges, could not show it whole): search the frame whole."""
        return any(k.face.size >= NEAR_FACE_MAX * min(image.shape[:2]) for k in self._known)

    def _update(self, index: int, found: list[Detection]) -> list[_Known]:
        """Match ``found`` to the known faces; returns the known faces it did not find."""
        missed = []
        for known in self._known:
            match = max(found, key=lambda d: iou(d.box, known.face.box), default=None)
            if match is None or iou(match.box, known.face.box) <= SAME_FACE_IOU:
                missed.append(known)
        new = [_Known(d, index) for d in found]
        self._known = new + [k for k in missed if all(iou(k.face.box, d.box) <= SAME_FACE_IOU for d in found)]
        return missed


@dataclass
class FaceScan:
    frames: int
    shots: list[list[int]]
    tracks: list[FaceTrack]  # every linked track, before the length and size rules
    frames_checked: int  # frames the detector ran on
    detections: int  # faces it found in all


class FaceFollower:
    """Cuts, where to look, and the tracks, one frame at a time: :meth:`add` every analysis frame in
    order, then :meth:`finish`. Each returns the tracks that closed, with their finished boxes;
    :attr:`linker` has the open ones."""

    def __init__(self, detector: FaceDetector, every: int = DETECT_EVERY) -> None:
        self._shots = ShotDetector()
        self._finder = FaceFinder(detector, every)
        self.linker = TrackLinker(hold=every - 1)
        self._tracks: list[FaceTrack] = []
        self._detections = 0

    def add(self, index: int, image: np.ndarray, small: Optional[np.ndarray] = None) -> list[tuple[OpenTrack, FaceTrack]]:
        """Frame ``index``: ``image`` for the detector, ``small`` (a small colour copy) or else
        ``image`` for the cut detector."""
        cuts = len(self._shots.cuts)
        self._shots.process(small if small is not None else image)
        cut = len(self._shots.cuts) > cuts
        found = self._finder.look(index, image, cut=cut)
        self._detections += len(found)
        return self._closed(self.linker.add(index, found, cut))

    def finish(self) -> list[tuple[OpenTrack, FaceTrack]]:
        return self._closed(self.linker.finish())

    def _closed(self, closed: list[tuple[OpenTrack, FaceTrack]]) -> list[tuple[OpenTrack, FaceTrack]]:
        self._tracks += [face for _, face in closed]
        return closed

    def scan(self) -> FaceScan:
        """What was seen, once finished; tracks in numbering order (:attr:`FaceTrack.order`)."""
        return FaceScan(frames=self._shots.frames, shots=self._shots.shots(),
                        tracks=sorted(self._tracks, key=lambda t: t.order),
                        frames_checked=self._finder.checked, detections=self._detections)
