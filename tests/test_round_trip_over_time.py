"""`syncdesk fix --auto` on a drifting and on a stepped clip, then the fixed file analysed again: it
reads `constant` near 0 ms everywhere, and its video packets are the input's, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.sync.sync_model import MIN_POINT_CONFIDENCE

from .oracle import make_flash_clip
from .test_export import audio_of, duration_s, measured_shift_ms, packets

RATE = 16000  # the oracle clips' sound


def _drift(t: np.ndarray) -> np.ndarray:
    return -0.040 + 0.120 * np.asarray(t) / 60.0


def _steps(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t)
    return np.select([t < 20.0, t < 40.0], [0.0, 0.200], -0.120)


@pytest.mark.parametrize(("name", "lead", "model"), [("drift", _drift, "drift"), ("steps", _steps, "steps")])
def test_fix_auto_then_analyse_again_reads_constant_zero(tmp_path, subframe_oracle_weights, capsys, name, lead, model):
    oracle_weights = subframe_oracle_weights  # reads between frames: the residual is measured, not rounded
    clip = make_flash_clip(tmp_path / f"{name}.avi", seconds=60.0, audio_lead_s=lead)
    fixed = tmp_path / f"{name}.fixed.avi"
    flags = ["--weights", str(oracle_weights), "--detector", "whole-frame", "--quiet"]
    assert main(["fix", str(clip), "-o", str(fixed), "--auto", *flags]) == 0
    assert f"sync over time: {model}" in capsys.readouterr().out

    if model == "steps":  # the sound of each segment moved by exactly the model's offset for it
        found = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="whole-frame")).sync_over_time
        before, after = audio_of(clip, RATE), audio_of(fixed, RATE)
        for segment in found.segments:
            middle = slice(round((segment.start_s + 3) * RATE), round((segment.end_s - 3) * RATE))
            shift = measured_shift_ms(before[middle], after[middle], RATE)
            assert shift == pytest.approx(segment.offset_ms, abs=1000 / RATE)

    again = analyze(fixed, AnalysisOptions(weights=oracle_weights, detector="whole-frame")).sync_over_time
    assert again.model == "constant"
    confident = [p for p in again.points if p.offset_ms is not None and p.confidence >= MIN_POINT_CONFIDENCE]
    assert len(confident) >= 0.8 * len(again.points)
    assert max(abs(p.offset_ms) for p in confident) <= 25.0
    assert packets(fixed) == packets(clip)  # the picture is copied, not re-encoded
    assert duration_s(fixed) == pytest.approx(duration_s(clip), abs=0.05)
