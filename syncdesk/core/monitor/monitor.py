"""The live monitor: a stream in, an update of its lip sync every few seconds out.

A rolling window is the same measurement as a window of a file's offset over time
(:mod:`syncdesk.core.sync.over_time`): each track's distance rows over the window, pooled over the
tracks by their confidence and time on screen, read with the published maths. The stream is read
in a thread (:mod:`.reader`); faces are found and followed as pictures arrive (:mod:`.live_faces`),
each track is scored as the sound reaches it (:mod:`.live_track`), and everything older than the
window is dropped. A discontinuity starts a new epoch: new tracks, new sound, a new window.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..cancel import CancelToken
from ..errors import SyncdeskError
from ..media import ANALYSIS_FPS
from ..memory import HeapWatch
from ..options import AnalysisOptions, validate_options
from ..pipeline.context import AnalysisContext
from ..pipeline.engine_stage import load_engine
from ..sync.over_time import pool, read_curve
from ..sync.sync_model import MIN_POINT_CONFIDENCE
from ..sync.windows import WINDOW_FRAMES
from ..tolerance import Tolerance
from .live_audio import LiveAudio
from .live_faces import Box, LiveFaces
from .live_track import LiveTrack
from .reader import Ended, Epoch, Failed, Lost, Picture, Sound, StreamReader
from .sources import Source
from .updates import LOST, NO_EVIDENCE, OK, OUTSIDE, MonitorUpdate

#: a track counts in a window once on screen this long (or ``--min-track``, when shorter)
MIN_LIVE_FRAMES = 2 * ANALYSIS_FPS
#: the shortest window an update rests on (the first updates of an epoch use what there is)
MIN_WINDOW_S = 2.0
WINDOW_RANGE = (2.0, 60.0)
EVERY_RANGE = (0.5, 60.0)


@dataclass
class MonitorSettings:
    window_s: float = 8.0  # the rolling window an update rests on
    every_s: float = 2.0  # stream seconds between updates
    tolerance: Optional[Tolerance] = None
    alarm_after_s: float = 10.0  # outside this long (stream seconds) raises an alarm
    duration_s: Optional[float] = None  # stop after this much stream (or wall time, live)
    realtime: bool = False  # pace a file as if it were live
    loop: bool = False  # play a file again and again
    stall_s: float = 5.0  # a live source with no picture this long is lost


@dataclass
class LivePicture:
    """One picture of the stream with the boxes of its tracks (for a live view)."""

    epoch: int
    t_s: float
    image: np.ndarray
    boxes: dict[int, Box] = field(default_factory=dict)


def check_settings(settings: MonitorSettings) -> None:
    for flag, value, (low, high) in (("--window", settings.window_s, WINDOW_RANGE),
                                     ("--every", settings.every_s, EVERY_RANGE)):
        if not low <= value <= high:
            raise SyncdeskError(f"{flag} must be between {low:g} and {high:g} seconds, not {value:g}")
    if settings.every_s > settings.window_s:
        raise SyncdeskError(f"--every ({settings.every_s:g} s) must not be longer than --window ({settings.window_s:g} s)")
    if settings.alarm_after_s < 0 or (settings.duration_s is not None and settings.duration_s <= 0):
        raise SyncdeskError("--alarm-after must be 0 or more and --duration more than 0 seconds")


class _EpochState:
    """What one epoch of the stream has built up: its sound, faces and tracks."""

    def __init__(self, epoch: Epoch, model: torch.nn.Module, device: torch.device, detector: object,
                 whole_frame: bool) -> None:
        self.epoch = epoch
        self.audio = LiveAudio(model, device)
        self.faces = LiveFaces(detector, whole_frame)
        self.tracks: dict[int, LiveTrack] = {}
        self.arrived: deque[tuple[int, float]] = deque()
        self.frames = 0


class Monitor:
    """Watch ``source`` until it ends, ``duration_s`` or ``cancel``; ``on_update`` gets each update and
    ``on_picture`` (when given) each picture with its boxes. :meth:`run` says why it stopped."""

    def __init__(self, source: Source, options: AnalysisOptions, settings: MonitorSettings,
                 on_update: Callable[[MonitorUpdate], None],
                 on_picture: Optional[Callable[[LivePicture], None]] = None,
                 cancel: Optional[CancelToken] = None) -> None:
        validate_options(options)
        check_settings(settings)
        self.source = source
        self.options = options
        self.settings = settings
        self._on_update = on_update
        self._on_picture = on_picture
        self._cancel = cancel or CancelToken()
        self._engine = AnalysisContext(Path(source.label), options)
        self._state: Optional[_EpochState] = None
        self._every = max(1, round(settings.every_s * ANALYSIS_FPS))
        self._window = max(self._every, round(settings.window_s * ANALYSIS_FPS))
        self._due = self._every
        self._last_t = 0.0
        self._outside_since: Optional[float] = None
        self._alarmed = False
        self._lost_reported: Optional[float] = None  # wall time of the last "lost" update
        self._lost_reason = ""
        self._heap = HeapWatch()
        self.updates = 0

    @property
    def detector_name(self) -> str:
        return self._engine.detector_name

    def load(self) -> None:
        """Load the model and the detector (once; :meth:`run` does it when not done)."""
        if self._engine.model is None:
            load_engine(self._engine)

    def run(self) -> str:
        """``"ended"`` (a finite source played out), ``"duration"`` or ``"cancelled"``; raises
        :class:`~syncdesk.core.errors.MediaError` when the source cannot be opened at all."""
        reader = StreamReader(self.source, self.settings.realtime, self.settings.loop).start()
        try:
            self.load()  # while the reader opens the source: a bad URL is known as soon as the model is
        except BaseException:
            reader.stop()
            raise
        started = time.monotonic()
        last_picture = started
        try:
            with torch.inference_mode():
                while not self._cancel.cancelled:
                    event = reader.get(timeout=0.2)
                    now = time.monotonic()
                    if isinstance(event, Picture):
                        last_picture = now
                        self._picture(event)
                    elif isinstance(event, Sound):
                        if self._state is not None and event.epoch == self._state.epoch.number:
                            self._state.audio.add(event.first_sample, event.pcm)
                    elif isinstance(event, Epoch):
                        self._state = _EpochState(event, self._engine.model, self._engine.device,
                                                  self._engine.detector, self._engine.whole_frame)
                        self._due, self._lost_reported = self._every, None
                        last_picture = now
                    elif isinstance(event, Lost):
                        self._state = None  # the reader closed the epoch: a new one follows the reconnect
                        self._lost(event.reason, now)
                    elif isinstance(event, Ended):
                        self._finish_epoch()
                        return "ended"
                    elif isinstance(event, Failed):
                        raise event.error
                    elif self._live and self._lost_reported is None and now - last_picture > self.settings.stall_s:
                        self._lost(f"no data for {now - last_picture:.0f} s", now)
                    if self._lost_reported is not None and now - self._lost_reported >= self.settings.every_s:
                        self._lost(self._lost_reason, now)
                    if self._past_duration(now - started):
                        return "duration"
                return "cancelled"
        finally:
            reader.stop()

    @property
    def _live(self) -> bool:
        return not self.source.is_file or self.settings.realtime

    def _past_duration(self, wall_s: float) -> bool:
        limit = self.settings.duration_s
        if limit is None:
            return False
        state = self._state
        stream_s = state.epoch.t_s + state.frames / ANALYSIS_FPS if state is not None else 0.0
        return stream_s >= limit or (self._live and wall_s >= limit)

    # pictures and updates ----------------------------------------------------------------------

    def _picture(self, picture: Picture) -> None:
        state = self._state
        if state is None or picture.epoch != state.epoch.number:
            return
        self._lost_reported = None  # a stall that ended without a reconnect
        for crop in state.faces.add(picture.index, picture.image):
            track = state.tracks.get(crop.track)
            if track is None:
                track = state.tracks[crop.track] = LiveTrack(
                    crop.track, crop.index, self._engine.model, self._engine.device, self.options.stride,
                    self.options.vshift, self.options.windows_per_batch)
            track.add(crop)
        state.arrived.append((picture.index, picture.arrived))
        state.frames = picture.index + 1
        if self._on_picture is not None:
            self._on_picture(LivePicture(state.epoch.number, state.epoch.t_s + picture.index / ANALYSIS_FPS,
                                         picture.image, dict(state.faces.boxes)))
        if picture.index % 50 == 49:
            self._heap.check()
        while state.frames >= self._due and self._ready(state):
            self._update(state)

    def _ready(self, state: _EpochState) -> bool:
        """Whether the window ending at the next due frame can be read: its pictures cropped and the
        sound there for its last window's search (or the pictures so far ahead that the sound is not coming)."""
        state.audio.update()
        end = self._due
        waiting = state.faces.waiting
        reach = self.options.vshift
        cropped = waiting is None or waiting >= end
        heard = state.audio.ready > end - WINDOW_FRAMES + reach
        return (cropped and heard) or state.frames > end + reach + ANALYSIS_FPS

    def _finish_epoch(self) -> None:
        """At the end of a finite source: one last update for what has not been reported."""
        state = self._state
        if state is None or state.frames < self._due - self._every + MIN_WINDOW_S * ANALYSIS_FPS:
            return
        self._due = state.frames
        self._update(state)

    def _update(self, state: _EpochState) -> None:
        end = self._due
        self._due += self._every
        lo = max(0, end - self._window)
        for track in state.tracks.values():
            track.embed()
            track.score(state.audio)
        update = self._read(state, lo, end)
        arrived = next((when for index, when in reversed(state.arrived) if index <= end - 1), None)
        update.latency_s = round(time.monotonic() - arrived, 3) if arrived is not None else None
        self._judge(update)
        self._forget(state, max(0, end + self._every - self._window))
        self._last_t = update.t_s
        self.updates += 1
        self._on_update(update)

    def _read(self, state: _EpochState, lo: int, hi: int) -> MonitorUpdate:
        epoch = state.epoch
        t_s = round(epoch.t_s + (lo + hi) / 2 / ANALYSIS_FPS, 3)
        base = dict(t_s=t_s, window_s=round((hi - lo) / ANALYSIS_FPS, 2), epoch=epoch.number,
                    stream_s=round(epoch.stream_s + (lo + hi) / 2 / ANALYSIS_FPS, 3),
                    boxes={k: list(v) for k, v in state.faces.boxes.items()})
        min_frames = min(self.options.min_track, MIN_LIVE_FRAMES, (hi - lo) // 2)
        curves, weights, ids = [], [], []
        seen = faces = 0  # tracks on screen in the window; those long and big enough to count
        for track in state.tracks.values():
            on_screen, size = track.presence(lo, hi)
            seen += on_screen > 0
            if on_screen < max(1, min_frames) or (not self._engine.whole_frame and size < self.options.min_face_size):
                continue
            faces += 1
            curve = track.curve(lo, hi - WINDOW_FRAMES + 1)
            if curve is None:
                continue
            reading = read_curve(curve)
            curves.append(curve)
            weights.append(max(reading.confidence, 0.0) * on_screen)
            ids.append(track.id)
        pooled = pool(curves, weights)
        if pooled is None:
            reason = ("no face on screen" if not seen else "no face big and long enough" if not faces
                      else "no sound yet" if state.audio.ready == 0 else "no speech near the faces")
            return MonitorUpdate(offset_ms=None, confidence=0.0, status=NO_EVIDENCE, latency_s=None, faces=faces,
                                 reason=reason, **base)
        reading = read_curve(pooled)
        speaker = ids[int(np.argmax(weights))]
        confidence = round(reading.confidence, 3)
        if confidence < MIN_POINT_CONFIDENCE:
            return MonitorUpdate(offset_ms=None, confidence=confidence, status=NO_EVIDENCE, latency_s=None,
                                 faces=faces, speaker=speaker,
                                 reason=f"confidence {confidence:.2f} is below {MIN_POINT_CONFIDENCE:g}", **base)
        offset_ms = round(reading.offset_ms, 2)
        return MonitorUpdate(offset_ms=offset_ms, confidence=confidence, status=OK, latency_s=None,
                             offset_frames=round(offset_ms * state.epoch.fps / 1000.0, 2), faces=faces,
                             speaker=speaker, **base)

    def _judge(self, update: MonitorUpdate) -> None:
        """Against the tolerance: ``ok`` or ``outside``, how long outside, and whether that is an alarm."""
        tolerance = self.settings.tolerance
        if tolerance is None:
            return
        update.tolerance = tolerance.label()
        if update.offset_ms is None:
            return
        if tolerance.allows(update.offset_ms):
            self._outside_since, self._alarmed = None, False
            return
        update.status = OUTSIDE
        if self._outside_since is None:
            self._outside_since = update.t_s
        update.outside_s = round(update.t_s - self._outside_since, 3)
        if not self._alarmed and update.outside_s >= self.settings.alarm_after_s:
            update.alarm, self._alarmed = True, True

    def _forget(self, state: _EpochState, keep_from: int) -> None:
        """Drop what no later window needs: old rows, ended tracks, old sound."""
        for track_id in list(state.tracks):
            track = state.tracks[track_id]
            track.forget_before(keep_from)
            if track.last < keep_from and not track.rows:
                del state.tracks[track_id]
        while state.arrived and state.arrived[0][0] < keep_from:
            state.arrived.popleft()
        needed = [track.oldest_needed() for track in state.tracks.values()]
        state.audio.forget_before(max(0, min(needed + [keep_from - self.options.vshift])))

    def _lost(self, reason: str, now: float) -> None:
        self._lost_reported, self._lost_reason = now, reason
        self._outside_since, self._alarmed = None, False
        self._on_update(MonitorUpdate(t_s=self._last_t, offset_ms=None, confidence=0.0, status=LOST,
                                      latency_s=None, reason=reason))
        self.updates += 1

