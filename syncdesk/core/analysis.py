"""The pipeline: a file in, an :class:`Analysis` out. The one entry for the CLI, GUI and batch."""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from .. import __version__
from . import media
from .cancel import CancelToken
from .errors import AnalysisError, SyncdeskError
from .memory import HeapWatch, trim_heap, tune_malloc
from .faces.choose import create_detector, resolve_name
from .faces.crop import crop_face
from .faces.scan import DETECT_EVERY, FaceScan, scan_faces
from .faces.tracking import FaceTrack, keep_tracks
from .options import AnalysisOptions, validate_options
from .progress import ProgressCallback, report
from .results import Analysis, Engine, Source, Track
from .shots import ShotDetector
from .speaker import active_speaker, clip_verdict
from .streaming import prefetch
from .sync import features, scoring
from .sync.embed import AudioEmbeddings, WindowScorer
from .models.device import analysis_dtype, dtype_name, resolve_device
from .sync.model import load_syncnet
from .sync.windows import INPUT_SIZE, MFCC_PER_FRAME, WINDOW_FRAMES
from .models.weights import locate, sha256_file

tune_malloc()  # before torch's worker threads and our reader thread first allocate


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


def _whole_frame_crop(image: np.ndarray) -> np.ndarray:
    if image.shape[:2] == (INPUT_SIZE, INPUT_SIZE):
        return image
    import cv2  # only here: its import costs start-up time that a 224x224 clip does not need

    return cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=2)
def _loaded_model(weights_path: Path, mtime_ns: int, size: int, device: torch.device,
                  dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    """The model and its weights' sha256, loaded once per process (batch workers and the GUI
    analyse many files); a replaced weights file (new mtime or size) is loaded afresh."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashing releases the GIL: overlap it with the loading
        digest = pool.submit(sha256_file, weights_path)
        return load_syncnet(weights_path, device, dtype), digest.result()


def load_model(weights_path: Path, device: torch.device,
               dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, str]:
    """The SyncNet for these weights on ``device`` in ``dtype`` and the weights' sha256, once per process."""
    stat = weights_path.stat()
    return _loaded_model(weights_path.resolve(), stat.st_mtime_ns, stat.st_size, device, dtype)


def _silence_weights(pcm: np.ndarray, window_index: np.ndarray, audio_windows: int, vshift: int) -> np.ndarray:
    """1 for a scored window with sound anywhere within its +-vshift search range, else 0."""
    silent = features.silent_windows(features.window_loudness_db(pcm, audio_windows))
    if silent.size == 0:
        return np.ones(len(window_index))
    sounding = np.concatenate([[0], np.cumsum(~silent)])
    lo = np.clip(window_index - vshift, 0, audio_windows)
    hi = np.clip(window_index + vshift + 1, 0, audio_windows)
    return (sounding[hi] - sounding[lo] > 0).astype(np.float64)


class _Audio:
    """The clip's 16 kHz PCM and MFCC; a track's slice is what the published demo gives a track."""

    def __init__(self, pcm: np.ndarray) -> None:
        self.pcm = pcm
        self.mfcc = features.mfcc(pcm)
        self.frames = len(pcm) // features.SAMPLES_PER_FRAME

    def span(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, int]:
        """PCM, MFCC and number of audio windows of analysis frames ``start..end``."""
        stop = min(end + 1, self.frames)
        frames = max(0, stop - start)
        pcm = self.pcm[start * features.SAMPLES_PER_FRAME : stop * features.SAMPLES_PER_FRAME]
        mfcc = self.mfcc[:, start * MFCC_PER_FRAME : stop * MFCC_PER_FRAME]
        return pcm, mfcc, max(0, frames - WINDOW_FRAMES)


class _TrackScorer:
    """One face track's crops in, its distance rows out (pass two)."""

    def __init__(self, track_id: int, face: FaceTrack, audio: _Audio, model: torch.nn.Module,
                 options: AnalysisOptions, device: torch.device) -> None:
        self.id = track_id
        self.face = face
        self.pcm, mfcc, self.audio_windows = audio.span(face.start, face.end)
        embeddings = AudioEmbeddings(model, mfcc, self.audio_windows, device)
        self.scorer = WindowScorer(model, embeddings, options.vshift, options.stride, options.windows_per_batch, device)

    def add(self, frame: media.AnalysisFrame) -> None:
        self.scorer.add(crop_face(frame.image, self.face.boxes[frame.index - self.face.start]))


def analyze(
    path: os.PathLike | str,
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_track: Optional[Callable[[Track], None]] = None,
) -> Analysis:
    """Measure the audio-video offset of ``path``. Raises :class:`SyncdeskError` subclasses.

    ``on_track`` receives each track as soon as it is scored (before the active speaker and
    the verdict, which need them all), so a view can show results as they come.
    """
    on_track = on_track or (lambda track: None)
    options = options or AnalysisOptions()
    cancel = cancel or CancelToken()
    validate_options(options)
    timer = _Timer()
    path = Path(path)

    with timer.stage("probe"):
        info = media.probe(path)
        if not info.has_audio:
            raise SyncdeskError(f"{path.name} has no audio stream: there is nothing to sync")
    weights_path = locate("syncnet", options.weights)
    detector_name = resolve_name(options.detector, options.s3fd_weights)
    with timer.stage("load_model"):
        device = resolve_device(options.device)
        dtype = analysis_dtype(options, device)
        model, weights_sha = load_model(weights_path, device, dtype)
        detector = create_detector(detector_name, options.device, options.s3fd_weights)

    with timer.stage("audio"):
        report(progress, "audio", 0.0)
        start = media.first_video_time(path)
        audio = _Audio(media.read_audio(path, start, cancel=cancel))
        trim_heap()  # decoding and resampling the whole track left freed blocks all over the heap
        report(progress, "audio", 1.0)

    expected = max(1, round(info.duration_s * media.ANALYSIS_FPS))
    if detector_name == "whole-frame":
        tracks, shots, frames = _whole_frame(path, model, audio, options, device, info, expected, timer,
                                             progress, cancel)
        on_track(tracks[0])
    else:
        with timer.stage("faces"):
            scan = scan_faces(prefetch(media.iter_analysis_frames(path, cancel=cancel)), detector, DETECT_EVERY,
                              cancel, lambda i: _tick(progress, "faces", i, expected))
            report(progress, "faces", 1.0)
        media.check_complete(info, scan.frames)
        faces = _usable_tracks(scan, options, path.name)
        tracks, shots, frames = _face_tracks(path, faces, model, audio, options, device, timer, progress,
                                             cancel, on_track), scan.shots, scan.frames

    if all(t.windows_scored and t.silent_windows == t.windows_scored for t in tracks):
        raise AnalysisError("the sound is silent throughout the clip: there is nothing to sync")
    with timer.stage("scoring"):
        speaker = active_speaker(tracks, frames)
        for track in tracks:
            track.speaking_frames = sum(1 for s in speaker if s == track.id)
        if detector_name == "whole-frame":
            verdict, source, used = tracks[0], "whole-frame", [tracks[0].id]
        else:
            verdict = clip_verdict(tracks, speaker, options.vshift)
            source = "speaking-tracks" if verdict.tracks else "no-confident-speaker"
            used = verdict.tracks
    timer.timings["total"] = round(sum(timer.timings.values()), 4)

    warnings = [w for track in tracks for w in _track_warnings(track, len(tracks))]
    if source == "no-confident-speaker":
        warnings.append("no face is a confident speaker anywhere: the offset is not measured (confidence 0)")
    return Analysis(
        source=Source(str(path), info.size, info.duration_s, info.fps, frames, info.audio_rate or 0),
        engine=Engine(
            version=__version__,
            device=device.type,
            detector=detector_name,
            syncnet={"path": str(weights_path), "sha256": weights_sha},
            mode="exact" if options.exact else "fast",
            window_stride=options.stride,
            silence_weighting=not options.exact,
            precision=dtype_name(dtype),
        ),
        offset_frames=verdict.offset_frames,
        offset_ms=verdict.offset_ms,
        min_dist=verdict.min_dist,
        confidence=verdict.confidence,
        tracks=tracks,
        shots=shots,
        active_speaker=speaker,
        timings=timer.timings,
        warnings=warnings,
        verdict_source=source,
        verdict_tracks=list(used),
    )


#: frames between two looks at resident memory in the streaming loops
HEAP_CHECK_EVERY = 50
#: process-wide, like the heap it watches
_HEAP_WATCH = HeapWatch()


def _tick(progress: Optional[ProgressCallback], stage: str, index: int, expected: int) -> None:
    """Per frame of a streaming loop: report progress now and then, and trim the heap if it grew."""
    if index % 25 == 0:
        report(progress, stage, index / expected)
    if index % HEAP_CHECK_EVERY == HEAP_CHECK_EVERY - 1:
        _HEAP_WATCH.check()


def _whole_frame(path: Path, model: torch.nn.Module, audio: _Audio, options: AnalysisOptions,
                 device: torch.device, info: media.MediaInfo, expected: int, timer: _Timer,
                 progress: Optional[ProgressCallback], cancel: CancelToken) -> tuple[list[Track], list[list[int]], int]:
    """Every frame is the face: one pass, one track over all frames, whatever the cuts."""
    with timer.stage("embeddings"), torch.inference_mode():
        pcm, mfcc, audio_windows = audio.span(0, audio.frames)
        embeddings = AudioEmbeddings(model, mfcc, audio_windows, device)
        scorer = WindowScorer(model, embeddings, options.vshift, options.stride, options.windows_per_batch, device)
        shots = ShotDetector()
        for frame in prefetch(media.iter_analysis_frames(path, cancel=cancel)):
            cancel.check()
            shots.process(frame.image)
            scorer.add(_whole_frame_crop(frame.image))
            _tick(progress, "embeddings", frame.index, expected)
        scorer.finish()
        report(progress, "embeddings", 1.0)
    frames = scorer.frames_seen
    media.check_complete(info, frames)
    if scorer.windows < 1:
        raise AnalysisError(
            f"{path.name} is too short to analyse: {frames} frames of video and {audio.frames} of audio "
            f"at 25 fps; at least {WINDOW_FRAMES + 1} of each (0.24 s) are needed"
        )
    boxes = [[f, 0.0, 0.0, float(info.width), float(info.height)] for f in range(frames)]
    with timer.stage("scoring"):
        track = _make_track(0, 0, frames - 1, boxes, scorer, pcm, audio_windows, options)
    return [track], shots.shots(), frames


def _usable_tracks(scan: FaceScan, options: AnalysisOptions, name: str) -> list[FaceTrack]:
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


def _face_tracks(path: Path, faces: list[FaceTrack], model: torch.nn.Module, audio: _Audio,
                 options: AnalysisOptions, device: torch.device, timer: _Timer,
                 progress: Optional[ProgressCallback], cancel: CancelToken,
                 on_track: Callable[[Track], None]) -> list[Track]:
    """Pass two: decode again, crop each track's face on the fly, one scorer per track."""
    last = max(face.end for face in faces)
    pending = sorted(enumerate(faces), key=lambda item: item[1].start)
    running: list[_TrackScorer] = []
    tracks: list[Track] = []
    with timer.stage("embeddings"), torch.inference_mode():
        for frame in prefetch(media.iter_analysis_frames(path, cancel=cancel)):
            cancel.check()
            while pending and pending[0][1].start == frame.index:
                track_id, face = pending.pop(0)
                running.append(_TrackScorer(track_id, face, audio, model, options, device))
            for run in running:
                run.add(frame)
            for run in [r for r in running if r.face.end == frame.index]:
                running.remove(run)
                tracks.append(_finish_face(run, options))
                on_track(tracks[-1])
            _tick(progress, "embeddings", frame.index, last + 1)
            if frame.index >= last:
                break
        report(progress, "embeddings", 1.0)
    return sorted(tracks, key=lambda t: t.id)


def _finish_face(run: _TrackScorer, options: AnalysisOptions) -> Track:
    run.scorer.finish()
    boxes = [[int(f), *(round(float(v), 1) for v in box)] for f, box in zip(run.face.frames, run.face.boxes,
                                                                             strict=True)]
    return _make_track(run.id, run.face.start, run.face.end, boxes, run.scorer, run.pcm, run.audio_windows, options)


def _make_track(track_id: int, start: int, end: int, boxes: list[list[float]], scorer: WindowScorer,
                pcm: np.ndarray, audio_windows: int, options: AnalysisOptions) -> Track:
    """Score one track's distance rows (the published maths; silent windows left out in fast mode)."""
    if scorer.windows < 1:  # the audio ends before the track's first window
        return Track(track_id, start, end, boxes, 0, 0.0, 0.0, 0.0, [], windows=0)
    dists = scorer.distances()
    index = scorer.window_index
    weights = None
    silent = 0
    if not options.exact:
        weights = _silence_weights(pcm, index, audio_windows, options.vshift)
        silent = int(np.sum(weights == 0))
    if silent == len(index):  # nothing to hear: no evidence either way
        return Track(track_id, start, end, boxes, 0, 0.0, 0.0, 0.0, [0.0] * scorer.windows, windows=scorer.windows,
                     windows_scored=len(index), silent_windows=silent)
    result = scoring.score(dists, options.vshift, index, scorer.windows, weights)
    return Track(
        id=track_id,
        start_frame=start,
        end_frame=end,
        boxes=boxes,
        offset_frames=result.offset_frames,
        offset_ms=round(result.offset_ms, 3),
        min_dist=result.min_dist,
        confidence=result.confidence,
        framewise_confidence=[round(float(c), 5) for c in result.framewise_confidence],
        dists=dists.tolist() if options.save_dists else None,
        windows=scorer.windows,
        windows_scored=len(index),
        silent_windows=silent,
        mean_dists=[round(float(d), 5) for d in result.mean_dists],
    )


def _track_warnings(track: Track, tracks: int) -> list[str]:
    name = "the clip" if tracks == 1 else f"track {track.id}"
    if track.windows_scored and track.silent_windows == track.windows_scored:
        return [f"the sound is silent throughout {name}: there is nothing to sync"]
    if track.silent_windows:
        return [f"{track.silent_windows} of {track.windows_scored} scored windows of {name} were silent "
                "and left out of the verdict"]
    return []
