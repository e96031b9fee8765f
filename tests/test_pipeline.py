"""The analysis as stages over one context: each runs alone, on held frames too, cancels between
stages, reports its own progress; ``analyze`` is their sequence. Also where malloc is tuned."""

from __future__ import annotations

import subprocess
import sys
import weakref
from pathlib import Path
from typing import Iterable, Iterator

import pytest

from syncdesk.core import memory
from syncdesk.core.analysis import analyze
from syncdesk.core.cancel import CancelToken
from syncdesk.core.errors import AnalysisError, Cancelled, SyncdeskError
from syncdesk.core.media import AnalysisFrame
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.faces.scan import DETECT_EVERY
from syncdesk.core.faces.tracking import SMOOTHING
from syncdesk.core.pipeline import (AnalysisContext, build_analysis, decide_verdict, decode_frames, detection_frames,
                                    embed_whole_frame, find_speaker, follow_faces, load_engine, open_media,
                                    read_audio, run_stages)
from syncdesk.core.results import Analysis, Track

from .face_clips import Tile, make_faces_clip
from .oracle import make_flash_clip


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory) -> Path:
    """Sound 0.12 s (3 frames) ahead of the picture."""
    return make_flash_clip(tmp_path_factory.mktemp("pipeline") / "lead.avi", seconds=4.0, audio_lead_s=0.12)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory, example_avi) -> Path:
    """One flashing face, the sound 0.12 s ahead of it."""
    return make_faces_clip(tmp_path_factory.mktemp("pipeline") / "face.mp4", example_avi,
                           [Tile(1, lambda n: (200, 68))], 0, seconds=4, audio_lead_s=0.12)


def whole_frame(weights: Path) -> AnalysisOptions:
    return AnalysisOptions(detector="whole-frame", weights=weights)


def haar(weights: Path) -> AnalysisOptions:
    return AnalysisOptions(detector="haar", weights=weights)


def document(analysis: Analysis) -> dict:
    """The analysis as saved, less its timings (the only part that changes from run to run)."""
    data = analysis.to_dict()
    data.pop("timings")
    return data


def ready(clip: Path, options: AnalysisOptions) -> AnalysisContext:
    """A context through the stages before the frames: media, engine, audio."""
    context = AnalysisContext(clip, options)
    run_stages(context, open_media, load_engine, read_audio)
    return context


class Watched:
    """Frames handed out one by one, each watched by a weak reference: how many are still alive."""

    def __init__(self, frames: Iterable[AnalysisFrame]) -> None:
        self._frames = frames
        self._refs: list[weakref.ref] = []
        self.most_alive = 0

    def __iter__(self) -> Iterator[AnalysisFrame]:
        for frame in self._frames:
            self._refs.append(weakref.ref(frame))
            self.most_alive = max(self.most_alive, sum(ref() is not None for ref in self._refs))
            yield frame


def test_whole_frame_stages_over_held_frames_give_the_same_document_as_analyze(flash_clip, oracle_weights):
    expected = analyze(flash_clip, whole_frame(oracle_weights))
    context = ready(flash_clip, whole_frame(oracle_weights))
    window = list(decode_frames(context))  # frames held, as a caller with a window of a stream has them
    embed_whole_frame(context, window)
    run_stages(context, find_speaker, decide_verdict)
    result = build_analysis(context)
    assert document(result) == document(expected)
    assert (result.offset_frames, result.verdict_source, len(result.tracks)) == (3, "whole-frame", 1)
    assert list(result.timings) == ["probe", "load_model", "audio", "embeddings", "scoring", "total"]


def test_face_track_stages_over_held_frames_give_the_same_document_as_analyze(face_clip, oracle_weights):
    expected = analyze(face_clip, haar(oracle_weights))
    context = ready(face_clip, haar(oracle_weights))
    follow_faces(context, list(detection_frames(context)))  # held as analyze decodes them: pictures
    assert len(context.faces) == 1 and len(context.tracks) == 1
    run_stages(context, find_speaker, decide_verdict)
    result = build_analysis(context)
    assert document(result) == document(expected)
    assert (result.offset_frames, result.verdict_source, result.verdict_tracks) == (3, "speaking-tracks", [0])
    assert list(result.timings) == ["probe", "load_model", "audio", "faces", "embeddings", "scoring", "total"]


def test_the_whole_frame_stage_drops_each_frame_once_used(face_clip, oracle_weights):
    context = ready(face_clip, whole_frame(oracle_weights))
    frames = Watched(decode_frames(context))
    embed_whole_frame(context, frames)
    assert context.frames == 100
    assert frames.most_alive <= 2


def test_the_face_stage_holds_frames_only_until_the_boxes_there_settle(face_clip, oracle_weights):
    context = ready(face_clip, haar(oracle_weights))
    frames = Watched(decode_frames(context))
    follow_faces(context, frames)
    assert context.frames == 100 and len(context.tracks) == 1
    # a face found every 5th frame: its box is final 6 frames after a detection, the frames since are held
    assert DETECT_EVERY <= frames.most_alive <= DETECT_EVERY + SMOOTHING // 2 + 2


def scored(track_id: int, start: int, confidence: float, curve: list[float], best: int) -> Track:
    """A scored track with a flat framewise confidence and a D(k) curve lowest at shift index ``best``."""
    mean_dists = [10.0] * 7
    mean_dists[best] = 10.0 - confidence
    return Track(track_id, start, start + len(curve) + 4, [], 3 - best, (3 - best) * 40.0, 10.0 - confidence,
                 confidence, curve, windows=len(curve), windows_scored=len(curve), mean_dists=mean_dists)


def test_the_speaker_and_verdict_stages_run_alone_on_scored_tracks():
    context = AnalysisContext(Path("clip.mp4"), AnalysisOptions(vshift=3))
    context.tracks = [scored(0, 0, 6.0, [5.0] * 20, best=1), scored(1, 0, 0.5, [0.4] * 20, best=5)]
    context.frames = 30
    run_stages(context, find_speaker, decide_verdict)
    assert context.speaker == [None] * 2 + [0] * 20 + [None] * 8
    assert [t.speaking_frames for t in context.tracks] == [20, 0]
    assert (context.verdict.offset_frames, context.verdict_source, context.verdict_tracks) == (2, "speaking-tracks", [0])


def test_the_speaker_stage_refuses_a_clip_silent_throughout():
    context = AnalysisContext(Path("clip.mp4"), AnalysisOptions(vshift=3))
    silent = scored(0, 0, 6.0, [5.0] * 20, best=1)
    silent.silent_windows = silent.windows_scored
    context.tracks = [silent]
    with pytest.raises(AnalysisError, match="silent throughout the clip"):
        find_speaker(context)


def test_cancelling_between_stages_stops_before_the_next(tmp_path):
    ran: list[str] = []
    context = AnalysisContext(tmp_path / "clip.avi", AnalysisOptions())

    def first(ctx: AnalysisContext) -> None:
        ran.append("first")
        ctx.cancel.cancel()

    with pytest.raises(Cancelled):
        run_stages(context, first, lambda ctx: ran.append("second"))
    assert ran == ["first"]


def test_cancelling_as_the_audio_stage_ends_runs_no_frame_stage(flash_clip, oracle_weights):
    token = CancelToken()
    seen: list[tuple[str, float]] = []

    def progress(stage: str, fraction: float) -> None:
        seen.append((stage, fraction))
        if (stage, fraction) == ("audio", 1.0):
            token.cancel()

    with pytest.raises(Cancelled):
        analyze(flash_clip, whole_frame(oracle_weights), progress=progress, cancel=token)
    assert seen == [("audio", 0.0), ("audio", 1.0)]


@pytest.mark.parametrize("detector, stages", [("whole-frame", ["audio", "embeddings"]),
                                              ("haar", ["audio", "faces"])])
def test_each_stage_reports_its_progress_in_turn_up_to_the_end(detector, stages, face_clip, oracle_weights):
    seen: list[tuple[str, float]] = []
    analyze(face_clip, AnalysisOptions(detector=detector, weights=oracle_weights),
            progress=lambda stage, fraction: seen.append((stage, fraction)))
    blocks = [stage for i, (stage, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != stage]
    assert blocks == stages  # each stage's reports together, in pipeline order
    for stage in stages:
        fractions = [f for s, f in seen if s == stage]
        assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
        assert len(fractions) >= (2 if stage == "audio" else 4)  # 100 frames: a report every 25


def test_a_file_without_sound_is_refused_before_the_weights_are_looked_for(tmp_path):
    clip = make_flash_clip(tmp_path / "mute.avi", seconds=1.0, audio=False)
    options = AnalysisOptions(detector="whole-frame", weights=tmp_path / "missing.model")
    with pytest.raises(SyncdeskError, match="mute.avi has no audio stream: there is nothing to sync"):
        analyze(clip, options)


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_importing_the_engine_leaves_malloc_as_it_was():
    """The app imports the engine too: the malloc settings belong to the command line and batch workers."""
    code = "import syncdesk.core.analysis, syncdesk.core.memory as m; print(m._done)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_a_batch_worker_tunes_malloc_as_it_starts():
    code = """
from multiprocessing import Pipe
from syncdesk.core import memory
from syncdesk.core.batch.worker import serve
from syncdesk.core.options import AnalysisOptions
parent, child = Pipe()
serve(child, 0, 1, AnalysisOptions(vshift=0))  # a bad option: the worker says so and ends
print(parent.recv()[0], memory._done)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["fatal", "True"]
