"""The one-call API: progress by stage, cancellation mid-stream."""

from __future__ import annotations

import pytest

from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.cancel import CancelToken
from syncdesk.core.errors import Cancelled

from .oracle import make_flash_clip


def test_progress_reports_each_stage_in_order_and_reaches_the_end(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=3.0)
    seen: list[tuple[str, float]] = []
    analyze(clip, AnalysisOptions(detector="whole-frame", weights=oracle_weights), progress=lambda stage, f: seen.append((stage, f)))
    stages = [stage for stage, _ in seen]
    assert stages.index("audio") < stages.index("embeddings")
    assert ("embeddings", 1.0) in seen
    video = [f for stage, f in seen if stage == "embeddings"]
    assert video == sorted(video) and all(0.0 <= f <= 1.0 for f in video)


def test_cancelling_during_the_video_stops_the_analysis(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "long.avi", seconds=20.0)
    token = CancelToken()
    seen: list[float] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "embeddings":
            seen.append(fraction)
            if fraction > 0.1:
                token.cancel()

    with pytest.raises(Cancelled):
        analyze(clip, AnalysisOptions(detector="whole-frame", weights=oracle_weights), progress=progress, cancel=token)
    assert max(seen) < 0.5  # stopped soon after the request, not at the end
