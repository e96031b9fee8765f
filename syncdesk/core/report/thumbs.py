"""Each track's face as a small JPEG: one frame from the middle of the track, cropped to its box.

A reader of the report sees whose sync each line measures; the picture is decoded again from the
file (the document keeps boxes, not pixels).
"""

from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

from ..errors import SyncdeskError
from ..frames import FrameReader
from ..media import ANALYSIS_FPS
from ..results import Track

#: the longer side of a thumbnail, in pixels (shown at about half that, sharp when printed)
THUMB_PX = 160
JPEG_QUALITY = 85


def middle_box(track: Track) -> list[float]:
    """The ``[frame, x1, y1, x2, y2]`` box nearest the middle of the track."""
    middle = (track.start_frame + track.end_frame) / 2
    return min(track.boxes, key=lambda box: abs(box[0] - middle))


def crop(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """``image`` (H x W x 3) cut to ``box``'s ``x1, y1, x2, y2``, clipped to the picture."""
    height, width = image.shape[:2]
    x1, x2 = (int(round(min(max(v, 0), width))) for v in (box[1], box[3]))
    y1, y2 = (int(round(min(max(v, 0), height))) for v in (box[2], box[4]))
    if x2 <= x1 or y2 <= y1:
        return image
    return image[y1:y2, x1:x2]


def jpeg(image_rgb: np.ndarray, longest: int = THUMB_PX) -> bytes:
    """A JPEG no larger than ``longest`` on either side."""
    height, width = image_rgb.shape[:2]
    scale = min(1.0, longest / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SyncdeskError("cannot encode a face thumbnail")
    return data.tobytes()


def track_thumbnails(path: os.PathLike | str, tracks: Sequence[Track]) -> dict[int, bytes]:
    """``{track id: JPEG}`` for the tracks that have boxes; raises :class:`SyncdeskError` when the
    file cannot be decoded (the caller reports it and goes on without pictures)."""
    with_boxes = [track for track in tracks if track.boxes]
    if not with_boxes:
        return {}
    reader = FrameReader(path)
    try:
        found = {}
        for track in with_boxes:
            box = middle_box(track)
            frame = reader.frame_at(box[0] / ANALYSIS_FPS)
            found[track.id] = jpeg(crop(frame.image, box))
        return found
    finally:
        reader.close()
