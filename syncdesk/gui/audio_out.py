"""Sound for the player: the clip's audio from a position, with the audio shift applied.

miniaudio (a 0.6 MB wheel with the miniaudio C library inside) plays it: the Qt packages we ship
(PySide6-Essentials) have no QtMultimedia, and PySide6-Addons would add 59 MB for one audio sink.
The device pulls samples from a generator on its own thread; what it pulls is decoded on the fly
by the engine's ``stream_audio``, so nothing grows with the clip's length.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Iterator, Optional

import numpy as np

from ..core import SyncdeskError, stream_audio

log = logging.getLogger(__name__)

RATE = 48_000
BUFFER_MS = 80  # the device's buffer: what we hear is this late, so playback starts this far ahead


def audio_start(first_frame_time: Fraction, video_time_s: float, shift_ms: float) -> Fraction:
    """The source time whose sound goes with video time ``video_time_s`` once ``shift_ms`` is
    applied (positive shift = the audio is delayed: we hear what was recorded ``shift`` earlier)."""
    seconds = Fraction(video_time_s).limit_denominator(1_000_000) - Fraction(shift_ms).limit_denominator(1000) / 1000
    return first_frame_time + seconds


def pcm_feed(chunks: Iterator[np.ndarray]) -> Iterator[bytes]:
    """A miniaudio stream generator: after priming, send it a frame count, get that many samples
    (silence once the sound has ended)."""
    pending = np.zeros(0, np.int16)
    wanted = yield b""
    while True:
        pieces = [pending]
        have = len(pending)
        while have < wanted:
            try:
                chunk = next(chunks, None)
            except SyncdeskError as exc:  # a damaged stream mid-play: go on in silence
                log.info("audio stopped: %s", exc)
                chunk = None
            if chunk is None:
                pieces.append(np.zeros(wanted - have, np.int16))
                break
            pieces.append(chunk)
            have += len(chunk)
        joined = np.concatenate(pieces)
        out, pending = joined[:wanted], joined[wanted:]
        wanted = yield out.tobytes()


class AudioOut:
    """Plays from a position; ``available`` is False when there is no sound device (a message says why)."""

    def __init__(self, backend: Optional[str] = None) -> None:
        self.backend = backend or os.environ.get("SYNCDESK_AUDIO_BACKEND")  # e.g. "null" in tests
        self._device = None
        self.error: Optional[str] = None
        self.available = True

    def start(self, path: os.PathLike | str, start: Fraction) -> bool:
        """Play ``path``'s sound from source time ``start``; False (and ``error``) when it cannot."""
        self.stop()
        if not self.available:
            return False
        try:
            import miniaudio

            backends = [getattr(miniaudio.Backend, self.backend.upper())] if self.backend else None
            device = miniaudio.PlaybackDevice(output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                                              sample_rate=RATE, buffersize_msec=BUFFER_MS, backends=backends)
        except Exception as exc:  # noqa: BLE001 - no device, no backend, no library: play without sound
            self.available = False
            self.error = f"no sound: {exc}"
            log.info("audio output unavailable: %s", exc)
            return False
        feed = pcm_feed(stream_audio(path, start, rate=RATE, seek=True))
        next(feed)
        device.start(feed)
        self._device = device
        return True

    @property
    def playing(self) -> bool:
        return self._device is not None

    def stop(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
