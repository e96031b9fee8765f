"""Frame-accurate random access to a video's source frames, for a viewer.

Analysis runs on a 25 fps resampled stream; a viewer must show the file's own frames, whatever its
rate (29.97, 60, variable). :class:`FrameReader` decodes forward from the last position when it
can, seeks to the keyframe before a time when it must, and keeps the few frames shown last so that
stepping back is instant. Times are presentation times relative to the first frame (analysis time
zero), in seconds.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np

from .errors import MediaError
from .media import FrameConverter, _frame_time, decode_packets, ffmpeg_reason, first_video_time, open_input

#: decode forward instead of seeking when the target is at most this far ahead (seconds)
FORWARD_LIMIT_S = 2.0
#: frames kept for instant back-steps, at most this many and this many bytes (a 1080p RGB frame
#: is 6 MB: 24 of them; a 4K one 25 MB: 6)
RECENT_FRAMES = 24
RECENT_BYTES = 160 * 2**20


@dataclass(frozen=True)
class VideoFrame:
    time_s: float  # presentation time relative to the first frame
    image: np.ndarray  # H x W x 3 uint8, RGB


class FrameReader:
    """The frame on screen at any time, the next one and the previous one; one decoder open."""

    def __init__(self, path: os.PathLike | str) -> None:
        self.path = Path(path)
        self._container = open_input(path)
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(f"{self.path.name} has no video stream")
        self._stream = self._container.streams.video[0]
        self._to_rgb = FrameConverter("rgb24")
        self._decoder: Optional[Iterator[tuple[float, av.VideoFrame]]] = None
        self._pending: Optional[tuple[float, av.VideoFrame]] = None  # decoded, after the current frame
        self._raw: tuple[float, av.VideoFrame]  # the current frame as decoded
        context = self._stream.codec_context
        frame_bytes = max(1, (context.width or 1) * (context.height or 1) * 3)
        keep = max(2, min(RECENT_FRAMES, RECENT_BYTES // frame_bytes))
        self._recent: deque[VideoFrame] = deque(maxlen=keep)  # consecutive frames, oldest first
        self._current: Optional[VideoFrame] = None
        try:
            self._t0: Fraction = first_video_time(path)
            self._restart(None)
            if self._peek() is None:
                raise MediaError(f"{self.path.name}: the video stream has no decodable frame")
            self._take_pending_as_current()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ public
    @property
    def start_time(self) -> Fraction:
        """The first frame's presentation time in the file (analysis time zero), in seconds."""
        return self._t0

    @property
    def current(self) -> VideoFrame:
        assert self._current is not None
        return self._current

    def frame_at(self, time_s: float) -> VideoFrame:
        """The frame on screen at ``time_s``: the last one whose time is not after it."""
        time_s = max(0.0, time_s)
        current = self.current
        if current.time_s <= time_s and (self._peek() is None or time_s < self._peek()[0]):
            return current
        cached = self._from_recent(time_s)
        if cached is not None:
            return cached
        ahead = self._peek()
        if ahead is None or not (ahead[0] <= time_s <= ahead[0] + FORWARD_LIMIT_S):
            self._seek(time_s)
        while (ahead := self._peek()) is not None and ahead[0] <= time_s:
            self._take_pending_as_current(convert=False)
        return self._show_pending_current()

    def next_frame(self) -> Optional[VideoFrame]:
        """The frame after the current one, or None at the end."""
        index = self._index_in_recent(self.current)
        if index is not None and index + 1 < len(self._recent):
            self._current = self._recent[index + 1]
            return self._current
        if self._peek() is None:
            return None
        self._take_pending_as_current()
        return self._current

    def previous_frame(self) -> Optional[VideoFrame]:
        """The frame before the current one, or None at the first."""
        index = self._index_in_recent(self.current)
        if index is not None and index > 0:
            self._current = self._recent[index - 1]
            return self._current
        if self.current.time_s <= 0.0:
            return None
        target = self.current.time_s
        self._seek(target - 1e-6, keep_before=target)
        return self._current if self._current.time_s < target else None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- private
    def _decode(self) -> Iterator[tuple[float, av.VideoFrame]]:
        last: Optional[float] = None
        step = 1 / float(self._stream.average_rate or 25)
        try:
            for frame in decode_packets(self._container, self._stream):  # a bad packet: the frame before stays
                time = _frame_time(frame)
                seconds = float(time - self._t0) if time is not None else (last or 0.0) + step
                if last is not None and seconds <= last:  # duplicate or out-of-order timestamp: keep the first
                    continue
                last = seconds
                yield seconds, frame
        except av.error.FFmpegError as exc:
            raise MediaError(f"decoding {self.path.name} failed: the file is corrupt or truncated "
                             f"({ffmpeg_reason(exc)})") from None

    def _restart(self, time_s: Optional[float]) -> None:
        if time_s is not None:
            target = int((self._t0 + Fraction(time_s).limit_denominator(1_000_000)) / self._stream.time_base)
            try:
                self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
            except av.error.FFmpegError as exc:
                raise MediaError(f"seeking in {self.path.name} failed: the file is corrupt or truncated "
                                 f"({ffmpeg_reason(exc)})") from None
        self._decoder = self._decode()
        self._pending = None

    def _take(self) -> Optional[tuple[float, av.VideoFrame]]:
        assert self._decoder is not None
        return next(self._decoder, None)

    def _peek(self) -> Optional[tuple[float, av.VideoFrame]]:
        if self._pending is None:
            self._pending = self._take()
        return self._pending

    def _take_pending_as_current(self, convert: bool = True) -> None:
        """Make the pending decoded frame the current one (converted to RGB only when shown)."""
        pending = self._peek()
        assert pending is not None
        self._pending = None
        self._raw = pending
        if convert:
            self._show_raw()
        else:
            self._recent.clear()  # a frame passed unseen: the kept run is no longer consecutive

    def _show_raw(self) -> VideoFrame:
        time_s, frame = self._raw
        shown = VideoFrame(time_s, self._to_rgb(frame))
        if self._recent and self._recent[-1].time_s >= time_s:
            self._recent.clear()  # not consecutive any more (after a seek)
        self._recent.append(shown)
        self._current = shown
        return shown

    def _show_pending_current(self) -> VideoFrame:
        if self._current is None or self._current.time_s != self._raw[0]:
            self._show_raw()
        return self.current

    def _seek(self, time_s: float, keep_before: Optional[float] = None) -> None:
        """Position the decoder so the current frame is the one on screen at ``time_s``.

        ``keep_before``: also keep the converted frames up to that time in ``_recent`` (a back-step
        decodes a group of pictures anyway; keeping its last frames makes the next back-steps free).
        """
        back = 0.0
        while True:
            self._restart(max(0.0, time_s - back))
            first = self._peek()
            if first is None or first[0] <= time_s or time_s - back <= 0.0:
                break
            back = back * 2 or 1.0  # the seek landed after the target: go further back
        self._recent.clear()
        self._current = None
        self._take_pending_as_current(convert=keep_before is not None)
        while (ahead := self._peek()) is not None and ahead[0] <= time_s:
            self._take_pending_as_current(convert=keep_before is not None and ahead[0] < keep_before)
        self._show_pending_current()

    def _index_in_recent(self, frame: VideoFrame) -> Optional[int]:
        for index, kept in enumerate(self._recent):
            if kept is frame:
                return index
        return None

    def _from_recent(self, time_s: float) -> Optional[VideoFrame]:
        """A kept frame on screen at ``time_s``, when the kept run covers that time."""
        frames = self._recent
        for index, kept in enumerate(frames):
            later = frames[index + 1].time_s if index + 1 < len(frames) else None
            if kept.time_s <= time_s and later is not None and time_s < later:
                self._current = kept
                return kept
        return None
