"""Big H.264 clips for the player's tests and bench/bench_player.py: noise sliding sideways, so every
frame differs and decoding costs what real 1080p or 4K footage costs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def make_h264_clip(path: Path, width: int, height: int, seconds: float, fps: int = 25) -> Path:
    """Silent H.264 (x264 ultrafast, GOP 250) of noise sliding sideways: every frame differs."""
    frames = int(round(seconds * fps))
    luma = np.random.default_rng(0).integers(16, 235, (height, width + 8 * frames), dtype=np.uint8)
    chroma = np.full(width * height // 2, 128, np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            y = luma[:, 8 * index: 8 * index + width].reshape(-1)
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]).reshape(height * 3 // 2, width),
                                               format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path
