"""What an automatic fix applies, decided from an analysis: one home for ``fix --auto`` and the
server's ``auto`` fixes, so the two never disagree on what is written or refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import SyncdeskError
from ..quality import AUTO_FIX_PRESET
from ..results import Analysis, SyncOverTime, ToleranceVerdict
from ..sync.sync_model import segment_support, supported
from ..tolerance import Tolerance, describe, judge

@dataclass(frozen=True)
class Advice:
    """How the caller's user overrides a refusal: the CLI's flags, or the server's JSON fields."""

    force: str = "pass --force to apply it anyway"
    segments: str = "or edit it and pass --segments"
    lossless_asked: str = "--lossless"
    lossless: str = "drop --lossless to re-encode the audio"


@dataclass(frozen=True)
class AutoFix:
    """One of: a constant ``offset_ms``, an ``over_time`` correction (drift or steps), or ``skip``:
    why nothing is written (in sync, or within the tolerance)."""

    offset_ms: Optional[float] = None
    over_time: Optional[SyncOverTime] = None
    skip: Optional[str] = None
    judged: Optional[ToleranceVerdict] = None  # the file against the tolerance, when one was given


def refuse_lossless(over_time: SyncOverTime, advice: Advice = Advice()) -> None:
    """An edit list moves a whole track: a drift or steps cannot be applied losslessly."""
    raise SyncdeskError(
        f"{advice.lossless_asked} can only apply one constant shift (an edit list moves the whole track), and "
        f"this offset changes along the file ({over_time.model}): nothing written; {advice.lossless}")


#: why nothing is written when the offset to apply is none
IN_SYNC = "audio and video are in sync: nothing written"


def plan_auto_fix(analysis: Analysis, force: bool = False, tolerance: Optional[Tolerance] = None,
                  lossless: bool = False, advice: Advice = Advice()) -> AutoFix:
    """What to apply to ``analysis``'s file; raises :class:`SyncdeskError` (nothing to be written)
    for a verdict too weak to act on unless ``force``, and for a correction ``lossless`` cannot make."""
    judged = judge(analysis, tolerance) if tolerance is not None else None
    if judged is not None and judged.result == "within" and not force:
        return AutoFix(skip=f"{describe(judged)}: nothing written", judged=judged)
    over_time = analysis.sync_over_time
    if over_time is not None and over_time.model in ("drift", "steps"):
        if lossless:
            refuse_lossless(over_time, advice)
        for segment in over_time.segments:
            if not supported(over_time, segment) and not force:
                confident, windows = segment_support(over_time, segment)
                raise SyncdeskError(
                    f"the segment from {segment.start_s:.1f} s to {segment.end_s:.1f} s was measured confidently "
                    f"in only {confident} of its {windows} windows: nothing written; {advice.force}, "
                    f"{advice.segments}")
        return AutoFix(over_time=over_time, judged=judged)
    if analysis.confidence < AUTO_FIX_PRESET.min_confidence and not force:
        raise SyncdeskError(f"confidence {analysis.confidence:.2f} is below {AUTO_FIX_PRESET.min_confidence:g} (the "
                            f"{AUTO_FIX_PRESET.name!r} preset): nothing written; {advice.force}")
    if analysis.offset_frames == 0 and not force:
        return AutoFix(skip=IN_SYNC, judged=judged)
    return AutoFix(offset_ms=analysis.offset_ms, judged=judged)
