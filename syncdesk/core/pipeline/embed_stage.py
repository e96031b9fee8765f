"""Stage "embeddings": frames through SyncNet into each track's distance rows, then its score.

Both paths stream: each frame is cropped, fed to its scorers and dropped; a scorer keeps one
row of distances per window, never frames.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from .. import media
from ..errors import AnalysisError
from ..faces.crop import crop_face
from ..faces.tracking import FaceTrack
from ..options import AnalysisOptions
from ..results import Track
from ..shots import ShotDetector
from ..sync.embed import AudioEmbeddings, ClipAudioEmbeddings, WindowScorer
from ..sync.over_time import TrackEvidence
from ..sync.windows import INPUT_SIZE, WINDOW_FRAMES
from .context import AnalysisContext
from .clip_audio import ClipAudio
from .media_stage import decode_frames
from .track_score import score_track, sounding_windows

Frames = Optional[Iterable[media.AnalysisFrame]]


def _scorer(model: torch.nn.Module, mfcc: np.ndarray, audio_windows: int, options: AnalysisOptions,
            device: torch.device, evidence: TrackEvidence, shared: Optional[ClipAudioEmbeddings] = None,
            offset: int = 0) -> WindowScorer:
    embeddings = AudioEmbeddings(model, mfcc, audio_windows, device, shared=shared, offset=offset)
    return WindowScorer(model, embeddings, options.vshift, options.stride, options.windows_per_batch, device,
                        wide=evidence)


def _evidence(track_id: int, start: int, pcm: np.ndarray, audio_windows: int, options: AnalysisOptions) -> TrackEvidence:
    """Where the track's wide distance rows go, for the offset over time."""
    return TrackEvidence(track_id, start, sounding_windows(pcm, audio_windows), options.vshift)


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
        pcm, mfcc, audio_windows = audio.span(0, audio.frames)
        evidence = _evidence(0, 0, pcm, audio_windows, options)
        scorer = _scorer(context.model, mfcc, audio_windows, options, context.device, evidence)
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
        track = score_track(0, 0, count - 1, boxes, scorer, pcm, audio_windows, options)
    context.tracks, context.shots, context.frames = [track], shots.shots(), count
    context.evidence = [evidence]
    context.on_track(track)


class TrackScorer:
    """One face track's crops in, its distance rows out."""

    def __init__(self, track_id: int, face: FaceTrack, audio: ClipAudio, model: torch.nn.Module,
                 options: AnalysisOptions, device: torch.device, shared: ClipAudioEmbeddings) -> None:
        self.id = track_id
        self.face = face
        self.pcm, mfcc, self.audio_windows = audio.span(face.start, face.end)
        self.evidence = _evidence(track_id, face.start, self.pcm, self.audio_windows, options)
        self.scorer = _scorer(model, mfcc, self.audio_windows, options, device, self.evidence, shared, face.start)

    def add(self, frame: media.AnalysisFrame) -> None:
        self.scorer.add(crop_face(frame.image, self.face.boxes[frame.index - self.face.start]))

    def finish(self, options: AnalysisOptions) -> Track:
        self.scorer.finish()
        boxes = [[int(f), *(round(float(v), 1) for v in box)]
                 for f, box in zip(self.face.frames, self.face.boxes, strict=True)]
        return score_track(self.id, self.face.start, self.face.end, boxes, self.scorer, self.pcm,
                           self.audio_windows, options)


def embed_face_tracks(context: AnalysisContext, frames: Frames = None) -> None:
    """Pass two of the face-track path: crop each track's face on the fly, one scorer per track,
    each track scored (and given to ``on_track``) on its last frame. Sets ``tracks``; needs
    ``faces``, ``model``, ``device`` and ``audio``. ``frames`` defaults to the whole clip, decoded
    again; the pass stops after the last track's last frame. Also sets ``evidence``. The tracks share
    the sound's embeddings: faces on screen together cost the audio tower once."""
    options, faces = context.options, context.faces
    last = max(face.end for face in faces)
    pending = sorted(enumerate(faces), key=lambda item: item[1].start)
    running: list[TrackScorer] = []
    tracks: list[Track] = []
    evidence: list[TrackEvidence] = []
    audio = context.audio
    with context.timer.stage("embeddings"), torch.inference_mode():
        shared = ClipAudioEmbeddings(context.model, audio.mfcc, max(0, audio.frames - WINDOW_FRAMES), context.device)
        for frame in decode_frames(context, pictures=True) if frames is None else frames:
            context.cancel.check()
            while pending and pending[0][1].start == frame.index:
                track_id, face = pending.pop(0)
                running.append(TrackScorer(track_id, face, audio, context.model, options, context.device, shared))
            for run in running:
                run.add(frame)
            for run in [r for r in running if r.face.end == frame.index]:
                running.remove(run)
                tracks.append(run.finish(options))
                evidence.append(run.evidence)
                context.on_track(tracks[-1])
            context.tick("embeddings", frame.index, last + 1)
            if frame.index >= last:
                break
        context.report("embeddings", 1.0)
    context.tracks = sorted(tracks, key=lambda t: t.id)
    context.evidence = sorted(evidence, key=lambda e: e.track_id)
