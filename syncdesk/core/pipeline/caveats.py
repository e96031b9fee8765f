"""What the document must say about how far to trust its verdict: the ``warnings`` an editor reads
before acting on an offset."""

from __future__ import annotations

from ..results import StreamDamage

#: damaged spans listed by time in a warning; the rest are counted
LISTED_SPANS = 5


def _spans(damage: StreamDamage) -> str:
    """Where the damage is, in seconds on the file's clock: ``1.2 s, 3.4-3.6 s and 2 more``."""
    listed = [f"{start:.1f} s" if round(end - start, 1) < 0.1 else f"{start:.1f}-{end:.1f} s"
              for start, end in damage.spans_s[:LISTED_SPANS]]
    more = len(damage.spans_s) - LISTED_SPANS
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "")


def damage_warnings(damage: list[StreamDamage]) -> list[str]:
    """One line per damaged stream: how many packets did not decode, where, and what stands in their place."""
    lines = []
    for stream in damage:
        instead = ("replaced by silence" if stream.stream == "audio"
                   else "the picture before them stays on screen")
        lines.append(f"damaged file: {stream.packets} of {stream.of_packets} {stream.stream} packets did not decode "
                     f"(at {_spans(stream)}, {stream.lost_s:.2f} s in all) and were skipped: {instead}")
    return lines
