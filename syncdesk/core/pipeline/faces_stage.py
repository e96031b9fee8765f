"""Stage "faces" (pass one of the face-track path): shot boundaries and the face tracks worth scoring."""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from .. import media
from ..media import ANALYSIS_FPS
from ..errors import AnalysisError
from ..faces.scan import DETECT_EVERY, FaceScan, scan_faces
from ..faces.tracking import FaceTrack, keep_tracks
from ..options import AnalysisOptions
from ..sync.windows import WINDOW_FRAMES
from .context import AnalysisContext
from ..shots import sampled_size
from .media_stage import decode_frames


def find_faces(context: AnalysisContext, frames: Optional[Iterable[media.AnalysisFrame]] = None) -> None:
    """Sets ``frames``, ``shots`` and ``faces`` from ``frames`` (default: the whole clip, decoded).

    Needs ``info`` and ``detector``. Only boxes are kept, never frames.
    """
    expected = context.expected_frames
    if frames is None:
        frames = detection_frames(context, record=True)
    with context.timer.stage("faces"):
        scan = scan_faces(frames, context.detector, DETECT_EVERY, context.cancel,
                          lambda index: context.tick("faces", index, expected))
        context.report("faces", 1.0)
    media.check_complete(context.info, scan.frames)
    info = context.info
    context.faces = usable_tracks(scan, context.options, context.path.name, context.detector_name,
                                  (info.width, info.height))
    context.shots, context.frames = scan.shots, scan.frames


def detection_frames(context: AnalysisContext, record: bool = False) -> Iterator[media.AnalysisFrame]:
    """The clip decoded for pass one: no deblocking, and for a detector that needs no colour grey
    pictures, each with a colour copy at the cut detector's sampling size (or the frame's, made even)."""
    grey = None
    if not context.detector.needs_colour:
        width, height = context.info.width, context.info.height
        grey = sampled_size(width, height) or (width - width % 2, height - height % 2)
    return decode_frames(context, record=record, deblock=False, grey=grey)


#: a frame this small and this near square may be one face crop, the only footage ``whole-frame`` is for
FACE_CROP_MAX_PX = 480
FACE_CROP_MAX_ASPECT = 1.5


def usable_tracks(scan: FaceScan, options: AnalysisOptions, name: str, detector: str,
                  frame_size: tuple[int, int]) -> list[FaceTrack]:
    """The tracks the length and size rules keep, or an error that gives every reason at once with
    its figures, and advice that fits the footage (``detector``: the one used; ``frame_size``: w, h)."""
    kept = keep_tracks(scan.tracks, options.min_track, options.min_face_size)
    if kept:
        return kept
    advice = _advice(scan.tracks, options, detector, frame_size)
    if not scan.tracks:
        raise AnalysisError(f"no face found in {name}: the {detector} detector found none in "
                            f"{scan.frames_checked} frames checked\n{advice}")
    short = sum(len(t.frames) < options.min_track for t in scan.tracks)
    small = sum(t.mean_size < options.min_face_size for t in scan.tracks)
    longest = max(len(t.frames) for t in scan.tracks)
    largest = max(t.mean_size for t in scan.tracks)
    tracks = f"{len(scan.tracks)} track{'s' if len(scan.tracks) > 1 else ''}"
    raise AnalysisError(
        f"no usable face in {name}: {scan.detections} faces found in {scan.frames_checked} frames checked, linked "
        f"into {tracks}: {short} shorter than --min-track {options.min_track} frames (the longest: {longest} frames, "
        f"{longest / ANALYSIS_FPS:.1f} s), {small} smaller than --min-face-size {options.min_face_size} px "
        f"(the largest: {largest:.0f} px)\n{advice}"
    )


def _advice(tracks: list[FaceTrack], options: AnalysisOptions, detector: str, frame_size: tuple[int, int]) -> str:
    """What to try: the least lowering of the rules that keeps one track, S3FD when the bundled
    detector ran, whole-frame only when the frame could be one face crop."""
    tries = []
    fits = [t for t in tracks if len(t.frames) > WINDOW_FRAMES]
    if fits:
        best = max(fits, key=lambda t: min(1.0, len(t.frames) / options.min_track)
                   * min(1.0, t.mean_size / options.min_face_size))
        lower = [f"--min-track {len(best.frames)}"] if len(best.frames) < options.min_track else []
        lower += [f"--min-face-size {int(best.mean_size)}"] if best.mean_size < options.min_face_size else []
        tries.append(f"{' '.join(lower)} (the verdict then warns that it rests on a small or brief face)")
    if detector != "s3fd":
        tries.append("S3FD, which finds small and turned faces the bundled detector misses "
                     "(syncdesk models download s3fd; --detector auto then uses it)")
    width, height = frame_size
    if 0 < max(width, height) <= FACE_CROP_MAX_PX and max(width, height) <= FACE_CROP_MAX_ASPECT * min(width, height):
        tries.append(f"--detector whole-frame if the {width}x{height} frame is one face crop")
    if tries:
        return "try " + "; or ".join(tries)
    return ("no setting can help: the faces found are too brief to measure" if tracks
            else "no setting can help: check that the clip shows a face")
