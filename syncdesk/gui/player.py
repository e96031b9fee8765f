"""Playback and stepping: which frame is on screen, when, and the sound that goes with it.

Positions are seconds from the first frame (analysis time). Stepping walks the file's own frames
(frame-accurate at any frame rate); playing shows the frame on screen at the clock's time, with
the sound shifted by the offset panel's value so a fix can be checked by eye and ear first.
J/K/L shuttle as in editors: L plays forward (again: faster), J backward (silent), K stops.

Nothing here decodes: :class:`FrameSource` does, on its own thread. Seeks and steps are requests
answered by ``frame_shown`` a little later (``settled`` says when every request is answered);
while playing, a timer takes the clock's frame from the source's look-ahead.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from ..core import ANALYSIS_FPS, MediaInfo, VideoFrame
from .audio_out import BUFFER_MS, AudioOut, audio_start
from .frame_source import FrameSource, Opened, Plan

SHUTTLE_RATES = (1.0, 2.0, 4.0, 8.0)


class Player(QObject):
    opened = Signal(object)  # Opened: the file's headers and first frame are here
    open_failed = Signal(str, str)  # file name, message
    decode_failed = Signal(str, str)  # file name, message (a damaged file after it opened)
    frame_shown = Signal(object)  # VideoFrame
    playing_changed = Signal()  # read ``rate`` (a bool argument leaks references in PySide 6.12)
    rate_changed = Signal(float)  # 0 when stopped

    def __init__(self, parent: Optional[QObject] = None, audio: Optional[AudioOut] = None) -> None:
        super().__init__(parent)
        self.source = FrameSource(self)
        self.source.opened.connect(self._opened)
        self.source.failed.connect(self._failed)
        self.source.frame_ready.connect(self._frame_ready)
        self.source.settled.connect(self._settled)
        self.path: Optional[Path] = None
        self.info: Optional[MediaInfo] = None
        self.start_time = Fraction(0)  # the first frame's time in the file (for the sound)
        self.frame: Optional[VideoFrame] = None  # the frame on screen
        self.audio = audio or AudioOut()
        self.shift_ms = 0.0
        self.rate = 0.0
        self.shown_while_playing = 0
        self._requested = 0  # the latest request's id
        self._answered = 0
        self._open_request = 0  # the open whose answer counts (an older one's is ignored)
        self._plan: Optional[Plan] = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ media
    def open(self, path: os.PathLike | str) -> None:
        """Open ``path`` on the decoder thread: ``opened`` (and ``frame_shown``) or ``open_failed`` follow."""
        self.pause()  # the file shown stays until the new one has opened (it may fail to)
        self._request(self.source.open(Path(path)))
        self._open_request = self._requested

    def close(self) -> None:
        self.pause()
        self.source.shutdown()

    @property
    def loaded(self) -> bool:
        return self.frame is not None

    @property
    def settled(self) -> bool:
        """Every seek, step and open asked for has been answered."""
        return self._answered >= self._requested

    @property
    def position(self) -> float:
        return self.frame.time_s if self.frame is not None else 0.0

    @property
    def duration(self) -> float:
        return self.info.duration_s if self.info is not None else 0.0

    def _opened(self, opened: Opened, request: int) -> None:
        if request != self._open_request:
            return
        self.path, self.info, self.start_time = opened.path, opened.info, opened.start_time
        self.frame = None
        self.opened.emit(opened)
        self._show(opened.frame)

    def _failed(self, name: str, message: str, request: int) -> None:
        if request == self._open_request:
            self.open_failed.emit(name, message)
        elif request > self._open_request:
            self.decode_failed.emit(name, message)

    def _frame_ready(self, frame: VideoFrame, request: int) -> None:
        if request > self._open_request:  # not a frame of the previous file
            # the latest seek's answer is shown even when it is the frame on screen: a view that moved
            # its playhead to the asked-for time (a drag on the timeline) snaps back to the frame's
            self._show(frame, again=request == self._requested)

    def _settled(self, request: int) -> None:
        self._answered = max(self._answered, request)

    def _request(self, request: int) -> None:
        self._requested = request

    def _show(self, frame: VideoFrame, again: bool = False) -> None:
        if self.frame is not None and frame.time_s == self.frame.time_s and not again:
            return  # the frame already on screen
        self.frame = frame
        self.frame_shown.emit(frame)

    # --------------------------------------------------------------- stepping
    def seek(self, seconds: float) -> None:
        if not self.loaded:
            return
        seconds = min(max(0.0, seconds), self.duration)
        if self.rate:
            self._start_plan(seconds)
        self._request(self.source.seek(seconds))

    def step(self, frames: int) -> None:
        """Show the next (+1) or previous (-1) decoded frame."""
        if not self.loaded:
            return
        self.pause()
        self._request(self.source.step(frames))

    def jump(self, seconds: float) -> None:
        self.seek(self.position + seconds)

    def home(self) -> None:
        self.seek(0.0)

    def end(self) -> None:
        self.seek(self.duration)

    # ---------------------------------------------------------------- playing
    def toggle(self) -> None:
        self.pause() if self.rate else self.play()

    def play(self, rate: float = 1.0) -> None:
        if not self.loaded:
            return
        origin = self.position
        if rate > 0 and origin >= self.duration - 1e-3:
            origin = 0.0  # at the end: play from the start, as players do
            self._request(self.source.seek(0.0))
        was_playing = bool(self.rate)
        self.rate = rate
        self.shown_while_playing = 0
        self.source.dropped = 0
        self._start_plan(origin)
        fps = self.info.fps if self.info and self.info.fps > 0 else ANALYSIS_FPS
        self._timer.start(max(5, int(500 / max(fps * abs(rate), 1.0))))  # twice per frame interval
        if not was_playing:
            self.playing_changed.emit()
        self.rate_changed.emit(rate)

    def pause(self) -> None:
        if not self.rate:
            return
        self._timer.stop()
        self.audio.stop()
        self.rate = 0.0
        self._plan = None
        self.source.play(None)
        if self.frame is not None:  # the decoder read ahead: back to the frame on screen
            self._request(self.source.seek(self.frame.time_s))
        self.playing_changed.emit()
        self.rate_changed.emit(0.0)

    def shuttle_forward(self) -> None:
        """L: play, or play faster."""
        faster = [r for r in SHUTTLE_RATES if r > self.rate]
        self.play(faster[0] if faster else SHUTTLE_RATES[-1])

    def shuttle_backward(self) -> None:
        """J: play backwards, or faster backwards."""
        faster = [r for r in SHUTTLE_RATES if -r < self.rate]
        self.play(-(faster[0] if faster else SHUTTLE_RATES[-1]))

    def set_shift(self, shift_ms: float) -> None:
        """The audio shift heard while playing (the offset panel's value)."""
        self.shift_ms = shift_ms
        if self.rate == 1.0 and self._plan is not None:
            self._start_audio(self._plan.target())

    def _start_plan(self, origin: float) -> None:
        self._plan = Plan(origin, self.rate, time.perf_counter())
        self.source.play(self._plan)
        if self.rate == 1.0:
            self._start_audio(origin)
        else:
            self.audio.stop()  # no sound while shuttling, as in most editors

    def _start_audio(self, position: float) -> None:
        if self.path is None or self.info is None or not self.info.has_audio:
            return
        ahead = BUFFER_MS / 1000  # the device's buffer delays what we hear: start that far ahead
        self.audio.start(self.path, audio_start(self.start_time, position + ahead, self.shift_ms))

    def _tick(self) -> None:
        if self._plan is None:
            return
        target = self._plan.target()
        if target >= self.duration or target <= 0.0 and self.rate < 0:
            self.pause()
            self.seek(min(max(target, 0.0), self.duration))
            return
        frame, ended = self.source.take(target)
        if frame is not None:
            self.shown_while_playing += 1
            self._show(frame)
        elif ended:
            self.pause()
