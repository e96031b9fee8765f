"""Playback and stepping: which frame is on screen, when, and the sound that goes with it.

Positions are seconds from the first frame (analysis time). Stepping walks the file's own frames
(frame-accurate at any frame rate); playing shows the frame on screen at the clock's time, with
the sound shifted by the offset panel's value so a fix can be checked by eye and ear first.
J/K/L shuttle as in editors: L plays forward (again: faster), J backward (silent), K stops.
"""

from __future__ import annotations

import os
from typing import Optional

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from ..core import FrameReader, MediaInfo, VideoFrame
from .audio_out import BUFFER_MS, AudioOut, audio_start

SHUTTLE_RATES = (1.0, 2.0, 4.0, 8.0)


class Player(QObject):
    frame_shown = Signal(object)  # VideoFrame
    playing_changed = Signal(bool)
    rate_changed = Signal(float)  # 0 when stopped

    def __init__(self, parent: Optional[QObject] = None, audio: Optional[AudioOut] = None) -> None:
        super().__init__(parent)
        self.reader: Optional[FrameReader] = None
        self.info: Optional[MediaInfo] = None
        self.audio = audio or AudioOut()
        self.shift_ms = 0.0
        self.rate = 0.0
        self._clock = QElapsedTimer()
        self._clock_origin = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ media
    def open(self, path: os.PathLike | str, info: MediaInfo) -> VideoFrame:
        """Show the first frame of ``path`` (raises MediaError for an unreadable file)."""
        self.close()
        self.reader = FrameReader(path)
        self.info = info
        frame = self.reader.current
        self.frame_shown.emit(frame)
        return frame

    def close(self) -> None:
        self.pause()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    @property
    def position(self) -> float:
        return self.reader.current.time_s if self.reader is not None else 0.0

    @property
    def duration(self) -> float:
        return self.info.duration_s if self.info is not None else 0.0

    # --------------------------------------------------------------- stepping
    def seek(self, seconds: float) -> None:
        if self.reader is None:
            return
        frame = self.reader.frame_at(min(max(0.0, seconds), self.duration))
        self.frame_shown.emit(frame)
        if self.rate:
            self._restart_clock()

    def step(self, frames: int) -> None:
        """Show the next (+1) or previous (-1) decoded frame."""
        if self.reader is None:
            return
        self.pause()
        frame = self.reader.next_frame() if frames > 0 else self.reader.previous_frame()
        if frame is not None:
            self.frame_shown.emit(frame)

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
        if self.reader is None:
            return
        if rate > 0 and self.position >= self.duration - 1e-3:
            self.reader.frame_at(0.0)  # at the end: play from the start, as players do
        was_playing = bool(self.rate)
        self.rate = rate
        self._restart_clock()
        fps = self.info.fps if self.info and self.info.fps > 0 else 25.0
        self._timer.start(max(5, int(500 / max(fps * abs(rate), 1.0))))  # twice per frame interval
        if not was_playing:
            self.playing_changed.emit(True)
        self.rate_changed.emit(rate)

    def pause(self) -> None:
        if not self.rate:
            return
        self._timer.stop()
        self.audio.stop()
        self.rate = 0.0
        self.playing_changed.emit(False)
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
        if self.rate == 1.0:
            self._start_audio()

    def _restart_clock(self) -> None:
        self._clock_origin = self.position
        self._clock.start()
        if self.rate == 1.0:
            self._start_audio()
        else:
            self.audio.stop()  # no sound while shuttling, as in most editors

    def _start_audio(self) -> None:
        if self.reader is None or self.info is None or not self.info.has_audio:
            return
        ahead = BUFFER_MS / 1000  # the device's buffer delays what we hear: start that far ahead
        start = audio_start(self.reader.start_time, self.position + ahead, self.shift_ms)
        self.audio.start(self.reader.path, start)

    def _tick(self) -> None:
        if self.reader is None:
            return
        target = self._clock_origin + self.rate * self._clock.elapsed() / 1000
        if target >= self.duration or target <= 0.0 and self.rate < 0:
            self.seek(min(max(target, 0.0), self.duration))
            self.pause()
            return
        frame = self.reader.frame_at(target)
        self.frame_shown.emit(frame)
