"""Quality presets of the published batch filter, and the one-line verdict on a result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Preset:
    name: str
    min_confidence: float
    max_offset_frames: int

    def accepts(self, offset_frames: int, confidence: float) -> bool:
        return confidence >= self.min_confidence and abs(offset_frames) <= self.max_offset_frames


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("strict", 8.0, 2),
        Preset("high", 6.0, 3),
        Preset("medium", 4.0, 5),
        Preset("relaxed", 2.0, 8),
    )
}

#: the preset `batch` and the batch panel use unless told otherwise
DEFAULT_PRESET = "high"
#: an automatic fix (``fix --auto``, the server's ``auto``) applies a verdict only from this preset's
#: confidence up, unless forced
AUTO_FIX_PRESET = PRESETS["medium"]


def direction(offset_ms: float) -> str:
    """The offset in words, per the sign convention (positive: audio leads)."""
    ms = round(abs(offset_ms))
    if ms == 0:
        return "audio and video are in sync"
    return f"audio {'leads' if offset_ms > 0 else 'lags'} video by {ms} ms"


#: the verdict's confidence tiers, lowest first
TIERS = ("low", "medium", "high")


def tier(confidence: float, cap: Optional[str] = None) -> Optional[str]:
    """The confidence in words by the presets' thresholds (relaxed, medium, high), at most ``cap``;
    None below the relaxed preset's minimum: no verdict."""
    if confidence < PRESETS["relaxed"].min_confidence:
        return None
    words = "high" if confidence >= PRESETS["high"].min_confidence else (
        "medium" if confidence >= PRESETS["medium"].min_confidence else "low")
    return cap if cap is not None and TIERS.index(cap) < TIERS.index(words) else words


def verdict(offset_frames: int, offset_ms: float, confidence: float, cap: Optional[str] = None) -> str:
    """One line a user can act on. ``cap``: the highest tier the words may claim (an analysis's
    ``tier_cap``: too little evidence, or the offset at the edge of the search), whatever the number."""
    words = tier(confidence, cap)
    if words is None:
        return ("no reliable verdict: confidence is low (silence, no visible speaker, "
                "or a clip that is not a face crop)")
    certainty = f"{words} confidence" + (", capped: see the notes" if words != tier(confidence) else "")
    if offset_frames == 0:
        return f"in sync ({certainty})"
    action = "delay" if offset_ms > 0 else "advance"
    return f"out of sync ({certainty}): {action} the audio by {abs(round(offset_ms))} ms to fix"
