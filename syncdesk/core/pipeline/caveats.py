"""What the document must say about how far to trust its verdict: the ``warnings`` an editor reads
before acting on an offset, and the highest confidence tier the verdict's words may claim.

The numbers (offset, confidence) are never changed here: the batch presets keep judging them as
the contract says. Only the words are capped (:func:`~syncdesk.core.quality.verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..media import ANALYSIS_FPS, FRAME_MS
from ..options import AnalysisOptions
from ..results import StreamDamage, Track
from ..sync.features import FULL_SCALE, SAMPLES_PER_FRAME, silent_windows, window_loudness_db
from ..sync.over_time import WIDE_REACH
from ..sync.windows import WINDOW_FRAMES
from .context import AnalysisContext

#: damaged spans listed by time in a warning; the rest are counted
LISTED_SPANS = 5
#: less sound than the published pipeline's shortest face track (100 frames, 4 s) under the verdict,
#: and its words say at most "medium"; less than half of that, at most "low"
MEDIUM_EVIDENCE_S = 4.0
LOW_EVIDENCE_S = 2.0
#: the 40 ms frames' loudness spread (10th to 90th percentile) under which the sound is steady:
#: speech, paused between syllables and words, spreads far wider, even two voices talking at once
STEADY_SOUND_DB = 6.0
#: the published pipeline's own minimum face (px) and track (frames): the defaults of the options
DEFAULTS = AnalysisOptions()
#: PCM read at a time for the loudness of 40 ms frames (memory stays flat in the clip's length)
BLOCK_FRAMES = 1500


@dataclass
class Caveats:
    warnings: list[str] = field(default_factory=list)
    tier_cap: Optional[str] = None  # "medium" or "low": the most the verdict's words may claim
    evidence_s: Optional[float] = None  # seconds of sound under the verdict's faces

    def cap(self, tier: str) -> None:
        if self.tier_cap != "low":
            self.tier_cap = tier


def verdict_caveats(context: AnalysisContext) -> Caveats:
    """Warnings on the clip verdict: at the edge of the search, too little sound, steady sound rather
    than speech, a small or briefly seen face; none when nothing was measured."""
    caveats = Caveats()
    if context.verdict_source == "no-confident-speaker":
        return caveats
    tracks = [t for t in context.tracks if t.id in context.verdict_tracks]
    edge = _edge_warning(context)
    if edge is not None:
        caveats.warnings.append(edge)
        caveats.cap("low")
    covered = _covered_windows(tracks, context.audio.frames)
    loudness = window_loudness_db(context.audio.pcm, len(covered))
    caveats.evidence_s = round(float(np.sum(~silent_windows(loudness) & covered)) / ANALYSIS_FPS, 2)
    caveats.warnings.extend(_evidence_warning(caveats, tracks))
    caveats.warnings.extend(_steady_sound_warning(context.audio.pcm, covered))
    if context.verdict_source == "speaking-tracks":
        caveats.warnings.extend(w for t in tracks for w in _face_warnings(t))
    return caveats


def _edge_warning(context: AnalysisContext) -> Optional[str]:
    """The verdict at the edge of the range that was searched: the true offset may lie beyond it.

    The published reading searches ±vshift; the wide search (±:data:`WIDE_REACH`, both modes)
    looks beyond it, and when its minimum is the verdict's, measured on both sides, the edge is
    not where the search stopped.
    """
    offset, vshift, wide = context.verdict.offset_frames, context.options.vshift, context.wide_minimum
    if wide == offset or abs(offset) < vshift:
        return None
    if abs(offset) > vshift:  # read from the wide search, whose curve stops here on this clip
        return (f"the offset ({offset:+d} frames) is at the edge of what the wide search could measure on this "
                "clip: the true offset may lie beyond it; check by eye and ear before applying it")
    edge = (f"the offset is at the edge of the searched range ({offset:+d} frames, ±{vshift * FRAME_MS:.0f} ms): "
            "the true offset may lie beyond it")
    hint = f" (the wide search points to {wide:+d} frames)" if wide is not None and abs(wide) > vshift else ""
    if context.options.exact:
        return (f"{edge}{hint}; analyse without --exact (its wide search reaches ±{WIDE_REACH} frames) "
                "or with a larger --vshift")
    return (f"{edge}, and the wide search could not confirm one{hint}; check by eye and ear, or analyse a "
            "longer stretch of the file")


def _covered_windows(tracks: list[Track], audio_frames: int) -> np.ndarray:
    """Per audio window of the clip, whether one of ``tracks`` was scored over it."""
    covered = np.zeros(max(0, audio_frames - WINDOW_FRAMES), dtype=bool)
    for track in tracks:
        covered[track.start_frame : track.start_frame + track.windows] = True
    return covered


def _evidence_warning(caveats: Caveats, tracks: list[Track]) -> list[str]:
    seconds = caveats.evidence_s
    if seconds >= MEDIUM_EVIDENCE_S:
        return []
    if seconds == 0:
        caveats.cap("low")
        return ["there is no sound where the verdict's face is: nothing to sync, the offset means nothing"]
    tier, limit = ("low", LOW_EVIDENCE_S) if seconds < LOW_EVIDENCE_S else ("medium", MEDIUM_EVIDENCE_S)
    caveats.cap(tier)
    scored = sum(t.windows_scored - t.silent_windows for t in tracks)
    return [f"too little evidence: the verdict rests on {seconds:.1f} s of sound ({scored} scored windows); "
            f"under {limit:g} s its confidence is called {tier} at most, whatever the number"]


def _frame_loudness_db(pcm: np.ndarray) -> np.ndarray:
    """Level in dBFS of each 40 ms frame (one analysis frame) of ``pcm``."""
    frames = len(pcm) // SAMPLES_PER_FRAME
    levels = np.empty(frames)
    for first in range(0, frames, BLOCK_FRAMES):
        last = min(frames, first + BLOCK_FRAMES)
        block = pcm[first * SAMPLES_PER_FRAME : last * SAMPLES_PER_FRAME].astype(np.float32)
        levels[first:last] = np.square(block.reshape(-1, SAMPLES_PER_FRAME)).mean(axis=1)
    return 10.0 * np.log10(np.maximum(levels, 1e-12) / FULL_SCALE**2)


def _steady_sound_warning(pcm: np.ndarray, covered: np.ndarray) -> list[str]:
    """Sound whose level hardly moves (hum, noise, a held chord) is not speech: lips cannot match it."""
    levels = _frame_loudness_db(pcm)[: len(covered)][covered]
    if levels.size < ANALYSIS_FPS:
        return []
    low, high = np.percentile(levels, [10, 90])
    if high - low >= STEADY_SOUND_DB:
        return []
    return [f"the sound hardly changes in level (its quietest and loudest tenths are {high - low:.1f} dB apart; "
            "speech, with its pauses, spreads far wider): it sounds like steady music, noise or hum, not speech, "
            "and lips cannot be matched to it"]


def _face_warnings(track: Track) -> list[str]:
    """A verdict resting on a face smaller or shorter-lived than the published pipeline keeps."""
    boxes = np.asarray(track.boxes, dtype=np.float64)
    size = float(np.mean(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2]))) if len(boxes) else 0.0
    frames = track.end_frame - track.start_frame + 1
    warnings = []
    if size < DEFAULTS.min_face_size:
        warnings.append(f"the verdict rests on track {track.id}, a face of {size:.0f} px, under the default "
                        f"--min-face-size {DEFAULTS.min_face_size}: its mouth is too small to read well")
    if frames < DEFAULTS.min_track:
        warnings.append(f"the verdict rests on track {track.id}, a face on screen for {frames} frames "
                        f"({frames / ANALYSIS_FPS:.1f} s), under the default --min-track {DEFAULTS.min_track}")
    return warnings


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
