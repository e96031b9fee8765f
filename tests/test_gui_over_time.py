"""The app's sync-over-time view (issue 26, point 4): the offset lane, the panel's model and
segments, per-segment nudges and Apply, the waveform lane and the thumbnail strip.

The engine's ``sync_over_time`` is built elsewhere: these tests make the documents by hand and set
them into the window's Session; ``correct_audio`` is a fake standing in for the engine's writer.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest

from syncdesk import core
from syncdesk.core.results import Analysis, Engine, Source, SyncOverTime, SyncPoint, SyncSegment, Track
from syncdesk.gui import jobs
from syncdesk.gui.app import SCREENSHOT_SIZE
from syncdesk.gui.main_window import MainWindow
from syncdesk.gui.offset_lane import MsAxis, model_curve
from syncdesk.gui.offset_panel import describe_over_time
from syncdesk.gui.thumbnails import COUNT
from syncdesk.core.envelope import envelope

from .oracle import make_flash_clip
from .test_export import audio_of, measured_shift_ms, packets

WAIT_MS = 20_000
SCREENSHOTS = Path(os.environ.get("SYNCDESK_SCREENSHOTS",
                                  Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"))


# ------------------------------------------------------------------ documents
def drift(seconds: float = 60.0, start_ms: float = -40.0, per_min: float = 120.0,
          gaps: tuple[float, ...] = ()) -> SyncOverTime:
    """A drifting file measured at 30 window centres; no evidence in the windows centred on ``gaps``."""
    rng = np.random.default_rng(1)
    points = []
    hop = seconds / 30
    for t in np.round(np.arange(30) * hop + hop / 2, 3):
        value = start_ms + per_min * t / 60 + float(rng.normal(0, 6))
        points.append(SyncPoint(float(t), None if t in gaps else round(value, 1),
                                0.5 if t in gaps else float(rng.uniform(2, 9))))
    segment = SyncSegment(0.0, seconds, start_ms, 6.0, end_offset_ms=start_ms + per_min * seconds / 60)
    return SyncOverTime(4 * hop, hop, points, "drift", drift_ms_per_min=per_min, segments=[segment])


def steps() -> SyncOverTime:
    """0 ms, then +200 ms from 2 s, then -120 ms from 4 s (a 6 s clip), one window without evidence."""
    values = [0, 0, None, 200, 200, -120, -120]
    points = [SyncPoint(0.5 + 0.8 * i, None if v is None else float(v), 0.4 if v is None else 5.0 + i)
              for i, v in enumerate(values)]
    segments = [SyncSegment(0.0, 2.0, 0.0, 5.0), SyncSegment(2.0, 4.0, 200.0, 6.0),
                SyncSegment(4.0, 6.0, -120.0, 7.0)]
    return SyncOverTime(2.0, 0.8, points, "steps", segments=segments)


def document(path: Path, seconds: float, over_time: SyncOverTime | None, offset_ms: float = 80.0,
             tracks: list[Track] | None = None, speaker: list | None = None) -> Analysis:
    frames = int(seconds * 25)
    return Analysis(Source(str(path), path.stat().st_size, seconds, 25.0, frames, 16000),
                    Engine("test", "cpu", "whole-frame", {}), round(offset_ms / 40), offset_ms, 5.0, 7.5,
                    tracks or [], [[0, frames - 1]], speaker or [None] * frames, {}, sync_over_time=over_time)


@pytest.fixture
def window(make_window, monkeypatch):
    win = make_window(size=SCREENSHOT_SIZE, styled=True)
    monkeypatch.setattr(win, "start_analysis", lambda use_cache=True: None)  # the documents are hand-made
    return win


def open_clip(qtbot, window: MainWindow, clip: Path) -> None:
    with qtbot.waitSignal(window.lanes.waveform_shown, timeout=WAIT_MS), \
            qtbot.waitSignal(window.lanes.thumbnails_shown, timeout=WAIT_MS), \
            qtbot.waitSignal(window.video_opened, timeout=WAIT_MS):
        window.open_video(clip)


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_flash_clip(tmp_path / "clip.avi", seconds=6.0, audio_lead_s=0.08)


def click_lane(qtbot, window: MainWindow, seconds: float) -> None:
    plot = window.timeline.offset_plot
    view = plot.getViewBox()
    (_, _), (low, high) = view.viewRange()
    point = plot.mapFromScene(view.mapViewToScene(QPointF(seconds, (low + high) / 2)))
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


# ---------------------------------------------------------------------- tests
def test_the_lane_shows_points_gaps_and_the_drift_line(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    over_time = drift(seconds=6.0, start_ms=-40.0, per_min=600.0)
    over_time.points[1] = SyncPoint(over_time.points[1].t_s, None, 0.3)
    window.session.set_analysis(document(clip, 6.0, over_time))
    lane = window.timeline.offset_lane
    assert window.timeline.offset_plot.isVisible()
    x, y = lane.trace.getData()
    assert list(x) == [p.t_s for p in over_time.points]
    assert np.isnan(y[1]) and not np.isnan(y[0])  # the gap is empty, not joined
    shown = lane.points.data
    assert len(shown) == sum(p.offset_ms is not None for p in over_time.points)
    assert list(shown["x"]) == [p.t_s for p in over_time.points if p.offset_ms is not None]
    confidences = [p.confidence for p in over_time.points if p.offset_ms is not None]
    strongest, weakest = int(np.argmax(confidences)), int(np.argmin(confidences))
    assert shown["size"][strongest] > shown["size"][weakest]  # confidence as strength
    assert shown[strongest]["brush"].color().alpha() > shown[weakest]["brush"].color().alpha()
    mx, my = lane.model.getData()
    assert (mx[0], my[0], mx[-1], my[-1]) == (0.0, -40.0, 6.0, 20.0)  # the line from end to end
    assert lane.zero.value() == 0.0
    assert MsAxis().tickStrings([-40.0, 0.0, 80.0], 1, 20) == ["-40", "0", "+80"]
    assert window.timeline.offset_plot.getViewBox().viewRange()[0] == pytest.approx(
        window.timeline.plot.getViewBox().viewRange()[0])  # the same time axis as the curves
    assert window.panel.model_words.text() == "drifting +600 ms/min (from -40 ms at 00:00:00 to +20 ms at 00:00:06)"


def test_steps_are_drawn_and_a_click_on_the_lane_selects_a_segment(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, steps()))
    lane, panel = window.timeline.offset_lane, window.panel
    x, y = model_curve(window.session.over_time)
    mx, my = lane.model.getData()
    assert list(mx) == list(x) == [0.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 6.0]
    assert list(my) == [0.0, 0.0, 0.0, 200.0, 200.0, 200.0, -120.0, -120.0]
    assert panel.segments.rowCount() == 3 and panel.over_time_box.isVisible()
    assert panel.model_words.text() == ("3 segments: 00:00:00-00:00:02 +0 ms, 00:00:02-00:00:04 +200 ms, "
                                        "00:00:04-00:00:06 -120 ms")
    window.timeline.fit()
    QTest.qWait(50)
    position = window.player.position
    click_lane(qtbot, window, 3.0)
    assert window.session.segment == 1
    assert lane.selected.isVisible() and lane.selected.getRegion() == (2.0, 4.0)
    assert [index.row() for index in panel.segments.selectionModel().selectedRows()] == [1]
    assert window.session.shift_ms == 200.0 and window.player.shift_ms == 200.0  # heard as selected
    assert window.player.position == position  # picking a segment does not move the playhead
    panel.segments.selectRow(2)
    qtbot.mouseClick(panel.segments.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.segments.visualRect(panel.segments.model().index(2, 1)).center())
    assert window.session.segment == 2 and lane.selected.getRegion() == (4.0, 6.0)


def test_nudging_a_segment_moves_only_it_and_undo_restores_it(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    detected = steps()
    window.session.set_analysis(document(clip, 6.0, detected))
    panel = window.panel
    window.session.select_segment(1)
    qtbot.mouseClick(panel.nudge_buttons[40.0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.nudge_buttons[-1.0], Qt.MouseButton.LeftButton)
    edited = window.session.over_time.segments
    assert [s.offset_ms for s in edited] == [0.0, 239.0, -120.0]
    assert edited[0] == detected.segments[0] and edited[2] == detected.segments[2]
    assert window.analysis.sync_over_time.segments[1].offset_ms == 200.0  # the document is not edited
    assert panel.segments.item(1, 2).text() == "+239 ms" and "+239 ms" in panel.model_words.text()
    assert list(window.timeline.offset_lane.model.getData()[1][3:5]) == [239.0, 239.0]
    assert window.player.shift_ms == 239.0
    window.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.session.over_time.segments == detected.segments
    assert window.player.shift_ms == 200.0
    window.session.select_segment(None)  # none selected: a nudge moves every segment
    qtbot.mouseClick(panel.nudge_buttons[1.0], Qt.MouseButton.LeftButton)
    assert [s.offset_ms for s in window.session.over_time.segments] == [1.0, 201.0, -119.0]
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert window.session.over_time.segments == detected.segments


def test_nudging_a_drift_moves_both_ends_of_its_line(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, drift(seconds=6.0, start_ms=-40.0, per_min=600.0)))
    window.session.select_segment(0)
    assert window.session.shift_ms == -10.0  # the line's value half way
    qtbot.mouseClick(window.panel.nudge_buttons[40.0], Qt.MouseButton.LeftButton)
    [segment] = window.session.over_time.segments
    assert (segment.offset_ms, segment.end_offset_ms) == (0.0, 60.0)
    assert window.session.over_time.drift_ms_per_min == 600.0


@pytest.mark.parametrize("model", ["steps", "drift"])
def test_apply_writes_the_edited_model_with_correct_audio(qtbot, window, clip, tmp_path, monkeypatch, model):
    calls = []

    def fake_correct_audio(src, dst, over_time, *, overwrite=False, all_audio=False, progress=None, cancel=None):
        calls.append((Path(src), Path(dst), copy.deepcopy(over_time), overwrite))
        return SimpleNamespace(describe=lambda: "corrected (fake)")

    monkeypatch.setattr(core, "correct_audio", fake_correct_audio, raising=False)
    monkeypatch.setattr(jobs, "shift_audio", lambda *args, **kwargs: pytest.fail("shift_audio was called"))
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, steps() if model == "steps" else drift(seconds=6.0)))
    window.session.select_segment(0)
    qtbot.mouseClick(window.panel.nudge_buttons[-40.0], Qt.MouseButton.LeftButton)
    expected = copy.deepcopy(window.session.over_time)
    target = tmp_path / "fixed.avi"
    monkeypatch.setattr(window.exporter, "ask_path", lambda default: target)
    with qtbot.waitSignal(window.export_finished, timeout=WAIT_MS):
        qtbot.mouseClick(window.panel.apply_button, Qt.MouseButton.LeftButton)
    [(src, dst, over_time, overwrite)] = calls
    assert (src, dst, overwrite) == (clip, target, True)
    assert over_time == expected and over_time.model == model
    assert over_time.segments[0].offset_ms == window.analysis.sync_over_time.segments[0].offset_ms - 40


def test_apply_with_the_real_writer_shifts_each_segment_and_copies_the_video(qtbot, window, clip, tmp_path,
                                                                             monkeypatch):
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, steps()))
    target = tmp_path / "fixed.avi"
    monkeypatch.setattr(window.exporter, "ask_path", lambda default: target)
    with qtbot.waitSignal(window.export_finished, timeout=WAIT_MS):
        qtbot.mouseClick(window.panel.apply_button, Qt.MouseButton.LeftButton)
    before, after = audio_of(clip, 16000), audio_of(target, 16000)
    for segment in steps().segments:  # inside each segment, away from the fades at its ends
        inside = slice(round((segment.start_s + 0.3) * 16000), round((segment.end_s - 0.3) * 16000))
        assert measured_shift_ms(before[inside], after[inside], 16000) == pytest.approx(segment.offset_ms, abs=0.1)
    assert packets(target) == packets(clip)


def test_without_sync_over_time_the_window_is_as_before(qtbot, window, clip, tmp_path, monkeypatch):
    shifts = []
    monkeypatch.setattr(core, "correct_audio", lambda *a, **k: pytest.fail("correct_audio was called"),
                        raising=False)
    monkeypatch.setattr(jobs, "shift_audio", lambda src, dst, shift_ms, **kwargs: shifts.append(shift_ms)
                        or SimpleNamespace(describe=lambda: "shifted (fake)"))
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, None))
    panel = window.panel
    assert not window.timeline.offset_plot.isVisible() and not panel.over_time_box.isVisible()
    assert window.session.over_time is None and not window.session.varying
    qtbot.mouseClick(panel.nudge_buttons[40.0], Qt.MouseButton.LeftButton)
    assert panel.shift_ms == 120.0 and panel.shift_words.text() == (
        "Delay the audio by 120 ms (+3.00 frames). Detected: +80 ms.")
    monkeypatch.setattr(window.exporter, "ask_path", lambda default: tmp_path / "fixed.avi")
    with qtbot.waitSignal(window.export_finished, timeout=WAIT_MS):
        window.export()
    assert shifts == [120.0]
    window.session.set_analysis(document(clip, 6.0, steps()))  # and a later document without one hides it again
    assert window.timeline.offset_plot.isVisible()
    window.session.set_analysis(document(clip, 6.0, None))
    assert not window.timeline.offset_plot.isVisible() and window.session.segment is None


def test_a_constant_model_is_said_and_applied_as_one_shift(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    points = [SyncPoint(1.0 + i, 80.0, 5.0) for i in range(4)]
    constant = SyncOverTime(2.0, 1.0, points, "constant", segments=[SyncSegment(0.0, 6.0, 80.0, 5.0)])
    window.session.set_analysis(document(clip, 6.0, constant))
    assert window.panel.model_words.text() == "constant +80 ms"
    assert not window.session.varying and not window.panel.segments.isVisible()
    qtbot.mouseClick(window.panel.nudge_buttons[1.0], Qt.MouseButton.LeftButton)
    assert window.session.shift_ms == 81.0 and window.session.over_time.segments[0].offset_ms == 80.0
    unknown = SyncOverTime(2.0, 1.0, [SyncPoint(1.0, None, 0.0)], "unknown")
    assert describe_over_time(unknown).startswith("unknown")


def test_the_waveform_moves_with_the_audio_shift(qtbot, window, clip):
    open_clip(qtbot, window, clip)
    window.session.set_analysis(document(clip, 6.0, None))
    waveform = window.timeline.waveform
    x, highs = waveform.high.getData()
    assert x.size == pytest.approx(600, abs=3) and highs.max() > 0.1  # 10 ms columns with sound in them
    assert waveform.high.pos().x() == pytest.approx(0.08)  # drawn where the detected +80 ms puts it
    qtbot.mouseClick(window.panel.nudge_buttons[40.0], Qt.MouseButton.LeftButton)
    assert waveform.high.pos().x() == pytest.approx(0.12) and waveform.low.pos().x() == pytest.approx(0.12)
    qtbot.mouseClick(window.panel.nudge_buttons[-40.0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.panel.nudge_buttons[-40.0], Qt.MouseButton.LeftButton)
    assert waveform.high.pos().x() == pytest.approx(0.04)
    window.session.set_analysis(document(clip, 6.0, steps()))
    window.session.select_segment(2)  # a selected segment: its shift is the one seen
    assert waveform.high.pos().x() == pytest.approx(-0.12)


def test_thumbnails_arrive_from_a_worker_while_the_event_loop_turns(qtbot, window, tmp_path):
    clip = make_flash_clip(tmp_path / "long.avi", seconds=20.0)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    with qtbot.waitSignal(window.lanes.thumbnails_shown, timeout=WAIT_MS):
        window.open_video(clip)
        assert not window.timeline.thumbnails.received  # nothing decoded on the GUI thread
    timer.stop()
    strip = window.timeline.thumbnails
    assert strip.received == set(range(COUNT)) and ticks
    assert strip.mosaic.shape[1] == COUNT * strip.width and strip.mosaic.any()
    rect = strip.image.mapRectToParent(strip.image.boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((0.0, window.info.duration_s))


def test_the_envelope_keeps_min_and_max_per_column():
    chunks = [np.array([0, 100, -50, 7], np.int16), np.array([3, -32768, 32767], np.int16)]
    lows, highs = envelope(chunks, rate=300, bin_s=0.01)  # 3 samples a column
    assert list(lows * 32768) == [-50, -32768, 32767]  # [0 100 -50] [7 3 -32768] [32767]: across chunks
    assert list(highs * 32768) == [100, 7, 32767]
    lows, _ = envelope(iter(np.zeros((60, 1600), np.int16)))  # 6 s at 16 kHz: 600 columns, however chunked
    assert lows.size == 600


def test_screenshot_of_a_drifting_clip(qtbot, window, tmp_path):
    """A 60 s clip with a hand-made drift, as the README will show it (see the saved PNG)."""
    seconds = 60.0
    clip = make_flash_clip(tmp_path / "drifting.avi", seconds=seconds, size=160)
    open_clip(qtbot, window, clip)
    frames = int(seconds * 25)
    rng = np.random.default_rng(3)
    tracks, speaker = [], [None] * frames
    for track_id, (start, end) in enumerate([(0, 690), (760, frames - 1)]):
        count = end - start + 1
        values = np.clip(4 + 3 * np.sin(np.arange(count) / 17) + rng.normal(0, 0.8, count), 0, None)
        boxes = [[start + i, 20.0, 20.0, 140.0, 140.0] for i in range(count)]
        tracks.append(Track(track_id, start, end, boxes, 1, 40.0, 6.0, 7.0, list(map(float, values)),
                            speaking_frames=count))
        speaker[start:end + 1] = [track_id] * count
    over_time = drift(seconds, -40.0, 120.0, gaps=(29.0, 31.0, 33.0))
    window.session.set_analysis(document(clip, seconds, over_time, 20.0, tracks, speaker))
    window.player.seek(21.0)
    qtbot.waitUntil(lambda: window.player.settled, timeout=WAIT_MS)
    QTest.qWait(100)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "10-offset-over-time-drift.png"
    image = window.grab().toImage()
    assert image.save(str(path))
    lane = window.timeline.offset_plot
    assert lane.isVisible() and lane.height() >= 60
    assert window.panel.model_words.text().startswith("drifting +120 ms/min (from -40 ms at 00:00:00 to +80 ms")
