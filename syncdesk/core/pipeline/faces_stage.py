"""Stage "faces" (pass one of the face-track path): shot boundaries and the face tracks worth scoring."""

from __future__ import annotations

from typing import Iterable, Optional

from .. import media
from ..errors import AnalysisError
from ..faces.scan import DETECT_EVERY, FaceScan, scan_faces
from ..faces.tracking import FaceTrack, keep_tracks
from ..options import AnalysisOptions
from ..sync.windows import WINDOW_FRAMES
from .context import AnalysisContext
from .media_stage import decode_frames


def find_faces(context: AnalysisContext, frames: Optional[Iterable[media.AnalysisFrame]] = None) -> None:
    """Sets ``frames``, ``shots`` and ``faces`` from ``frames`` (default: the whole clip, decoded).

    Needs ``info`` and ``detector``. Only boxes are kept, never frames.
    """
    expected = context.expected_frames
    with context.timer.stage("faces"):
        scan = scan_faces(decode_frames(context, record=True) if frames is None else frames, context.detector, DETECT_EVERY,
                          context.cancel, lambda index: context.tick("faces", index, expected))
        context.report("faces", 1.0)
    media.check_complete(context.info, scan.frames)
    context.faces = usable_tracks(scan, context.options, context.path.name)
    context.shots, context.frames = scan.shots, scan.frames


def usable_tracks(scan: FaceScan, options: AnalysisOptions, name: str) -> list[FaceTrack]:
    """The tracks the length and size rules keep, or an error that says why there are none."""
    kept = keep_tracks(scan.tracks, options.min_track, options.min_face_size)
    if kept:
        return kept
    if not scan.tracks:
        raise AnalysisError(
            f"no face found in {name} ({scan.frames_checked} frames checked): try --detector whole-frame "
            "if the clip is already a tight face crop"
        )
    long_enough = [t for t in scan.tracks if len(t.frames) >= options.min_track]
    if not long_enough:
        longest = max(len(t.frames) for t in scan.tracks)
        raise AnalysisError(
            f"faces found in {name}, but none stays on screen for --min-track {options.min_track} frames "
            f"(longest {longest}): try --min-track {max(WINDOW_FRAMES + 1, longest)}, or --detector whole-frame"
        )
    largest = max(t.mean_size for t in long_enough)
    raise AnalysisError(
        f"faces found in {name}, but all are smaller than --min-face-size {options.min_face_size} px "
        f"(largest {largest:.0f} px): try --min-face-size {max(1, int(largest))}, or --detector whole-frame"
    )
