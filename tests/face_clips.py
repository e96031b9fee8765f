"""Clips with real faces for the face pipeline: tiles of ``example.avi`` on a larger canvas.

Each tile's brightness follows a seeded on/off pattern (dark or bright, the oracle weights'
"lips"), and the sound is loud in the pattern of one chosen tile, ``audio_lead_s`` early. So
with the oracle weights the speaking face and its offset are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Sequence

import av
import cv2
import numpy as np

from .oracle import _write_audio, flash_pattern

BACKGROUND = 120


@dataclass
class Tile:
    """One face: where it is at frame ``n`` (top-left x, y), its side, and its brightness pattern seed."""

    seed: int
    place: Callable[[int], tuple[int, int]]
    side: int = 224
    frames: Optional[range] = None  # analysis frames the tile is shown in (default: all)
    steady: bool = False  # the face as filmed, not flashing (the oracle sees it as always bright)
    pattern: np.ndarray = field(init=False)


def _example_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def _modulate(face: np.ndarray, bright: bool) -> np.ndarray:
    """Dark (below ~60 everywhere) or bright (above ~150), with the face's structure kept
    (compressed) for the detector: the oracle reads the brightness of the crop's centre."""
    scaled = face.astype(np.float32) * (0.4 if bright else 0.22)
    return np.clip(scaled + (150.0 if bright else 0.0), 0, 255).astype(np.uint8)


def make_faces_clip(path: Path, example: Path, tiles: Sequence[Tile], speaker: int, seconds: float = 6.0,
                    audio_lead_s: float = 0.0, size: tuple[int, int] = (640, 360),
                    backgrounds: Optional[Callable[[int], int]] = None) -> Path:
    """Write an mp4 at 25 fps: ``tiles`` composed on a grey canvas, sound in ``tiles[speaker]``'s pattern."""
    source = _example_frames(example)
    slots = int(seconds * 25) + 2
    for tile in tiles:
        tile.pattern = flash_pattern(slots, tile.seed)
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "16", "preset": "ultrafast"}
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for n in range(int(seconds * 25)):
            canvas = np.full((height, width, 3), backgrounds(n) if backgrounds else BACKGROUND, np.uint8)
            for tile in tiles:
                if tile.frames is not None and n not in tile.frames:
                    continue
                face = cv2.resize(source[n % len(source)], (tile.side, tile.side), interpolation=cv2.INTER_AREA)
                if not tile.steady:
                    face = _modulate(face, bool(tile.pattern[n]))
                x, y = tile.place(n)
                x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + tile.side, width), min(y + tile.side, height)
                if x1 > x0 and y1 > y0:
                    canvas[y0:y1, x0:x1] = face[y0 - y : y1 - y, x0 - x : x1 - x]
            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            frame.pts, frame.time_base = n, Fraction(1, 25)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        _write_audio(container, audio, tiles[speaker].pattern, seconds, 0.0, audio_lead_s, 16000, 1, 7)
    return path
