"""The clip's sound as the stages use it: :class:`ClipAudio`."""

from __future__ import annotations

import numpy as np

from ..sync import features
from ..sync.windows import WINDOW_FRAMES


def sounding_windows(pcm: np.ndarray, audio_windows: int) -> np.ndarray:
    """Per audio window, whether it has sound (all True when the level cannot be told)."""
    silent = features.silent_windows(features.window_loudness_db(pcm, audio_windows))
    return ~silent if silent.size else np.ones(audio_windows, dtype=bool)


class ClipAudio:
    """The clip's 16 kHz PCM and MFCC.

    ``sounding``: per audio window of the clip, whether it has sound, against the clip's loud level:
    a track, whose end the single pass learns late, takes its slice."""

    def __init__(self, pcm: np.ndarray) -> None:
        self.pcm = pcm
        self.mfcc = features.mfcc(pcm)
        self.frames = len(pcm) // features.SAMPLES_PER_FRAME
        self.windows = max(0, self.frames - WINDOW_FRAMES)
        self.sounding = sounding_windows(pcm, self.windows)
