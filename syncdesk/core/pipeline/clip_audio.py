"""The clip's sound as the stages use it: :class:`ClipAudio`."""

from __future__ import annotations

import numpy as np

from ..sync import features
from ..sync.windows import MFCC_PER_FRAME, WINDOW_FRAMES


class ClipAudio:
    """The clip's 16 kHz PCM and MFCC; a track's slice is what the published demo gives a track."""

    def __init__(self, pcm: np.ndarray) -> None:
        self.pcm = pcm
        self.mfcc = features.mfcc(pcm)
        self.frames = len(pcm) // features.SAMPLES_PER_FRAME

    def span(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, int]:
        """PCM, MFCC and number of audio windows of analysis frames ``start..end``."""
        stop = min(end + 1, self.frames)
        frames = max(0, stop - start)
        pcm = self.pcm[start * features.SAMPLES_PER_FRAME : stop * features.SAMPLES_PER_FRAME]
        mfcc = self.mfcc[:, start * MFCC_PER_FRAME : stop * MFCC_PER_FRAME]
        return pcm, mfcc, max(0, frames - WINDOW_FRAMES)
