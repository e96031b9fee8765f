"""Stage "embeddings": frames through SyncNet into each track's distance rows, then its score.

Both paths stream: each frame is cropped, fed to its scorers and dropped; a scorer keeps one
row of distances per window, never frames. The whole-frame path is :func:`embed_whole_frame`; the
face-track path feeds a :class:`TrackScorer` per track from the faces pass
(:func:`~syncdesk.core.pipeline.faces_stage.follow_faces`).
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from .. import media
from ..errors import AnalysisError
from ..faces.crop import crop_face
from ..options import AnalysisOptions
from ..results import Track
from ..shots import ShotDetector
from ..sync.embed import AudioEmbeddings, ClipAudioEmbeddings, WindowScorer
from ..sync.over_time import TrackEvidence
from ..sync.windows import INPUT_SIZE, WINDOW_FRAMES
from .context import AnalysisContext
from .clip_audio import ClipAudio
from .media_stage import decode_frames
from .track_score import score_track

Frames = Optional[Iterable[media.AnalysisFrame]]


def _scorer(model: torch.nn.Module, mfcc: Optional[np.ndarray], audio_windows: int, options: AnalysisOptions,
            device: torch.device, evidence: TrackEvidence, shared: Optional[ClipAudioEmbeddings] = None,
            offset: int = 0) -> WindowScorer:
    embeddings = AudioEmbeddings(model, mfcc, audio_windows, device, shared=shared, offset=offset)
    return WindowScorer(model, embeddings, options.vshift, options.stride, options.windows_per_batch, device,
                        wide=evidence)


def _evidence(track_id: int, start: int, sounding: np.ndarray, options: AnalysisOptions) -> TrackEvidence:
    """Where the track's wide distance rows go, for the offset over time."""
    return TrackEvidence(track_id, start, sounding, options.vshift)


def whole_frame_crop(image: np.ndarray) -> np.ndarray:
    """The frame scaled to SyncNet's input size (as it is when it already has that size)."""
    if image.shape[:2] == (INPUT_SIZE, INPUT_SIZE):
        return image
    import cv2  # only here: its import costs start-up time that a 224x224 clip does not need

    return cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


def embed_whole_frame(context: AnalysisContext, frames: Frames = None) -> None:
    """Every frame is the face: one pass finds the cuts and scores one track over all frames,
    whatever the cuts. Sets ``frames``, ``shots``, ``tracks`` and ``evidence``; needs ``info``, ``model``,
    ``device`` and ``audio``. ``frames`` defaults to the whole clip, decoded."""
    options, audio = context.options, context.audio
    expected = context.expected_frames
    with context.timer.stage("embeddings"), torch.inference_mode():
        evidence = _evidence(0, 0, audio.sounding, options)
        scorer = _scorer(context.model, audio.mfcc, audio.windows, options, context.device, evidence)
        shots = ShotDetector()
        for frame in decode_frames(context, record=True) if frames is None else frames:
            context.cancel.check()
            shots.process(frame.image)
            scorer.add(whole_frame_crop(frame.image))
            context.tick("embeddings", frame.index, expected)
        scorer.finish()
        context.report("embeddings", 1.0)
    count = scorer.frames_seen
    media.check_complete(context.info, count)
    if scorer.windows < 1:
        raise AnalysisError(
            f"{context.path.name} is too short to analyse: {count} frames of video and {audio.frames} of audio "
            f"at 25 fps; at least {WINDOW_FRAMES + 1} of each (0.24 s) are needed"
        )
    boxes = [[f, 0.0, 0.0, float(context.info.width), float(context.info.height)] for f in range(count)]
    with context.timer.stage("scoring"):
        track = score_track(0, 0, count - 1, boxes, scorer, audio.sounding[: scorer.windows], options)
    context.tracks, context.shots, context.frames = [track], shots.shots(), count
    context.evidence = [evidence]
    context.on_track(track)


class TrackScorer:
    """One face track's crops in, its distance rows out, its end learnt when it comes: the scorer
    is given the clip's sound from the track's first frame on (see :class:`WindowScorer`)."""

    def __init__(self, start: int, audio: ClipAudio, model: torch.nn.Module, options: AnalysisOptions,
                 device: torch.device, shared: ClipAudioEmbeddings) -> None:
        self.start = self.next = start  # ``next``: the next frame to crop
        self.sounding = audio.sounding[start:]
        self.evidence = _evidence(-1, start, self.sounding, options)  # numbered at finish
        self.scorer = _scorer(model, None, max(0, audio.windows - start), options, device, self.evidence, shared,
                              start)
        self.boxes: list[list[float]] = []  # per frame: frame, x1, y1, x2, y2, as the document gives them

    def add(self, image: np.ndarray | media.Picture, box: np.ndarray) -> None:
        """The next frame's picture and the track's box there."""
        self.scorer.add(crop_face(image, box))
        self.boxes.append([self.next, *(round(float(v), 1) for v in box)])
        self.next += 1

    def finish(self, track_id: int, options: AnalysisOptions) -> Track:
        """Score the track, whose last frame was the last one added; ``track_id``: its number."""
        self.scorer.finish()
        self.evidence.track_id = track_id
        return score_track(track_id, self.start, self.next - 1, self.boxes, self.scorer,
                           self.sounding[: self.scorer.windows], options)
