"""Pass one over a clip: shot boundaries and face detections, linked into tracks.

Faces are detected every ``every`` frames and on the first frame of each shot; the tracker
interpolates between detections and bridges a face missed for up to its gap limit. When a check
finds fewer faces than the one before (a face missed, or gone), or a cut's first frame shows no
face, detection runs on every frame until they are all found again, up to the next regular check:
no longer, because on real footage a detector misses faces often, and a longer search ran it on
most frames. Only boxes are kept (a few numbers per frame), never frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from ..cancel import CancelToken
from ..media import AnalysisFrame
from ..shots import ShotDetector
from .detectors import Detection, FaceDetector
from .tracking import FaceTrack, link_tracks

#: detect every 5th frame (0.2 s): measured to keep the tracks' boxes (bench/bench_faces.py)
DETECT_EVERY = 5


@dataclass
class FaceScan:
    frames: int
    shots: list[list[int]]
    tracks: list[FaceTrack]  # every linked track, before the length and size rules
    frames_checked: int  # frames the detector ran on
    detections: int  # faces it found in all


def scan_faces(frames: Iterable[AnalysisFrame], detector: FaceDetector, every: int = DETECT_EVERY,
               cancel: Optional[CancelToken] = None,
               on_frame: Optional[Callable[[int], None]] = None) -> FaceScan:
    """Run shot and face detection over the analysis frames, in order."""
    shots = ShotDetector()
    detections: list[list[Detection]] = []
    checked = 0
    expected = 0  # faces the last full check found
    dense = 0  # frames left to check one by one, looking for a missed face
    for frame in frames:
        if cancel is not None:
            cancel.check()
        cuts = len(shots.cuts)
        shots.process(frame.image)
        cut = len(shots.cuts) > cuts
        found: list[Detection] = []
        if frame.index % every == 0 or cut or dense:
            found = detector.detect(frame.image)
            checked += 1
            if cut and not found:  # a new shot whose first frame shows no face: look on the next few
                expected, dense = 1, every + 1
            elif cut or len(found) >= expected or dense == 1:  # all found again, a new shot, or given up
                expected, dense = len(found), 0
            elif not dense:
                dense = every + 1
        dense = max(0, dense - 1)
        detections.append(found)
        if on_frame is not None:
            on_frame(frame.index)
    shot_list = shots.shots()
    return FaceScan(
        frames=shots.frames,
        shots=shot_list,
        tracks=link_tracks(detections, shot_list, hold=every - 1),
        frames_checked=checked,
        detections=sum(len(d) for d in detections),
    )
