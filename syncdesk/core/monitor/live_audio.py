"""The sound of a stream as it arrives: MFCC, SyncNet audio embeddings and loudness, kept for a while.

The file pipeline computes a clip's MFCC in one go (:func:`syncdesk.core.sync.features.mfcc`);
its columns depend only on their own 25 ms of samples and the one sample before (pre-emphasis),
so computing them block by block as samples arrive gives the same numbers. Audio window ``j``
(0.2 s from analysis frame ``j``) is embedded once its 20 columns exist. Everything older than
what the rolling window needs is dropped: memory does not grow with the stream.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ..sync import features
from ..sync.embed import _dtype
from ..sync.model import SyncNet
from ..sync.windows import MFCC_PER_FRAME, WINDOW_MFCC

_STEP, _SPAN = features.MFCC_STEP, features.MFCC_WINDOW
#: audio windows whose loudness sets the silence threshold (the last 30 s)
LOUDNESS_HISTORY = 750
_BATCH = 256


class LiveAudio:
    def __init__(self, model: SyncNet, device: torch.device) -> None:
        self._model = model
        self._device = device
        self._pcm = np.zeros(0, np.int16)
        self._pcm_start = 0  # sample index of _pcm[0]
        self.samples = 0  # samples received
        self._columns = 0  # MFCC columns computed
        self._mfcc = np.zeros((features.CEPSTRA, 0), np.float32)
        self._mfcc_start = 0  # column index of _mfcc[:, 0]
        self.ready = 0  # audio windows embedded: 0 .. ready-1
        self._first = 0  # index of the first embedding kept
        self._embeddings = torch.zeros(0, model.netfcaud[3].out_features, device=device)
        self._loudness: deque[float] = deque(maxlen=LOUDNESS_HISTORY)
        self._loud = np.zeros(0)  # loudness of windows _first .. ready-1

    def add(self, first_sample: int, pcm: np.ndarray) -> None:
        """Samples from ``first_sample`` on (the reader places sound contiguously in an epoch)."""
        if first_sample != self.samples:  # never expected; keep the grid rather than shift the sound
            pcm = pcm[self.samples - first_sample:] if first_sample < self.samples else \
                np.concatenate([np.zeros(first_sample - self.samples, np.int16), pcm])
        self._pcm = np.concatenate([self._pcm, pcm])
        self.samples += len(pcm)

    def update(self) -> None:
        """Compute the MFCC columns and embeddings the samples so far allow."""
        complete = (self.samples - _SPAN) // _STEP + 1 if self.samples >= _SPAN else 0
        if complete > self._columns:
            start = self._columns * _STEP
            stop = (complete - 1) * _STEP + _SPAN
            block = self._pcm[max(start - 1, self._pcm_start) - self._pcm_start: stop - self._pcm_start].astype(np.float64)
            emphasised = np.append(block[0], block[1:] - features.PREEMPHASIS * block[:-1])
            if start > 0:
                emphasised = emphasised[1:]
            columns = features._mfcc_block(emphasised)[: complete - self._columns].T.astype(np.float32)
            self._mfcc = np.concatenate([self._mfcc, columns], axis=1)
            self._columns = complete
        windows = (self._columns - WINDOW_MFCC) // MFCC_PER_FRAME + 1 if self._columns >= WINDOW_MFCC else 0
        if windows > self.ready:
            self._embed(self.ready, windows)

    def _embed(self, lo: int, hi: int) -> None:
        mfcc = torch.from_numpy(self._mfcc)
        parts = []
        for start in range(lo, hi, _BATCH):
            stop = min(hi, start + _BATCH)
            columns = (torch.arange(start, stop) * MFCC_PER_FRAME - self._mfcc_start)[:, None] + torch.arange(WINDOW_MFCC)
            batch = mfcc[:, columns].permute(1, 0, 2).unsqueeze(1)
            parts.append(self._model.forward_audio(batch.to(self._device, _dtype(self._model))).float())
        self._embeddings = torch.cat([self._embeddings, *parts])
        loud = self._window_loudness(lo, hi)
        self._loud = np.concatenate([self._loud, loud])
        self._loudness.extend(loud.tolist())
        self.ready = hi

    def _window_loudness(self, lo: int, hi: int) -> np.ndarray:
        per = features.SAMPLES_PER_FRAME
        first = lo * per - self._pcm_start
        span = self._pcm[first: first + (hi - lo + 4) * per].astype(np.float64)
        frames = len(span) // per
        power = np.square(span[: frames * per].reshape(frames, per)).sum(axis=1)
        cumulative = np.concatenate([[0.0], np.cumsum(power)])
        starts = np.arange(hi - lo)
        ends = np.minimum(starts + WINDOW_MFCC // MFCC_PER_FRAME, frames)
        mean = (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1) / per
        return 10.0 * np.log10(np.maximum(mean, 1e-12) / features.FULL_SCALE ** 2)

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Embeddings ``lo .. hi-1``; zero rows for windows not kept or not yet embedded."""
        out = torch.zeros(hi - lo, self._embeddings.shape[1], device=self._device)
        a, b = max(lo, self._first), min(hi, self.ready)
        if b > a:
            out[a - lo: b - lo] = self._embeddings[a - self._first: b - self._first]
        return out

    def sounding(self, lo: int, hi: int) -> bool:
        """Whether any audio window in ``lo .. hi-1`` has sound (as the file pipeline's silence rule,
        the threshold from the last 30 s instead of the whole clip)."""
        a, b = max(lo, self._first), min(hi, self.ready)
        if b <= a:
            return False
        threshold = max(-60.0, float(np.percentile(np.fromiter(self._loudness, float), 95)) - 40.0)
        return bool((self._loud[a - self._first: b - self._first] >= threshold).any())

    def forget_before(self, window: int) -> None:
        """Drop embeddings, MFCC and samples that no window from ``window`` on needs."""
        window = min(window, self.ready)
        if window > self._first:
            self._embeddings = self._embeddings[window - self._first:]
            self._loud = self._loud[window - self._first:]
            self._first = window
        column = min(window * MFCC_PER_FRAME, self._columns)
        if column > self._mfcc_start:
            self._mfcc = self._mfcc[:, column - self._mfcc_start:]
            self._mfcc_start = column
        sample = max(0, min(window * features.SAMPLES_PER_FRAME, self._columns * _STEP) - 1)
        if sample > self._pcm_start:
            self._pcm = self._pcm[sample - self._pcm_start:]
            self._pcm_start = sample
