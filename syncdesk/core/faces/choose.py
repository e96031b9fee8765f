"""Pick a face detector by name: ``auto`` is S3FD when its published weights are present, else
the bundled Haar cascade (nothing to download)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..errors import SyncdeskError, WeightsError
from ..options import DETECTORS
from ..models.weights import locate

if TYPE_CHECKING:
    import torch

    from .detectors import FaceDetector


def resolve_name(name: str, s3fd_weights: Optional[Path] = None) -> str:
    """The detector ``name`` stands for (``auto`` resolved). ``s3fd_weights``: a file given
    explicitly; ``auto`` then means S3FD, and a missing file is an error, not a quiet fallback."""
    if name not in DETECTORS:
        raise SyncdeskError(f"unknown detector {name!r}: available: {', '.join(DETECTORS)}")
    if name != "auto":
        return name
    if s3fd_weights is not None:
        locate("s3fd", s3fd_weights)
        return "s3fd"
    try:
        locate("s3fd")
    except WeightsError:
        return "haar"
    return "s3fd"


def create_detector(name: str, device: str = "auto", s3fd_weights: Optional[Path] = None,
                    dtype: Optional[torch.dtype] = None) -> FaceDetector:
    """The detector ``name`` stands for; ``dtype``: S3FD's arithmetic (default float32)."""
    from .detectors import HaarFaceDetector, WholeFrameDetector  # OpenCV: only when a detector is made

    resolved = resolve_name(name, s3fd_weights)
    if resolved == "whole-frame":
        return WholeFrameDetector()
    if resolved == "haar":
        return HaarFaceDetector()
    weights = locate("s3fd", s3fd_weights)  # a clear "how to get it" error before anything loads
    from .s3fd import S3FDDetector  # torch network: only when asked for

    return S3FDDetector(weights, device=device, dtype=dtype)
