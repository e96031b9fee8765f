"""Track colours shared by the review video and the app: track ``id`` gets ``TRACK_COLOURS[id % n]``.

Chosen to stay distinct from each other on video and for the common colour-vision deficiencies
(Okabe-Ito), with the speaker's highlight drawn thicker rather than in another hue.
"""

from __future__ import annotations

TRACK_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")


def track_colour(track_id: int) -> str:
    return TRACK_COLOURS[track_id % len(TRACK_COLOURS)]


def track_bgr(track_id: int) -> tuple[int, int, int]:
    """The colour as OpenCV's (blue, green, red)."""
    value = track_colour(track_id).lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return blue, green, red
