"""The Analysis document: what is saved is what is loaded, and the sync-over-time part is additive."""

from __future__ import annotations

import json
from pathlib import Path

from syncdesk.core.results import (SCHEMA, Analysis, Engine, Source, SyncOverTime, SyncPoint, SyncSegment, load,
                                   save)


def _analysis(sync_over_time: SyncOverTime | None = None) -> Analysis:
    return Analysis(
        source=Source("clip.mp4", 1000, 60.0, 25.0, 1500, 48000),
        engine=Engine(version="test", device="cpu", detector="whole-frame", syncnet={"path": "w", "sha256": "0" * 64}),
        offset_frames=2, offset_ms=80.0, min_dist=6.5, confidence=7.2, tracks=[], shots=[[0, 1499]],
        active_speaker=[None] * 1500, timings={"total": 1.0}, sync_over_time=sync_over_time,
    )


def test_sync_over_time_survives_a_save_and_a_load(tmp_path: Path):
    over_time = SyncOverTime(
        window_s=8.0, hop_s=2.0,
        points=[SyncPoint(4.0, -38.5, 6.1), SyncPoint(6.0, None, 0.0), SyncPoint(8.0, -34.0, 5.2)],
        model="drift", drift_ms_per_min=120.0,
        segments=[SyncSegment(0.0, 60.0, -40.0, 5.6, end_offset_ms=80.0)],
    )
    path = save(_analysis(over_time), tmp_path / "a.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert data["sync_over_time"]["points"][1] == {"t_s": 6.0, "offset_ms": None, "confidence": 0.0}
    assert data["sync_over_time"]["segments"][0]["end_offset_ms"] == 80.0
    assert load(path) == _analysis(over_time)


def test_a_document_without_sync_over_time_loads_and_saves_without_it(tmp_path: Path):
    path = save(_analysis(), tmp_path / "a.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert "sync_over_time" not in data
    assert load(path).sync_over_time is None
