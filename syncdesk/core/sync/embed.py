"""Turn a stream of 224x224 face frames into SyncNet distance rows, with flat memory.

For each scored video window ``i`` the scorer keeps only its row of distances
``d_i(k) = ||v_i - a_(i+k) + eps||`` for ``k = -vshift..vshift`` (31 floats), never frames or
video embeddings. Audio embeddings are computed lazily in a window that slides with the video,
so memory does not grow with the clip's length. Audio windows beyond either end count as zero
vectors, as in the published demo.
"""

from __future__ import annotations

from typing import Optional, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .model import SyncNet
from .windows import MFCC_PER_FRAME, WINDOW_FRAMES, WINDOW_MFCC

#: PyTorch's pairwise_distance adds this to the difference; the published maths includes it
PAIRWISE_EPS = 1e-6


def _dtype(model: SyncNet) -> torch.dtype:
    """The towers' arithmetic (float32, or bfloat16 in fast mode); embeddings are compared in float32."""
    return model.netcnnlip[0].weight.dtype


def _audio_embeddings(model: SyncNet, mfcc: torch.Tensor, lo: int, hi: int, batch: int,
                      device: torch.device) -> torch.Tensor:
    """The audio tower on windows ``lo .. hi-1`` of ``mfcc`` (float32, on ``device``)."""
    parts = []
    for start in range(lo, hi, batch):
        stop = min(hi, start + batch)
        columns = torch.arange(start, stop).mul_(MFCC_PER_FRAME)[:, None] + torch.arange(WINDOW_MFCC)
        windows = mfcc[:, columns].permute(1, 0, 2).unsqueeze(1)  # n x 1 x 13 x 20
        parts.append(model.forward_audio(windows.to(device, _dtype(model))).float())
    return torch.cat(parts) if parts else torch.zeros(0, model.netfcaud[3].out_features, device=device)


class ClipAudioEmbeddings:
    """A whole clip's audio embeddings, computed once in chunks and kept for a few chunks: the tracks
    of faces on screen together need the same sound's embeddings at about the same time."""

    CHUNK = 256
    KEEP = 8

    def __init__(self, model: SyncNet, mfcc: np.ndarray, windows: int, device: torch.device) -> None:
        self._model = model
        self._mfcc = torch.from_numpy(np.ascontiguousarray(mfcc, dtype=np.float32))
        self.windows = windows
        self._device = device
        self._chunks: dict[int, torch.Tensor] = {}  # by first window, oldest first
        self._empty = torch.zeros(0, model.netfcaud[3].out_features, device=device)

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Embeddings of windows ``lo .. hi-1``, all within ``[0, windows)``."""
        parts = [self._empty]
        for first in range(lo - lo % self.CHUNK, hi, self.CHUNK):
            chunk = self._chunks.pop(first, None)
            if chunk is None:
                chunk = _audio_embeddings(self._model, self._mfcc, first, min(first + self.CHUNK, self.windows),
                                          self.CHUNK, self._device)
            self._chunks[first] = chunk  # now the newest
            while len(self._chunks) > self.KEEP:
                del self._chunks[next(iter(self._chunks))]
            parts.append(chunk[max(lo, first) - first : min(hi, first + self.CHUNK) - first])
        return torch.cat(parts)


class AudioEmbeddings:
    """Audio embeddings ``a_j`` on demand, cached for the range the video is near.

    ``shared``: the clip's embeddings, this track's window 0 being the clip's window ``offset``
    (``mfcc`` is then not read). ``windows``: the track's own (its windows end where its frames
    do), or the clip's from the track's first frame while its end is not known (``WindowScorer``
    zeroes those past it when it learns the end)."""

    def __init__(self, model: SyncNet, mfcc: Optional[np.ndarray], windows: int, device: torch.device,
                 batch: int = 256, shared: Optional[ClipAudioEmbeddings] = None, offset: int = 0) -> None:
        self._model = model
        self._mfcc = None if shared is not None else torch.from_numpy(np.ascontiguousarray(mfcc, dtype=np.float32))
        self.windows = windows
        self._device = device
        self._batch = batch
        self._shared, self._offset = shared, offset
        self._start = 0  # index of the first cached embedding
        self._cache = torch.zeros(0, model.netfcaud[3].out_features, device=device)

    def _compute(self, lo: int, hi: int) -> torch.Tensor:
        if self._shared is not None:
            return self._shared.rows(self._offset + lo, self._offset + hi)
        return _audio_embeddings(self._model, self._mfcc, lo, hi, self._batch, self._device)

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Embeddings ``a_lo .. a_(hi-1)``, zero rows outside ``[0, windows)``; forgets those before ``lo``."""
        valid_lo, valid_hi = max(lo, 0), min(hi, self.windows)
        cached_hi = self._start + len(self._cache)
        if valid_lo < self._start or valid_lo > cached_hi:
            self._start, self._cache = valid_lo, self._cache[:0]
            cached_hi = valid_lo
        if valid_hi > cached_hi:
            self._cache = torch.cat([self._cache, self._compute(cached_hi, valid_hi)])
        drop = max(0, valid_lo - self._start)
        self._cache, self._start = self._cache[drop:], self._start + drop
        out = torch.zeros(hi - lo, self._cache.shape[1], device=self._device)
        if valid_hi > valid_lo:
            out[valid_lo - lo : valid_hi - lo] = self._cache[: valid_hi - valid_lo]
        return out


class WideRows(Protocol):
    """Receives, per batch of scored windows, their distances over a wider range of shifts."""

    reach: int  # shifts -reach..reach are asked for

    def add(self, window_index: np.ndarray, rows: np.ndarray) -> None:
        """``rows``: windows x (2*reach+1), NaN where the audio window is outside the sound."""

    def end(self, windows: int) -> None:
        """The track has ``windows`` audio windows: the rows still to come end there."""


class WindowScorer:
    """Feed frames one by one; collects a distance row per scored window.

    ``stride`` > 1 scores only windows ``0, s, 2s ...``: skipped windows cost nothing
    (:func:`window_embeddings`). ``stride=1`` is the published maths.
    ``wide``, when given, also receives each batch's distances over its own (wider) range of
    shifts, from the same embeddings: one more distance per extra shift, no tower work.

    The track's end may be learnt late: ``audio`` may reach past it (the clip's sound to its end).
    :meth:`finish` then re-scores the windows whose shifts reach past the last frame with the audio
    there zeroed (the published maths), and ``wide`` receives a window's rows only once the frames
    seen reach past its widest shift, the last ones at :meth:`finish`, cut at the track's end.
    """

    def __init__(self, model: SyncNet, audio: AudioEmbeddings, vshift: int, stride: int = 1,
                 windows_per_batch: int = 16, device: Optional[torch.device] = None,
                 wide: Optional[WideRows] = None) -> None:
        self._model = model
        self._audio = audio
        self.vshift = vshift
        self._wide = wide
        self.stride = stride
        self._per_batch = windows_per_batch
        self._device = device or torch.device("cpu")
        self._frames: list[np.ndarray] = []
        self._first_frame = 0  # analysis index of self._frames[0]
        self.frames_seen = 0
        self._skip = 0  # frames still to drop before the next scored window (stride > window)
        self.windows = 0  # set by finish(): the demo's window count
        self._index: list[int] = []
        self._rows: list[np.ndarray] = []
        self._wide_pending: list[tuple[np.ndarray, np.ndarray]] = []  # (windows, rows) not yet given to ``wide``
        # the last video embeddings, to re-score the tail once the window count is known
        self._tail_index = np.zeros(0, dtype=np.int64)
        self._tail = torch.zeros(0, model.netfclip[3].out_features, device=self._device)

    def add(self, frame: np.ndarray) -> None:
        self.frames_seen += 1
        if self._skip:
            self._skip -= 1
            return
        self._frames.append(frame)
        span = (self._per_batch - 1) * self.stride + WINDOW_FRAMES
        if len(self._frames) >= span:
            self._run(self._per_batch)

    def finish(self) -> None:
        """Score what is left, then apply the demo's window count ``min(frames, audio) - 5``.

        Audio windows from that count on are zero vectors in the published maths, so the rows
        of the last ``vshift`` windows are computed again with them zeroed.
        """
        available = len(self._frames) - WINDOW_FRAMES
        if available >= 0:
            self._run(available // self.stride + 1)
        self._frames.clear()
        self.windows = max(0, min(self.frames_seen - WINDOW_FRAMES, self._audio.windows))
        keep = [i for i, index in enumerate(self._index) if index < self.windows]
        rows = self.distances()[keep]
        self._index = [self._index[i] for i in keep]
        redo = (self._tail_index < self.windows) & (self._tail_index + self.vshift >= self.windows)
        if redo.any():
            tail, tail_index = self._tail[torch.as_tensor(redo)], self._tail_index[redo]
            lo, audio = self._audio_rows(tail_index, self.vshift, self.windows)
            fixed = window_distances(tail, audio, tail_index - lo, self.vshift)
            positions = np.searchsorted(np.asarray(self._index), self._tail_index[redo])
            rows[positions] = fixed
        self._rows = [rows]
        if self._wide is not None:
            self._wide.end(self.windows)
            self._give_wide(self.windows, last=True)

    def _run(self, count: int) -> None:
        first = self._first_frame
        count = min(count, max(0, (self._audio.windows - 1 - first) // self.stride + 1))
        if count > 0:
            span = (count - 1) * self.stride + WINDOW_FRAMES
            embeddings = window_embeddings(self._model, self._frames[:span], self.stride, self._device).float()
            indices = first + self.stride * np.arange(count)
            reach = max(self.vshift, self._wide.reach) if self._wide is not None else self.vshift
            lo, audio = self._audio_rows(indices, reach, self._audio.windows)
            self._rows.append(window_distances(embeddings, audio, indices - lo, self.vshift))
            if self._wide is not None:
                self._wide_pending.append((indices, self._wide_rows(embeddings, audio, indices, lo)))
                self._give_wide(self.frames_seen - WINDOW_FRAMES)
            self._index.extend(indices.tolist())
            self._remember_tail(embeddings, indices)
        advance = count * self.stride if count > 0 else len(self._frames)
        self._skip = max(0, advance - len(self._frames))
        del self._frames[:advance]
        self._first_frame += advance

    def _remember_tail(self, embeddings: torch.Tensor, indices: np.ndarray) -> None:
        keep_from = int(indices[-1]) - self.vshift - self.stride
        self._tail = torch.cat([self._tail, embeddings])
        self._tail_index = np.concatenate([self._tail_index, indices])
        recent = self._tail_index >= keep_from
        self._tail, self._tail_index = self._tail[torch.as_tensor(recent)], self._tail_index[recent]


    def _audio_rows(self, indices: np.ndarray, reach: int, audio_windows: int) -> tuple[int, torch.Tensor]:
        """The first audio window index and the embeddings within ``reach`` of ``indices``,
        zero from ``audio_windows`` on."""
        lo = int(indices[0]) - reach
        hi = int(indices[-1]) + reach + 1
        audio = self._audio.rows(lo, hi)
        if hi > audio_windows:
            audio[max(0, audio_windows - lo):] = 0.0
        return lo, audio

    def _wide_rows(self, video: torch.Tensor, audio: torch.Tensor, indices: np.ndarray, lo: int) -> np.ndarray:
        reach = self._wide.reach
        rows = window_distances(video, audio, indices - lo, reach)
        partner = indices[:, None] + np.arange(-reach, reach + 1)
        rows[(partner < 0) | (partner >= self._audio.windows)] = np.nan
        return rows

    def _give_wide(self, windows: int, last: bool = False) -> None:
        """Give ``wide`` the pending rows whose every shift stays below ``windows`` (``last``: all
        of them, shifts from ``windows`` on NaN, windows from ``windows`` on dropped)."""
        reach = self._wide.reach
        while self._wide_pending:
            indices, rows = self._wide_pending[0]
            if not last and indices[-1] + reach >= windows:
                return
            self._wide_pending.pop(0)
            if last:
                keep = indices < windows
                indices, rows = indices[keep], rows[keep]
                rows[indices[:, None] + np.arange(-reach, reach + 1) >= windows] = np.nan
            if len(indices):
                self._wide.add(indices, rows)

    @property
    def window_index(self) -> np.ndarray:
        return np.asarray(self._index, dtype=np.int64)

    def distances(self) -> np.ndarray:
        """Scored windows x (2*vshift+1): column ``j`` is shift ``k = j - vshift``."""
        if not self._rows:
            return np.zeros((0, 2 * self.vshift + 1), dtype=np.float32)
        return np.concatenate(self._rows).astype(np.float32)


def video_input(model: SyncNet, frames: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """``T`` crops (``H x W x 3`` uint8) as the video tower's input: 1 x 3 x T x H x W in its dtype."""
    clip = torch.from_numpy(np.stack(frames))
    return clip.to(device).permute(3, 0, 1, 2).unsqueeze(0).to(_dtype(model))


def video_embeddings(model: SyncNet, video: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """The embeddings of windows ``0, stride, 2*stride ...`` of ``video`` (:func:`video_input`):
    with ``stride`` > 1 the first convolution runs with that temporal stride, so skipped windows cost nothing."""
    if stride == 1:
        return model.forward_video(video)
    first_conv = model.netcnnlip[0]
    strides = (stride, *first_conv.stride[1:])
    features = F.conv3d(video, first_conv.weight, first_conv.bias, strides, first_conv.padding)
    features = model.netcnnlip[1:](features)
    return model.netfclip(features.squeeze(0).flatten(1).transpose(0, 1))


def window_embeddings(model: SyncNet, frames: list[np.ndarray], stride: int, device: torch.device) -> torch.Tensor:
    """The embeddings of windows ``0, stride, 2*stride ...`` of ``frames`` (crops, H x W x 3 uint8,
    up to the last window's fifth frame). Windows that share no frame (``stride`` >= 5, fast mode)
    go through the video tower as 2-d layers (:meth:`SyncNet.forward_windows`); overlapping ones
    through the 3-d tower once (:func:`video_embeddings`)."""
    if stride < WINDOW_FRAMES:
        return video_embeddings(model, video_input(model, frames, device), stride)
    count = (len(frames) - WINDOW_FRAMES) // stride + 1
    picked = [frames[window * stride + offset] for window in range(count) for offset in range(WINDOW_FRAMES)]
    clip = torch.from_numpy(np.stack(picked)).to(device)
    height, width, colours = clip.shape[1:]
    stacks = torch.empty((count, height, width, WINDOW_FRAMES, colours), dtype=_dtype(model), device=device)
    stacks.copy_(clip.view(count, WINDOW_FRAMES, height, width, colours).permute(0, 2, 3, 1, 4))
    # N x 15 x H x W, channels last: each pixel's 15 values (frame by frame, BGR) side by side in memory
    return model.forward_windows(stacks.view(count, height, width, -1).permute(0, 3, 1, 2))


def window_distances(video: torch.Tensor, audio: torch.Tensor, centres: np.ndarray, reach: int) -> np.ndarray:
    """``||v_i - a_(i+k) + eps||`` for ``k = -reach..reach``; ``centres``: each window's own row in ``audio``."""
    shifts = 2 * reach + 1
    gather = torch.as_tensor(centres - reach, device=audio.device)[:, None] + torch.arange(shifts, device=audio.device)
    diff = video[:, None, :] - audio[gather] + PAIRWISE_EPS
    return torch.linalg.vector_norm(diff, dim=-1).cpu().numpy()
