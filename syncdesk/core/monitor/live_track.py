"""One face track of a stream: its crops through the video tower, its distance rows as the sound arrives.

The same maths as a file's track (:class:`~syncdesk.core.sync.embed.WindowScorer`): window ``i``
(5 crops from frame ``i``) is embedded, then compared with audio windows ``i-reach .. i+reach``
once the sound has caught up. In fast mode only every ``stride``-th window is embedded. A row
keeps 2*reach+1 floats and whether there was sound near it; rows older than the rolling window
are dropped, so a track costs the same after an hour as after a minute.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

import numpy as np
import torch

from ..sync.embed import window_distances, window_embeddings
from ..sync.model import SyncNet
from ..sync.windows import WINDOW_FRAMES
from .live_audio import LiveAudio
from .live_faces import Box, Crop


class LiveTrack:
    def __init__(self, track_id: int, first: int, model: SyncNet, device: torch.device, stride: int,
                 reach: int, batch: int) -> None:
        self.id = track_id
        self._model = model
        self._device = device
        self._stride = stride
        self.reach = reach  # the search (--vshift), also how near sound must be for a row to count
        self._batch = batch
        self._crops: list[np.ndarray] = []
        self._next = first  # frame of _crops[0], the next window to embed when stride allows
        self._skip = 0  # crops to drop before the next embedded window
        self._pending: list[tuple[int, torch.Tensor]] = []  # embedded windows waiting for sound
        self.rows: deque[tuple[int, np.ndarray]] = deque()  # (window, distances) with sound near them
        self.seen: deque[tuple[int, float]] = deque()  # (frame, face size) per crop
        self.box: Optional[Box] = None
        self.last = first - 1

    def add(self, crop: Crop) -> None:
        self.seen.append((crop.index, crop.size))
        self.box, self.last = crop.box, crop.index
        if self._skip:
            self._skip -= 1
            return
        self._crops.append(crop.image)
        if len(self._crops) >= (self._batch - 1) * self._stride + WINDOW_FRAMES:
            self.embed()

    def embed(self) -> None:
        """Embed every window the crops so far complete."""
        complete = (len(self._crops) - WINDOW_FRAMES) // self._stride + 1 if len(self._crops) >= WINDOW_FRAMES else 0
        if complete <= 0:
            return
        span = (complete - 1) * self._stride + WINDOW_FRAMES
        embeddings = window_embeddings(self._model, self._crops[:span], self._stride, self._device).float()
        self._pending += [(self._next + n * self._stride, embeddings[n]) for n in range(complete)]
        advance = complete * self._stride
        self._skip = max(0, advance - len(self._crops))
        del self._crops[:advance]
        self._next += advance

    def score(self, audio: LiveAudio) -> None:
        """Distance rows of the embedded windows the sound now reaches."""
        ready = [(i, v) for i, v in self._pending if i + self.reach < audio.ready]
        if not ready:
            return
        self._pending = self._pending[len(ready):]
        index = np.array([i for i, _ in ready])
        lo = int(index[0]) - self.reach
        rows = audio.rows(lo, int(index[-1]) + self.reach + 1)
        distances = window_distances(torch.stack([v for _, v in ready]), rows, index - lo, self.reach)
        for window, row in zip(index.tolist(), distances, strict=True):
            # a window whose search reaches before the epoch's first sound is left out whole: a mean
            # over fewer windows at some shifts than at others would lean the curve
            if window >= self.reach and audio.sounding(window - self.reach, window + self.reach + 1):
                self.rows.append((window, row))

    def forget_before(self, frame: int) -> None:
        while self.rows and self.rows[0][0] < frame:
            self.rows.popleft()
        while self.seen and self.seen[0][0] < frame:
            self.seen.popleft()

    def oldest_needed(self) -> int:
        """The first audio window this track may still compare with."""
        first = self._pending[0][0] if self._pending else self._next
        return first - self.reach

    def curve(self, lo: int, hi: int) -> Optional[np.ndarray]:
        """Mean distance per shift over the rows of windows in ``lo .. hi-1``, or None without rows."""
        rows = [row for window, row in self.rows if lo <= window < hi]
        return np.mean(rows, axis=0) if rows else None

    def presence(self, lo: int, hi: int) -> tuple[int, float]:
        """Frames on screen in ``lo .. hi-1`` and the face's mean size there."""
        sizes = [size for frame, size in self.seen if lo <= frame < hi]
        return len(sizes), float(np.mean(sizes)) if sizes else 0.0
