"""Decoding for the player on its own thread: the GUI thread asks, the decoder thread answers.

One Python thread owns the engine's :class:`FrameReader` (and opens it: ``probe`` and the first
decode happen there too). The GUI posts requests into a mailbox that keeps only what still
matters: a new seek replaces a pending one (while scrubbing, the seeks made during a decode are
skipped, the latest wins), steps add up, a playback plan replaces the previous one. Answers come
back as Qt signals, queued to the GUI thread. While playing, the thread decodes ahead into a small
bounded buffer that the player's clock takes frames from (``take``), so the GUI never waits on a
decoder; when decoding falls behind the clock the thread jumps to the clock instead of queueing
late frames.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, QThread, Signal

from ..core import FrameReader, MediaInfo, SyncdeskError, VideoFrame, probe

log = logging.getLogger(__name__)

#: look-ahead while playing: at most this many frames and this many bytes
AHEAD_FRAMES = 8
AHEAD_BYTES = 128 * 2**20
#: when the next frame to decode is this far (media seconds) behind the clock, jump to the clock
LATE_S = 0.25


@dataclass(frozen=True)
class Opened:
    """A file the thread has opened: its headers, first frame and first-frame time (audio sync)."""

    path: Path
    info: MediaInfo
    frame: VideoFrame
    start_time: Fraction  # the first frame's presentation time in the file


@dataclass(frozen=True)
class Plan:
    """Playing: the clock says ``origin + rate * (perf_counter() - started)`` seconds."""

    origin: float
    rate: float
    started: float

    def target(self, now: Optional[float] = None) -> float:
        return self.origin + self.rate * ((time.perf_counter() if now is None else now) - self.started)


class _DecoderThread(QThread):
    """A QThread (not a Python thread): PySide delivers signals emitted here as queued ones."""

    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__()
        self.setObjectName("frame-decoder")
        self._body = body

    def run(self) -> None:
        self._body()


_LIVE: weakref.WeakSet[FrameSource] = weakref.WeakSet()


def _shutdown_all() -> None:
    """Stop decoder threads still running at exit (a window never closed): no decoding while
    the interpreter tears down."""
    for source in list(_LIVE):
        source.shutdown()


atexit.register(_shutdown_all)


class FrameSource(QObject):
    """The decoder thread's GUI-side face. Create it on the GUI thread; call ``shutdown`` at the end."""

    opened = Signal(object, int)  # Opened, request id
    failed = Signal(str, str, int)  # file name, message, request id
    frame_ready = Signal(object, int)  # VideoFrame answering a seek or a step, request id
    settled = Signal(int)  # every request up to this id is answered

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._lock = threading.Condition()
        self._request = 0  # the latest request's id
        self._open: Optional[Path] = None
        self._seek: Optional[float] = None
        self._steps = 0
        self._plan: Optional[Plan] = None
        self._plan_ready = False  # the reader is positioned at the plan's origin
        self._ahead: deque[VideoFrame] = deque()
        self._ahead_limit = AHEAD_FRAMES
        self._ended = False  # the plan reached the first or last frame
        self._shown_backward = 0.0  # playing backwards: the time of the frame last taken
        self._stop = False
        self._thread: Optional[_DecoderThread] = None
        self.dropped = 0  # frames decoded for playback that the clock had already passed
        _LIVE.add(self)

    # ---------------------------------------------------------------- requests
    def open(self, path: Path) -> int:
        with self._lock:
            self._open, self._seek, self._steps, self._plan = Path(path), None, 0, None
            self._ahead.clear()
            return self._post()

    def seek(self, seconds: float) -> int:
        with self._lock:
            self._seek, self._steps = seconds, 0
            return self._post()

    def step(self, frames: int) -> int:
        with self._lock:
            self._steps += frames
            return self._post()

    def play(self, plan: Optional[Plan]) -> None:
        """Start decoding ahead for ``plan`` (None: stop; what was decoded ahead is dropped)."""
        with self._lock:
            self._plan, self._plan_ready, self._ended = plan, False, False
            self._shown_backward = plan.origin if plan is not None else 0.0
            self._ahead.clear()
            self._ensure_thread()
            self._lock.notify()

    def take(self, target: float) -> tuple[Optional[VideoFrame], bool]:
        """The frame on screen at ``target`` if it is not the one shown yet (None), and whether the
        plan has run out of frames. Frames the clock passed are counted in ``dropped``."""
        with self._lock:
            plan = self._plan
            if plan is None:
                return None, False
            forward = plan.rate > 0
            taken: list[VideoFrame] = []
            if forward:
                while self._ahead and self._ahead[0].time_s <= target:
                    taken.append(self._ahead.popleft())
            else:
                newer = self._shown_backward
                while self._ahead and target < newer:
                    taken.append(self._ahead.popleft())
                    newer = taken[-1].time_s
            if taken:
                self.dropped += len(taken) - 1
                self._shown_backward = taken[-1].time_s
                self._lock.notify()
            return (taken[-1] if taken else None), self._ended and not self._ahead

    def shutdown(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.wait()  # one decode at most: destroying a running QThread aborts the program

    def _post(self) -> int:
        self._request += 1
        self._ensure_thread()
        self._lock.notify()
        return self._request

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = _DecoderThread(self._run)
            self._thread.start()

    # ---------------------------------------------------------- decoder thread
    def _has_work(self) -> bool:
        if self._stop or self._open is not None or self._seek is not None or self._steps:
            return True
        return self._plan is not None and not self._ended and len(self._ahead) < self._ahead_limit

    def _run(self) -> None:
        reader: Optional[FrameReader] = None
        answered = 0
        try:
            while True:
                with self._lock:
                    while not self._has_work():
                        self._lock.wait()
                    if self._stop:
                        return
                    request, path, seek, steps = self._request, self._open, self._seek, self._steps
                    self._open, self._seek, self._steps = None, None, 0
                    plan = self._plan
                try:
                    if path is not None:
                        opened = self._open_reader(path, request)
                        if opened is not None:  # a file that cannot be opened leaves the one shown open
                            if reader is not None:
                                reader.close()
                            reader = opened
                    if (seek is not None or steps) and reader is not None:
                        self._answer(reader, seek, steps, request)
                    elif path is None and plan is not None and reader is not None:
                        self._decode_ahead(reader, plan)
                        continue
                except Exception as exc:  # noqa: BLE001 - the thread must outlive any one bad request
                    log.exception("decoding failed")
                    name = (path or (reader.path if reader is not None else Path("the file"))).name
                    self.failed.emit(name, f"decoding failed unexpectedly ({type(exc).__name__}: {exc})", request)
                if request != answered:
                    answered = request
                    self.settled.emit(request)
        finally:
            if reader is not None:
                reader.close()

    def _open_reader(self, path: Path, request: int) -> Optional[FrameReader]:
        try:
            info = probe(path)
            reader = FrameReader(path)
        except SyncdeskError as exc:
            self.failed.emit(path.name, str(exc), request)
            return None
        frame = reader.current
        with self._lock:
            self._ahead_limit = max(2, min(AHEAD_FRAMES, AHEAD_BYTES // max(1, frame.image.nbytes)))
        self.opened.emit(Opened(path, info, frame, reader.start_time), request)
        return reader

    def _answer(self, reader: FrameReader, seek: Optional[float], steps: int, request: int) -> None:
        """A seek (``frame_at`` returns the current frame without decoding when it is the one on
        screen at that time) then the steps; only the frame reached is sent."""
        try:
            frame: Optional[VideoFrame] = reader.frame_at(seek) if seek is not None else reader.current  # off-gui
            for _ in range(abs(steps)):
                moved = reader.next_frame() if steps > 0 else reader.previous_frame()
                if moved is None:
                    break
                frame = moved
        except SyncdeskError as exc:
            self.failed.emit(reader.path.name, str(exc), request)
            return
        self.frame_ready.emit(frame, request)

    def _decode_ahead(self, reader: FrameReader, plan: Plan) -> None:
        try:
            if not self._plan_ready:
                reader.frame_at(plan.origin)  # off-gui; the frame shown: the look-ahead starts after it
                with self._lock:
                    self._plan_ready = self._plan is plan
                return
            target = plan.target()
            behind = target - reader.current.time_s if plan.rate > 0 else reader.current.time_s - target
            if behind > LATE_S * max(1.0, abs(plan.rate)):
                frame = reader.frame_at(max(0.0, target + plan.rate * 0.1))  # off-gui; jump to the clock
            else:
                frame = reader.next_frame() if plan.rate > 0 else reader.previous_frame()
        except SyncdeskError as exc:
            log.info("playback stopped: %s", exc)
            frame = None
        with self._lock:
            if self._plan is not plan:
                return  # paused or replaced meanwhile: this frame belongs to no plan
            if frame is None:
                self._ended = True
            else:
                self._ahead.append(frame)
