"""The review video of ``analyze --annotate``: the analysis frames with a box per track (its own
colour), the active speaker's drawn thick and marked, each track's confidence beside its box,
and the clip's sound; H.264 + AAC, written to a ``.part`` and renamed when complete."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import cv2
import numpy as np

from . import media
from .cancel import CancelToken
from .errors import SyncdeskError
from .export import check_paths
from .outputs import atomic_output
from .palette import track_bgr
from .progress import ProgressCallback, report
from .quality import direction
from .results import Analysis, Track

SUFFIXES = (".mp4", ".mov", ".mkv")
AUDIO_RATE = 48000
AUDIO_FRAME = 1024  # AAC's frame size


def check_output(src: Path, dst: Path, overwrite: bool = False) -> None:
    """The cheap checks, to run before a long analysis."""
    if dst.suffix.lower() not in SUFFIXES:
        raise SyncdeskError(f"--annotate writes {', '.join(SUFFIXES)} files, not {dst.name!r}")
    check_paths(src, dst, overwrite)


class _Overlay:
    """Draws one analysis frame's boxes and labels."""

    def __init__(self, analysis: Analysis) -> None:
        self.tracks = analysis.tracks
        self.speaker = analysis.active_speaker
        self.caption = f"{direction(analysis.offset_ms)}, confidence {analysis.confidence:.1f}"

    def _label(self, image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        y = max(y, height + 6)
        cv2.rectangle(image, (x, y - height - 6), (x + width + 6, y), colour, cv2.FILLED)
        cv2.putText(image, text, (x + 3, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)

    def _track(self, image: np.ndarray, track: Track, index: int) -> None:
        _, x1, y1, x2, y2 = track.boxes[index - track.start_frame]
        colour = track_bgr(track.id)
        speaking = self.speaker[index] == track.id
        cv2.rectangle(image, (round(x1), round(y1)), (round(x2), round(y2)), colour, 5 if speaking else 2)
        text = f"#{track.id}  confidence {track.confidence:.1f}" + ("  speaking" if speaking else "")
        self._label(image, text, round(x1), round(y1) - 2, colour)

    def draw(self, image: np.ndarray, index: int) -> np.ndarray:
        for track in self.tracks:
            if track.start_frame <= index <= track.end_frame:
                self._track(image, track, index)
        self._label(image, self.caption, 8, image.shape[0] - 8, (235, 235, 235))
        return image


def _audio_frames(samples: Iterator[np.ndarray]) -> Iterator[av.AudioFrame]:
    """Mono int16 chunks regrouped into AAC-sized frames, timestamped by sample count."""
    pending = np.zeros(0, np.int16)
    sent = 0
    for chunk in samples:
        pending = np.concatenate([pending, chunk])
        while len(pending) >= AUDIO_FRAME:
            block, pending = pending[:AUDIO_FRAME], pending[AUDIO_FRAME:]
            yield _audio_frame(block, sent)
            sent += AUDIO_FRAME
    if len(pending):
        yield _audio_frame(pending, sent)


def _audio_frame(block: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block[None, :]), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, pts, Fraction(1, AUDIO_RATE)
    return frame


def write_review(src: os.PathLike | str, analysis: Analysis, dst: os.PathLike | str, *, overwrite: bool = False,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Path:
    """Write the review video of ``analysis`` (made from ``src``) to ``dst``."""
    src, dst = Path(src), Path(dst)
    check_output(src, dst, overwrite)
    cancel = cancel or CancelToken()
    overlay = _Overlay(analysis)
    container = {".mkv": "matroska", ".mov": "mov"}.get(dst.suffix.lower(), "mp4")
    try:
        with atomic_output(dst) as part:
            start = media.first_video_time(src)
            audio = _audio_frames(media.stream_audio(src, start, AUDIO_RATE, cancel))
            with av.open(str(part), "w", format=container) as out:
                video = out.add_stream("libx264", rate=media.ANALYSIS_FPS)
                video.pix_fmt, video.options = "yuv420p", {"crf": "20", "preset": "veryfast"}
                sound = out.add_stream("aac", rate=AUDIO_RATE)
                sound.layout = "mono"
                audio_sent = 0
                total = max(1, len(analysis.active_speaker))
                for frame in media.iter_analysis_frames(src, cancel=cancel):
                    cancel.check()
                    image = frame.image[: frame.image.shape[0] // 2 * 2, : frame.image.shape[1] // 2 * 2].copy()
                    if frame.index == 0:
                        video.width, video.height = image.shape[1], image.shape[0]
                    if frame.index < total:
                        overlay.draw(image, frame.index)
                    picture = av.VideoFrame.from_ndarray(image, format="bgr24")
                    picture.pts, picture.time_base = frame.index, Fraction(1, media.ANALYSIS_FPS)
                    out.mux(video.encode(picture))
                    until = (frame.index + 1) * AUDIO_RATE // media.ANALYSIS_FPS
                    while audio_sent < until:
                        chunk = next(audio, None)
                        if chunk is None:
                            break
                        out.mux(sound.encode(chunk))
                        audio_sent += chunk.samples
                    if frame.index % 25 == 0:
                        report(progress, "annotating", frame.index / total)
                out.mux(video.encode(None))
                out.mux(sound.encode(None))
    except av.error.FFmpegError as exc:
        raise SyncdeskError(f"writing {dst.name} failed: {media.ffmpeg_reason(exc)}") from None
    report(progress, "annotating", 1.0)
    return dst
