"""Analysis options shared by the CLI, the GUI and batch (light: imports no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import SyncdeskError
from .sync.windows import WINDOW_FRAMES

#: ``auto``: S3FD when its weights are downloaded, else the bundled ``haar``; ``whole-frame``:
#: every frame is one face crop (clips that are already tight crops)
DETECTORS = ("auto", "s3fd", "haar", "whole-frame")
#: ``--device``: ``auto`` is CUDA, else Apple MPS, else the CPU
DEVICES = ("auto", "cpu", "cuda", "mps")
#: ``--precision``: ``auto`` is bfloat16 where the CPU computes it natively, else float32
PRECISIONS = ("auto", "float32", "bfloat16")
#: accepted ranges (inclusive) of the numeric options, checked by ``validate_options``
VSHIFT_RANGE = (1, 100)
MIN_TRACK_RANGE = (WINDOW_FRAMES + 1, 1_000_000)  # one SyncNet window and one frame more
MIN_FACE_RANGE = (1, 10_000)
#: fast mode scores every 5th window: each frame is seen by exactly one scored window
FAST_STRIDE = 5
#: frames of float video per batch stay near this, whatever the stride (memory)
FRAMES_PER_BATCH = 48


@dataclass
class AnalysisOptions:
    """What ``analyze`` and the other commands share ("analysis options" in contract.md)."""

    weights: Optional[Path] = None
    detector: str = "auto"
    s3fd_weights: Optional[Path] = None  # an sfd_face.pth elsewhere than the model manager's copy
    device: str = "auto"
    vshift: int = 15
    min_track: int = 100
    min_face_size: int = 100
    exact: bool = False
    save_dists: bool = False
    fast_stride: int = FAST_STRIDE
    #: fast mode's arithmetic: ``auto`` (bfloat16 on CPUs that compute it natively), ``float32``
    #: or ``bfloat16``; ``exact`` is always float32
    precision: str = "auto"

    def fingerprint(self, precision: Optional[str] = None) -> dict[str, object]:
        """The settings that change an analysis's result (a cache or queue key, with the file and
        the weights' identity): not the device, which changes only its speed. ``precision``: the
        arithmetic ``auto`` settles on (``models.device.precision_in_use``), else as given."""
        return {
            "detector": self.detector,
            "vshift": self.vshift,
            "min_track": self.min_track,
            "min_face_size": self.min_face_size,
            "mode": "exact" if self.exact else f"fast/{self.fast_stride}/{precision or self.precision}",
            "save_dists": self.save_dists,
        }

    @property
    def stride(self) -> int:
        return 1 if self.exact else self.fast_stride

    @property
    def windows_per_batch(self) -> int:
        return max(4, min(16, (FRAMES_PER_BATCH - 5) // self.stride + 1))


def validate_options(options: AnalysisOptions) -> None:
    """Refuse options the engine cannot use, with the flag's name in the message."""
    if options.detector not in DETECTORS:
        raise SyncdeskError(f"unknown detector {options.detector!r}: available: {', '.join(DETECTORS)}")
    for flag, value, (low, high), unit in (("--vshift", options.vshift, VSHIFT_RANGE, "frames"),
                                           ("--min-track", options.min_track, MIN_TRACK_RANGE, "frames"),
                                           ("--min-face-size", options.min_face_size, MIN_FACE_RANGE, "px")):
        if not low <= value <= high:
            raise SyncdeskError(f"{flag} must be between {low} and {high} {unit}"
                                + (" (one SyncNet window and one frame more)" if flag == "--min-track" else ""))
    if options.device not in DEVICES:
        raise SyncdeskError(f"--device must be one of {', '.join(DEVICES)}")
    if options.precision not in PRECISIONS:
        raise SyncdeskError(f"--precision must be one of {', '.join(PRECISIONS)}")
