"""The pipeline: a file in, an :class:`Analysis` out. The one entry for the CLI, GUI and batch."""

from __future__ import annotations

import functools
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from .. import __version__
from . import media
from .cancel import CancelToken
from .errors import AnalysisError, SyncdeskError
from .memory import limit_malloc_arenas
from .options import DETECTORS, AnalysisOptions
from .progress import ProgressCallback, report
from .results import Analysis, Engine, Source, Track
from .shots import ShotDetector
from .speaker import active_speaker
from .streaming import prefetch
from .sync import features, scoring
from .sync.embed import AudioEmbeddings, WindowScorer
from .sync.loading import load_syncnet, resolve_device
from .sync.model import INPUT_SIZE, WINDOW_FRAMES
from .sync.weights import locate, sha256_file

limit_malloc_arenas()  # before torch's worker threads and our reader thread first allocate


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
def _loaded_model(weights_path: Path, mtime_ns: int, size: int, device: torch.device) -> tuple[torch.nn.Module, str]:
    """The model and its weights' sha256, loaded once per process (batch workers and the GUI
    analyse many files); a replaced weights file (new mtime or size) is loaded afresh."""
    return load_syncnet(weights_path, device), sha256_file(weights_path)


def _validate(options: AnalysisOptions) -> None:
    if options.detector not in DETECTORS:
        raise SyncdeskError(f"unknown detector {options.detector!r}: available: {', '.join(DETECTORS)}")
    if not 1 <= options.vshift <= 100:
        raise SyncdeskError("--vshift must be between 1 and 100 frames")


def _silence_weights(pcm: np.ndarray, window_index: np.ndarray, audio_windows: int, vshift: int) -> np.ndarray:
    """1 for a scored window with sound anywhere within its +-vshift search range, else 0."""
    silent = features.silent_windows(features.window_loudness_db(pcm, audio_windows))
    if silent.size == 0:
        return np.ones(len(window_index))
    sounding = np.concatenate([[0], np.cumsum(~silent)])
    lo = np.clip(window_index - vshift, 0, audio_windows)
    hi = np.clip(window_index + vshift + 1, 0, audio_windows)
    return (sounding[hi] - sounding[lo] > 0).astype(np.float64)


def analyze(
    path: os.PathLike | str,
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Analysis:
    """Measure the audio-video offset of ``path``. Raises :class:`SyncdeskError` subclasses."""
    options = options or AnalysisOptions()
    cancel = cancel or CancelToken()
    _validate(options)
    timer = _Timer()
    path = Path(path)

    with timer.stage("probe"):
        info = media.probe(path)
        if not info.has_audio:
            raise SyncdeskError(f"{path.name} has no audio stream: there is nothing to sync")
    weights_path = locate("syncnet", options.weights)
    with timer.stage("load_model"):
        device = resolve_device(options.device)
        stat = weights_path.stat()
        model, weights_sha = _loaded_model(weights_path.resolve(), stat.st_mtime_ns, stat.st_size, device)

    with timer.stage("audio"):
        report(progress, "audio", 0.0)
        start = media.first_video_time(path)
        pcm = media.read_audio(path, start, cancel=cancel)
        mfcc = features.mfcc(pcm)
        audio_frames = len(pcm) // features.SAMPLES_PER_FRAME
        audio_windows = max(0, audio_frames - WINDOW_FRAMES)
        report(progress, "audio", 1.0)

    expected_frames = max(1, round(info.duration_s * media.ANALYSIS_FPS))
    with timer.stage("video"), torch.inference_mode():
        audio = AudioEmbeddings(model, mfcc, audio_windows, device)
        scorer = WindowScorer(model, audio, options.vshift, options.stride, options.windows_per_batch, device)
        shots = ShotDetector()
        for frame in prefetch(media.iter_analysis_frames(path, cancel=cancel)):
            cancel.check()
            shots.process(frame.image)
            scorer.add(_whole_frame_crop(frame.image))
            if frame.index % 25 == 0:
                report(progress, "video", frame.index / expected_frames)
        scorer.finish()
        report(progress, "video", 1.0)
    frames = scorer.frames_seen
    media.check_complete(info, frames)
    if scorer.windows < 1:
        raise AnalysisError(
            f"{path.name} is too short to analyse: {frames} frames of video and {audio_frames} of audio "
            f"at 25 fps; at least {WINDOW_FRAMES + 1} of each (0.24 s) are needed"
        )

    with timer.stage("scoring"):
        track, warnings = _score_track(scorer, pcm, audio_windows, options, info, frames)
    timer.timings["total"] = round(sum(timer.timings.values()), 4)

    return Analysis(
        source=Source(str(path), info.size, info.duration_s, info.fps, frames, info.audio_rate or 0),
        engine=Engine(
            version=__version__,
            device=device.type,
            detector=options.detector,
            syncnet={"path": str(weights_path), "sha256": weights_sha},
            mode="exact" if options.exact else "fast",
            window_stride=options.stride,
            silence_weighting=not options.exact,
        ),
        offset_frames=track.offset_frames,
        offset_ms=track.offset_ms,
        min_dist=track.min_dist,
        confidence=track.confidence,
        tracks=[track],
        shots=shots.shots(),  # whole-frame: one track over all frames whatever the cuts
        active_speaker=active_speaker([track], frames),
        timings=timer.timings,
        warnings=warnings,
    )


def _score_track(scorer: WindowScorer, pcm: np.ndarray, audio_windows: int, options: AnalysisOptions,
                 info: media.MediaInfo, frames: int) -> tuple[Track, list[str]]:
    dists = scorer.distances()
    index = scorer.window_index
    warnings: list[str] = []
    weights = None
    silent = 0
    if not options.exact:
        weights = _silence_weights(pcm, index, audio_windows, options.vshift)
        silent = int(np.sum(weights == 0))
        if silent == len(weights):
            raise AnalysisError("the sound is silent throughout the clip: there is nothing to sync")
    result = scoring.score(dists, options.vshift, index, scorer.windows, weights)
    if silent:
        warnings.append(f"{silent} of {len(index)} scored windows were silent and left out of the verdict")
    boxes = [[f, 0.0, 0.0, float(info.width), float(info.height)] for f in range(frames)]
    track = Track(
        id=0,
        start_frame=0,
        end_frame=frames - 1,
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
    )
    return track, warnings
