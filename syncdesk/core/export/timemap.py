"""Moving audio by a delay that changes along the file: pieces of a time map and the streaming remapper.

Output sample ``n`` (on the video's clock) plays input sample ``n - delay(n)``, ``delay`` in samples
(> 0: the audio led and is delayed). Each :class:`Piece` holds a delay that is constant (a step, an
exact whole-sample copy) or a line (a drift, read between samples by windowed-sinc interpolation).
Where the delay jumps between two pieces, the earlier piece fades out and the later fades in over a
few ms so there is no click; when the delay grows, the sound just before the boundary would play
twice, so the later piece fades in only once it reaches new sound, leaving silence in between, and
when the delay shrinks the skipped sound is cut.

Why our own interpolator rather than FFmpeg's resampler (PyAV's ``AudioResampler``): swresample
converts between two fixed whole rates and PyAV does not expose its drift compensation, so it cannot
put a given input instant at a given output sample; here every output sample's input position is
computed exactly from the line, which keeps both ends sample-accurate. The kernel is FFmpeg's default
kind (windowed sinc, 32 taps, 1024 phases); scipy is not a runtime dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .result import CROSSFADE_MS

HALF_TAPS = 16  # kernel taps on each side of the read position
PHASES = 1024  # sub-sample positions in the kernel table
KAISER_BETA = 8.6
CHUNK = 16384  # output samples computed at once (bounds memory)


def _kernel_table() -> np.ndarray:
    """``(PHASES + 1, 2 * HALF_TAPS)`` weights for taps ``-HALF_TAPS + 1 .. HALF_TAPS`` around ``floor(pos)``."""
    frac = np.arange(PHASES + 1)[:, None] / PHASES
    x = np.arange(-HALF_TAPS + 1, HALF_TAPS + 1)[None, :] - frac
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1 - (x / HALF_TAPS) ** 2, 0, None))) / np.i0(KAISER_BETA)
    weights = np.sinc(x) * window
    return weights / weights.sum(axis=1, keepdims=True)


_TABLE = _kernel_table()


@dataclass(frozen=True)
class Piece:
    """From output sample ``start`` on: delay ``shift + slope * (n - start)`` samples.

    ``fade_in`` is where the piece's fade-in is centred (its start, or later by the growth of the
    delay at its start); the first piece applies from minus infinity, the last to plus infinity.
    """

    start: int
    shift: float
    slope: float
    fade_in: int

    def delay(self, n: np.ndarray | float) -> np.ndarray | float:
        return self.shift + self.slope * (n - self.start)

    def position(self, n: np.ndarray | float) -> np.ndarray | float:
        return n - self.delay(n)

    @property
    def exact(self) -> bool:
        """A whole-sample constant delay: a plain copy, no interpolation."""
        return self.slope == 0 and float(self.shift).is_integer()


def _rise(x: np.ndarray, half: int) -> np.ndarray:
    """Raised-cosine gain from 0 (``x <= -half``) to 1 (``x >= half``)."""
    if half <= 0:
        return (x >= 0).astype(np.float64)
    t = np.clip((x + half) / (2 * half), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def _limits(dtype: np.dtype) -> tuple[float, Optional[tuple[float, float]]]:
    """The value of silence and, for integers, the range, in ``dtype``."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        zero = (int(info.max) + 1) // 2 if info.min == 0 else 0
        return float(zero), (float(info.min), float(info.max))
    return 0.0, None


class Remapper:
    """Streams samples through a time map, keeping the length (like :class:`.SampleShifter`).

    Samples are ``(n, channels)`` arrays; ``seen`` counts input, ``emitted`` output samples. Output
    is held back until the input it reads has arrived; memory is the longest delay or advance plus
    a chunk.
    """

    def __init__(self, pieces: Sequence[Piece], channels: int, dtype: np.dtype, rate: int) -> None:
        self.pieces = list(pieces)
        self.dtype = np.dtype(dtype)
        self.half_fade = round(CROSSFADE_MS * rate / 2000)
        self.seen = 0
        self.emitted = 0
        self._zero, self._range = _limits(self.dtype)
        self._buf = np.zeros((0, channels), np.float64)
        self._base = 0  # input index of _buf[0]

    def _span(self, i: int) -> tuple[float, float]:
        """Output samples where piece ``i`` sounds (fades included)."""
        first = -math.inf if i == 0 else self.pieces[i].fade_in - self.half_fade
        last = math.inf if i == len(self.pieces) - 1 else self.pieces[i + 1].start + self.half_fade
        return first, last

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.seen += len(samples)
        self._buf = np.concatenate([self._buf, samples.astype(np.float64) - self._zero])
        return self._emit(self._ready())

    def finish(self) -> np.ndarray:
        return self._emit(self.seen - self.emitted)

    def _ready(self) -> int:
        """How many outputs can be computed from the input seen so far (a sample or two short)."""
        limit = self.seen - HALF_TAPS - 2  # the last input position an output may read
        ready = float(self.seen)
        for i, piece in enumerate(self.pieces):
            first, last = self._span(i)
            if last <= self.emitted or piece.position(min(last, ready)) < limit:
                continue
            # the first n where this piece's read position reaches the limit (positions grow with n)
            n = math.floor((limit + piece.shift - piece.slope * piece.start) / (1 - piece.slope))
            ready = min(ready, max(n, first))
        return max(0, min(int(ready) - 2, self.seen) - self.emitted)

    def _emit(self, count: int) -> np.ndarray:
        channels = self._buf.shape[1]
        if count <= 0:
            return np.zeros((0, channels), self.dtype)
        parts = [self._compute(n0, min(n0 + CHUNK, self.emitted + count))
                 for n0 in range(self.emitted, self.emitted + count, CHUNK)]
        self.emitted += count
        self._trim()
        out = np.concatenate(parts) + self._zero
        if self._range is not None:
            out = np.clip(np.rint(out), *self._range)
        return out.astype(self.dtype)

    def _compute(self, n0: int, n1: int) -> np.ndarray:
        out = np.zeros((n1 - n0, self._buf.shape[1]))
        for i, piece in enumerate(self.pieces):
            first, last = self._span(i)
            lo, hi = max(n0, first), min(n1, last)
            if lo >= hi:
                continue
            n = np.arange(int(lo), int(hi))
            gain = np.ones(len(n))
            if i > 0:
                gain *= _rise(n - piece.fade_in, self.half_fade)
            if i < len(self.pieces) - 1:
                gain *= 1 - _rise(n - self.pieces[i + 1].start, self.half_fade)
            out[n - n0] += gain[:, None] * self._read(piece, n)
        return out

    def _read(self, piece: Piece, n: np.ndarray) -> np.ndarray:
        """Input at each output sample's position in ``piece``; silence outside the input."""
        if piece.exact:
            index = n - int(piece.shift)
            return self._take(index)
        position = np.asarray(piece.position(n), np.float64)
        whole = np.floor(position).astype(np.int64)
        phase = np.rint((position - whole) * PHASES).astype(np.int64)
        taps = whole[:, None] + np.arange(-HALF_TAPS + 1, HALF_TAPS + 1)[None, :]
        return np.einsum("mk,mkc->mc", _TABLE[phase], self._take(taps))

    def _take(self, index: np.ndarray) -> np.ndarray:
        local = index - self._base
        inside = (index >= 0) & (index < self.seen) & (local >= 0)
        values = self._buf[np.clip(local, 0, max(len(self._buf) - 1, 0))] if len(self._buf) else \
            np.zeros((*index.shape, self._buf.shape[1]))
        return values * inside[..., None]

    def _trim(self) -> None:
        """Forget input that no later output reads."""
        keep = float(self.seen)
        for i, piece in enumerate(self.pieces):
            first, last = self._span(i)
            if last > self.emitted:
                keep = min(keep, piece.position(max(first, self.emitted)))
        drop = int(min(max(keep - HALF_TAPS - 2, self._base), self.seen)) - self._base
        if drop > 0:
            self._buf = self._buf[drop:]
            self._base += drop
