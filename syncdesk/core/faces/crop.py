"""The face-centred square crop the published pipeline feeds SyncNet (syncnet-facts.md)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..media import Picture, bgr_region
from ..sync.windows import INPUT_SIZE

CROP_SCALE = 0.40
PAD_VALUE = 110


def crop_face(image: np.ndarray | Picture, box: Sequence[float], crop_scale: float = CROP_SCALE,
              size: int = INPUT_SIZE) -> np.ndarray:
    """``size`` x ``size`` BGR crop: half-size ``s = max(w, h) / 2``; rows ``cy - s`` to
    ``cy + s(1 + 2 crop_scale)``, columns ``cx +- s(1 + crop_scale)`` (more room below the eyes,
    for the mouth); outside the frame the picture is padded with grey 110. ``image``: a BGR frame,
    or a decoded :class:`~syncdesk.core.media.Picture`, of which only the crop is converted."""
    x1, y1, x2, y2 = box
    half = max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    top, bottom = round(cy - half), round(cy + half * (1 + 2 * crop_scale))
    left, right = round(cx - half * (1 + crop_scale)), round(cx + half * (1 + crop_scale))
    height, width = image.shape[:2]
    rows = slice(max(top, 0), max(min(bottom, height), 0))
    columns = slice(max(left, 0), max(min(right, width), 0))
    region = bgr_region(image, rows, columns)
    padded = cv2.copyMakeBorder(region, max(0, -top), max(0, bottom - height), max(0, -left), max(0, right - width),
                                cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3) if region.size else \
        np.full((bottom - top, right - left, 3), PAD_VALUE, np.uint8)
    return cv2.resize(padded, (size, size), interpolation=cv2.INTER_LINEAR)
