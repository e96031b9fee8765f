"""The sub-frame oracle (tests/oracle.py) end to end: fractions of a frame are read, not rounded away.

The binary oracle can only tell whole 40 ms frames apart, so a +15 ms clip reads about +2 ms. The
sub-frame oracle's embeddings are the weighted loud and bright shares of each window, so the
mean distance curve is a smooth minimum at the true lead and the product's parabolic refinement
recovers it. Each clip is made and analysed once per module, when first needed (fast mode,
whole-frame).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.results import Analysis
from syncdesk.core.tolerance import TOLERANCES, judge

from .oracle import make_flash_clip

LEADS_MS = (0, 15, -15, 20, 30, -30, 50, -50, 160)


@pytest.fixture(scope="module")
def read(tmp_path_factory, subframe_oracle_weights) -> Callable[[int], Analysis]:
    """The analysis of a 12 s clip whose audio leads by ``lead_ms``, made on first use and kept."""
    folder = tmp_path_factory.mktemp("subframe")
    options = AnalysisOptions(weights=subframe_oracle_weights, detector="whole-frame")

    @functools.cache
    def analysis(lead_ms: int) -> Analysis:
        clip = make_flash_clip(folder / f"lead{lead_ms}.avi", seconds=12, audio_lead_s=lead_ms / 1000)
        return analyze(clip, options)  # inside a test: its private data dir is set

    return analysis


@pytest.mark.parametrize("lead_ms", LEADS_MS)
def test_constant_leads_are_read_to_a_few_ms(read, lead_ms):
    analysis = read(lead_ms)
    # measured about 3 ms at worst (bfloat16 and float32 alike); 8 ms is a fifth of a frame
    assert analysis.offset_ms == pytest.approx(lead_ms, abs=8.0)
    assert analysis.confidence > 3.0  # measured about 4.5


def test_30_ms_early_is_within_ebu_r37_and_outside_atsc_is191(read):
    """The binary oracle read this clip as +2 ms: within both."""
    analysis = read(30)
    assert judge(analysis, TOLERANCES["ebu-r37"]).result == "within"  # allows 40 ms early
    assert judge(analysis, TOLERANCES["atsc-is191"]).result == "outside"  # allows 15 ms early
