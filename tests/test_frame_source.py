"""The player's decoder thread outlives a bad request: an unreadable file keeps the one shown open,
and an unexpected error in one decode is reported, not fatal to the thread."""

from __future__ import annotations

import pytest

from syncdesk.core.frames import FrameReader
from syncdesk.gui.frame_source import FrameSource

from .oracle import make_flash_clip

WAIT_MS = 10_000


@pytest.fixture
def source(qapp):
    made = FrameSource()
    yield made
    made.shutdown()


def test_an_unreadable_file_keeps_the_open_one(qtbot, source, tmp_path):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=3.0)
    with qtbot.waitSignal(source.opened, timeout=WAIT_MS):
        source.open(clip)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with qtbot.waitSignal(source.failed, timeout=WAIT_MS) as failed:
        source.open(tmp_path / "broken.mp4")
    assert failed.args[0] == "broken.mp4"
    with qtbot.waitSignal(source.frame_ready, timeout=WAIT_MS) as ready:
        source.seek(2.0)
    assert ready.args[0].time_s == pytest.approx(2.0, abs=0.05)  # still the first file's frames


def test_an_unexpected_error_is_reported_and_the_thread_goes_on(qtbot, source, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=3.0)
    with qtbot.waitSignal(source.opened, timeout=WAIT_MS):
        source.open(clip)
    real = FrameReader.frame_at

    def broken(self, seconds):
        monkeypatch.setattr(FrameReader, "frame_at", real)  # only this once
        raise ValueError("a bug")

    monkeypatch.setattr(FrameReader, "frame_at", broken)
    with qtbot.waitSignal(source.failed, timeout=WAIT_MS) as failed:
        source.seek(1.0)
    assert "ValueError: a bug" in failed.args[1]
    with qtbot.waitSignal(source.frame_ready, timeout=WAIT_MS) as ready:
        source.seek(1.5)
    assert ready.args[0].time_s == pytest.approx(1.5, abs=0.05)
