"""Read a source in a thread: 25 fps analysis pictures and 16 kHz sound, on one clock, as events.

The reader owns everything about the network: it opens the source, decodes both streams, places
the pictures on the analysis frame grid and the sound by its timestamps (as the file pipeline
does, :mod:`syncdesk.core.media`), notices a discontinuity (timestamps that jump or go back: a
reconnect, an ad break, a looped file) and starts a new *epoch* there, so that no window ever mixes
two clocks. A source that stalls or fails after it has played is reported (:class:`Lost`) and
opened again with back-off; one that never opens ends the reader with :class:`Failed`.

Events go through a small bounded queue: memory is a few pictures, whatever the stream's length.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Optional, Union
from urllib.parse import urlsplit

import av
import numpy as np

from ..errors import MediaError
from ..media import ANALYSIS_FPS, AUDIO_RATE, FrameConverter, decode_packet
from .sources import OPEN_TIMEOUT_S, READ_TIMEOUT_S, Source, check_source, open_error, playlist_ended

#: a timestamp that jumps forward by more than this, or back by more than a frame, starts a new epoch
MAX_JUMP_S = 3.0
#: waits before opening a lost source again: doubling from the first to the last
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
#: pictures and sound chunks the queue holds (the consumer keeps up, or the reader waits)
QUEUE_SIZE = 32
TICK = Fraction(1, ANALYSIS_FPS)


@dataclass
class Epoch:
    """From here on, pictures and sound share a new clock (index 0 = the epoch's first picture)."""

    number: int
    t_s: float  # the monitor's clock at the epoch's first picture (continuous across epochs)
    stream_s: float  # the stream's own timestamp there
    fps: float  # the source's frame rate, as the stream says
    width: int
    height: int
    reason: str  # "start", "discontinuity" or "reconnect"


@dataclass
class Picture:
    epoch: int
    index: int  # analysis frame in the epoch
    image: np.ndarray  # BGR
    arrived: float  # time.monotonic() when it was decoded


@dataclass
class Sound:
    epoch: int
    first_sample: int  # 16 kHz sample in the epoch (0 = the epoch's first picture)
    pcm: np.ndarray  # mono int16
    arrived: float


@dataclass
class Lost:
    reason: str


@dataclass
class Ended:
    """A finite source played to its end."""


@dataclass
class Failed:
    """The source could not be opened at all."""

    error: MediaError


Event = Union[Epoch, Picture, Sound, Lost, Ended, Failed]


class _Clock:
    """One epoch's grid: the pictures resampled to 25 fps by timestamp, the sound placed by timestamp."""

    def __init__(self, number: int, t0: Fraction, t_s: float) -> None:
        self.number = number
        self.t0 = t0  # the stream's time of the first picture
        self.t_s = t_s  # the monitor's clock there
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self.next_tick = 0
        self.prev: Optional[tuple[Fraction, av.VideoFrame]] = None
        self.last_step = TICK
        self.cursor = 0  # 16 kHz samples placed so far

    def ticks(self, until: Fraction, inclusive: bool) -> Iterator[int]:
        while True:
            t = self.next_tick * TICK
            if t > until or (t == until and not inclusive):
                return
            yield self.next_tick
            self.next_tick += 1


class StreamReader:
    """Decode ``source`` in a thread; :meth:`events` yields what it finds until it ends or is stopped.

    ``realtime`` paces a file as if it were live; ``loop`` plays a file again and again on one
    continuous clock (for soak tests and demonstrations).
    """

    def __init__(self, source: Source, realtime: bool = False, loop: bool = False,
                 open_timeout_s: float = OPEN_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        check_source(source)
        self.source = source
        self.realtime = realtime
        self.loop = loop and source.is_file
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syncdesk-monitor-reader", daemon=True)
        self._epochs = 0
        self._clock: Optional[_Clock] = None
        self._t_end = 0.0  # the monitor's clock at the end of what was read
        self._lost_at: Optional[float] = None
        self._shift = Fraction(0)  # added to a looped file's timestamps
        self._pace: Optional[tuple[float, Fraction]] = None  # (monotonic, stream time) at the start of pacing
        self._to_bgr = FrameConverter("bgr24")

    # the consumer's side -----------------------------------------------------------------------

    def start(self) -> "StreamReader":
        self._thread.start()
        return self

    def get(self, timeout: float) -> Optional[Event]:
        """The next event, or None when nothing came within ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Stop reading (the thread notices within a fraction of a second; FFmpeg's own waits are bounded
        by the read timeout)."""
        self._stop.set()
        self._thread.join(timeout=self._timeouts[1] + 2.0)

    # the thread --------------------------------------------------------------------------------

    def _put(self, event: Event) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(event, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        played = False  # opened and decoded at least once: a later failure is "lost", not "failed"
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    container = av.open(self.source.url, format=self.source.format, options=self.source.options,
                                        timeout=self._timeouts, metadata_errors="ignore")
                except (av.error.FFmpegError, OSError) as exc:
                    if not played:
                        self._put(Failed(open_error(self.source, exc)))
                        return
                    failures = self._lose(f"reopening failed ({_reason(exc)})", failures)
                    continue
                try:
                    with container:
                        if not played and not container.streams.video:
                            self._put(Failed(MediaError(f"{self.source.label} has no video stream")))
                            return
                        for _ in self._read(container):
                            played, failures = True, 0
                except (av.error.FFmpegError, OSError) as exc:
                    if not played:
                        self._put(Failed(open_error(self.source, exc)))
                        return
                    failures = self._lose(_reason(exc), failures)
                    continue
                if self._stop.is_set():
                    return
                if self.loop and played:
                    continue  # the next pass goes on with this epoch's clock (:meth:`_read` set the shift)
                self._close_epoch()
                if not played or self._finished():
                    if not played:
                        self._put(Failed(MediaError(f"{self.source.label}: no decodable picture")))
                    else:
                        self._put(Ended())
                    return
                ended = "the playlist stopped answering" if self.source.kind == "hls" else "the stream ended"
                failures = self._lose(ended, failures)
        except Exception as exc:  # a bug must end the monitor with a message, never hang it
            self._put(Failed(MediaError(f"reading {self.source.label} failed: {exc}")))

    def _finished(self) -> bool:
        """Whether the end of the data is the end of the source: a file's or a progressive download's
        end is; an HLS playlist's only when the playlist says so; a UDP, RTP, RTMP or SRT stream never ends."""
        if self.source.kind == "hls":
            return playlist_ended(self.source)
        return self.source.is_file or urlsplit(self.source.url).scheme.lower() in ("http", "https")

    def _lose(self, reason: str, failures: int) -> int:
        """Report the loss once per outage, close the epoch, wait the back-off; the next failure count."""
        self._close_epoch()
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            self._put(Lost(reason))
        self._stop.wait(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
        return failures + 1

    def _read(self, container: av.container.InputContainer) -> Iterator[None]:
        """Demux and decode until the end; yields after each picture (so the caller knows it played)."""
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        video.thread_type = "AUTO"
        rate = video.average_rate or video.base_rate or video.guessed_rate
        fps = float(rate) if rate else float(ANALYSIS_FPS)
        streams = [s for s in (video, audio) if s is not None]
        file_start: Optional[Fraction] = None
        if self._clock is not None:  # a looped file's next pass: its sound's timestamps start again
            self._clock.resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        for packet in container.demux(*streams):
            if self._stop.is_set():
                return
            for frame in decode_packet(packet):
                if frame.pts is None or frame.time_base is None:
                    continue
                raw = frame.pts * frame.time_base
                if file_start is None and packet.stream is video:
                    file_start = raw
                time_s = raw + self._shift
                if packet.stream is video:
                    if not self._picture(frame, time_s, fps, video):
                        return
                    yield
                elif self._clock is not None:
                    for chunk in self._clock.resampler.resample(frame):
                        self._sound(chunk)
        if self.loop and self._clock is not None and self._clock.prev is not None:
            # the next pass of the file continues this clock one frame after its last picture
            last, _ = self._clock.prev
            self._shift = self._clock.t0 + last + self._clock.last_step - (file_start or Fraction(0))

    def _picture(self, frame: av.VideoFrame, time_s: Fraction, fps: float, stream: av.video.VideoStream) -> bool:
        clock = self._clock
        if clock is not None and clock.prev is not None:
            rel = time_s - clock.t0
            step = rel - clock.prev[0]
            if step <= 0 and step > -TICK:
                return True  # a repeated or slightly reordered timestamp: keep the first
            if step <= -TICK or step > MAX_JUMP_S:
                self._close_epoch()
                clock = None
        if clock is None:
            reason = "start" if self._epochs == 0 else ("reconnect" if self._lost_at is not None else "discontinuity")
            clock = self._open_epoch(time_s, fps, frame, reason)
            if clock is None:
                return False
        rel = time_s - clock.t0
        if clock.prev is not None:
            prev_rel, prev_frame = clock.prev
            clock.last_step = rel - prev_rel
            if not self._emit(clock, prev_frame, (prev_rel + rel) / 2, inclusive=True):
                return False
        clock.prev = (rel, frame)
        self._pace_to(time_s)
        return True

    def _open_epoch(self, time_s: Fraction, fps: float, frame: av.VideoFrame, reason: str) -> Optional[_Clock]:
        now = time.monotonic()
        t_s = self._t_end + (now - self._lost_at if self._lost_at is not None else 0.0)
        self._lost_at = None
        self._clock = _Clock(self._epochs, time_s, t_s)
        self._pace = None
        event = Epoch(self._epochs, round(t_s, 3), float(time_s), fps, frame.width, frame.height, reason)
        self._epochs += 1
        self._t_end = t_s
        return self._clock if self._put(event) else None

    def _emit(self, clock: _Clock, frame: av.VideoFrame, until: Fraction, inclusive: bool) -> bool:
        image: Optional[np.ndarray] = None
        for index in clock.ticks(until, inclusive):
            if image is None:
                image = self._to_bgr(frame)
            if not self._put(Picture(clock.number, index, image, time.monotonic())):
                return False
            self._t_end = clock.t_s + (index + 1) / ANALYSIS_FPS
        return True

    def _close_epoch(self) -> None:
        """Emit the last picture's remaining ticks and forget the clock."""
        clock = self._clock
        if clock is not None and clock.prev is not None:
            prev_rel, prev_frame = clock.prev
            self._emit(clock, prev_frame, prev_rel + clock.last_step / 2, inclusive=False)
        self._clock = None

    def _sound(self, chunk: av.AudioFrame) -> None:
        clock = self._clock
        samples = chunk.to_ndarray().reshape(-1)
        if chunk.pts is None or chunk.time_base is None:
            position = clock.cursor
        else:
            position = round((chunk.pts * chunk.time_base + self._shift - clock.t0) * AUDIO_RATE)
        if abs(position - clock.cursor) <= AUDIO_RATE // 500:  # 2 ms of jitter is not a gap
            position = clock.cursor
        if position - clock.cursor > MAX_JUMP_S * AUDIO_RATE:
            return  # sound far ahead of the picture's clock: a new epoch will take it
        if position > clock.cursor:
            gap = np.zeros(position - clock.cursor, dtype=np.int16)
            self._put(Sound(clock.number, clock.cursor, gap, time.monotonic()))
            clock.cursor = position
        skip = clock.cursor - position
        if skip < len(samples):
            self._put(Sound(clock.number, clock.cursor, samples[skip:], time.monotonic()))
            clock.cursor += len(samples) - skip

    def _pace_to(self, time_s: Fraction) -> None:
        """With ``realtime``, wait until the wall clock reaches this picture's time."""
        if not self.realtime:
            return
        now = time.monotonic()
        if self._pace is None:
            self._pace = (now, time_s)
            return
        wait = self._pace[0] + float(time_s - self._pace[1]) - now
        if wait > 0:
            self._stop.wait(wait)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
