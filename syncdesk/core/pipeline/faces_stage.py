"""Stages "faces" and "embeddings" of the face-track path, in one pass over the frames.

Each frame is decoded once: the cut detector and the face detector look at it, the tracker links
what was found, and each track's crops go through SyncNet as soon as its boxes there are settled
(a few frames behind the detector: :attr:`~syncdesk.core.faces.tracking.OpenTrack.settled`, or the
track's end). The frames between are held, the oldest dropped once every track has its crop.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Optional

import torch

from .. import media
from ..errors import AnalysisError
from ..faces.scan import FaceFollower, FaceScan
from ..faces.tracking import FaceTrack, OpenTrack, keep_tracks
from ..media import ANALYSIS_FPS
from ..options import AnalysisOptions
from ..results import Track
from ..shots import colour_copy_size
from ..sync.embed import ClipAudioEmbeddings
from ..sync.over_time import TrackEvidence
from ..sync.windows import WINDOW_FRAMES
from .context import AnalysisContext
from .embed_stage import TrackScorer
from .media_stage import decode_frames


class _Tracks:
    """The scorers of the tracks being followed, and the frames they still need to crop."""

    def __init__(self, context: AnalysisContext, shared: ClipAudioEmbeddings) -> None:
        self._context, self._shared = context, shared
        self.held: deque[media.AnalysisFrame] = deque()
        self.running: dict[int, TrackScorer] = {}  # by the linker's key
        self.closed: list[tuple[FaceTrack, TrackScorer]] = []  # kept, not yet numbered
        self.faces: list[FaceTrack] = []  # kept, numbered
        self.tracks: list[Track] = []
        self.evidence: list[TrackEvidence] = []

    def feed(self, track: OpenTrack, face: Optional[FaceTrack] = None) -> None:
        """Crop the frames of ``track`` whose boxes are settled (all of them, given its ``face``)."""
        context = self._context
        scorer = self.running.get(track.key)
        if scorer is None:
            scorer = self.running[track.key] = TrackScorer(track.frames[0], context.audio, context.model,
                                                           context.options, context.device, self._shared)
        last = face.end if face is not None else track.settled
        if last < scorer.next:
            return
        boxes = face.boxes[scorer.next - face.start:] if face is not None else track.boxes_between(scorer.next, last)
        first = self.held[0].index
        for box in boxes:
            scorer.add(self.held[scorer.next - first].image, box)

    def close(self, track: OpenTrack, face: FaceTrack) -> None:
        """``track`` ended: its last crops, then kept (scored once numbered) or dropped by the rules."""
        self.feed(track, face)
        scorer = self.running.pop(track.key)
        if keep_tracks([face], self._context.options.min_track, self._context.options.min_face_size):
            self.closed.append((face, scorer))

    def number(self, open_tracks: list[OpenTrack]) -> None:
        """Number and score the kept tracks that no open track could precede (:attr:`FaceTrack.order`:
        an open track's left edge is not final, so one starting on the same frame waits); each goes to
        ``on_track`` as soon as it is scored."""
        self.closed.sort(key=lambda item: item[0].order)
        first_open = min((t.frames[0] for t in open_tracks), default=None)
        while self.closed and (first_open is None or self.closed[0][0].start < first_open):
            face, scorer = self.closed.pop(0)
            track = scorer.finish(len(self.tracks), self._context.options)
            self.faces.append(face)
            self.tracks.append(track)
            self.evidence.append(scorer.evidence)
            self._context.on_track(track)

    def drop(self, open_tracks: list[OpenTrack], index: int) -> None:
        """Forget the held frames before every track's next crop (and before ``index``)."""
        keep_from = min([self.running[t.key].next for t in open_tracks if t.key in self.running] + [index])
        while self.held and self.held[0].index < keep_from:
            self.held.popleft()


def follow_faces(context: AnalysisContext, frames: Optional[Iterable[media.AnalysisFrame]] = None) -> None:
    """Sets ``frames``, ``shots``, ``faces``, ``tracks`` and ``evidence`` from ``frames`` (default:
    the whole clip, decoded once). Needs ``info``, ``detector``, ``model``, ``device`` and ``audio``.

    Tracks are numbered by start frame then left edge, each scored (and given to ``on_track``) once
    no track still open could be numbered before it. A clip where no track passes the length and size
    rules is refused with every reason (:func:`usable_tracks`).
    """
    expected = context.expected_frames
    timer, audio = context.timer, context.audio
    follower = FaceFollower(context.detector)
    with torch.inference_mode():
        tracks = _Tracks(context, ClipAudioEmbeddings(context.model, audio.mfcc, audio.windows, context.device))
        source = iter(detection_frames(context) if frames is None else frames)
        while True:
            context.cancel.check()
            with timer.stage("faces"):  # decoding (the wait for the decoder's thread), cuts and faces
                frame = next(source, None)
                if frame is None:
                    break
                image = frame.image
                if isinstance(image, media.Picture) and not context.detector.needs_colour:
                    image = image.luma
                closed = follower.add(frame.index, image, frame.small)
            tracks.held.append(frame)
            with timer.stage("embeddings"):
                for track, face in closed:
                    tracks.close(track, face)
                for track in follower.linker.active:
                    tracks.feed(track)
                tracks.number(follower.linker.active)
                tracks.drop(follower.linker.active, frame.index)
            context.tick("faces", frame.index, expected)
        with timer.stage("embeddings"):
            for track, face in follower.finish():
                tracks.close(track, face)
            tracks.number([])
        context.report("faces", 1.0)
    scan = follower.scan()
    media.check_complete(context.info, scan.frames)
    if not tracks.tracks:  # no track passed the rules: refused, with every reason
        info = context.info
        usable_tracks(scan, context.options, context.path.name, context.detector_name, (info.width, info.height))
    context.shots, context.frames = scan.shots, scan.frames
    context.faces, context.tracks, context.evidence = tracks.faces, tracks.tracks, tracks.evidence


def detection_frames(context: AnalysisContext) -> Iterable[media.AnalysisFrame]:
    """The clip decoded once for the face-track path: decoded pictures (a grey detector searches
    their luma plane, a colour one converts the regions it searches, crops are converted alone),
    each with the small colour copy the cut detector takes (:func:`colour_copy_size`)."""
    width, height = context.info.width, context.info.height
    return decode_frames(context, record=True, pictures=True, small=colour_copy_size(width, height))


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
