"""The app's live view (File ▸ Open stream…): the monitor on its own thread, the picture, the history
with the tolerance's band, the traffic light, the alarm log and its CSV, pause, stop and close.

Streams are flash clips of known sync read as fast as they decode (``realtime`` off) with the
sub-frame oracle weights and the whole-frame detector; the only network address used is a closed
port on 127.0.0.1.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage

from syncdesk.core import TOLERANCES, AnalysisOptions
from syncdesk.core.monitor import MonitorUpdate
from syncdesk.gui.app import application
from syncdesk.gui.live_controller import CANCELLED, ENDED, FAILED, LiveFrame, PictureGate, StreamRequest, downscale
from syncdesk.gui.live_history import (
    GREEN, GREY, HISTORY_S, LOST_ALARM, MAX_POINTS, OUTSIDE_ALARM, RED, YELLOW, LiveState, LiveUpdate,
)
from syncdesk.gui.live_view import LiveWindow
from syncdesk.gui.main_window import MainWindow
from syncdesk.gui.open_stream_dialog import OpenStreamDialog

from .face_clips import Tile, make_faces_clip
from .oracle import make_flash_clip
from .test_gui_screenshots import FOLDER

RUN_TIMEOUT_MS = 90_000
EBU = TOLERANCES["ebu-r37"]  # +40 / -60 ms
DOCS_IMAGE = Path(__file__).resolve().parents[1] / "docs" / "images" / "live-view.png"


@pytest.fixture
def app_window(qtbot, subframe_oracle_weights):
    """A main window on the sub-frame oracle weights; its live views are closed at the end."""
    from syncdesk.gui.app_settings import AppSettings

    def make(detector: str = "whole-frame") -> MainWindow:
        window = MainWindow(AppSettings(), AnalysisOptions(weights=subframe_oracle_weights, detector=detector),
                            interactive=False)
        qtbot.addWidget(window)
        window.resize(1000, 700)
        window.show()
        made.append(window)
        return window

    made: list[MainWindow] = []
    yield make
    for window in made:
        for live in list(window.live_windows):
            live.close()
        window.pool.cancel_all()
        window.pool.wait(20_000)


@pytest.fixture(scope="module")
def step_clip(tmp_path_factory) -> Path:
    """10 s whose audio leads by 0 until 4 s, then by 160 ms (4 frames): outside EBU R37 from then on."""
    path = tmp_path_factory.mktemp("live") / "step.avi"
    return make_flash_clip(path, seconds=10.0, audio_lead_s=lambda t: np.where(t < 4.0, 0.0, 0.160))


def run_to_the_end(qtbot, live: LiveWindow) -> list[str]:
    lights: list[str] = []
    live.light_changed.connect(lights.append)
    with qtbot.waitSignal(live.stopped, timeout=RUN_TIMEOUT_MS) as stopped:
        pass
    assert stopped.args == [ENDED], live.status.text()
    return lights


def update(t_s: float, offset_ms, status: str = "ok", outside_s: float = 0.0, alarm: bool = False,
           epoch: int = 0, wall: float = 1_800_000_000.0) -> LiveUpdate:
    made = MonitorUpdate(t_s=t_s, offset_ms=offset_ms, confidence=4.0 if offset_ms is not None else 0.0,
                         status=status, latency_s=0.3, offset_frames=None if offset_ms is None else offset_ms / 40,
                         window_s=8.0, speaker=0, faces=1, epoch=epoch, tolerance=EBU.label(), outside_s=outside_s,
                         alarm=alarm, reason="no data for 5 s" if status == "lost" else None)
    return LiveUpdate(made, status, wall + t_s)


# --------------------------------------------------------------------- a stream with a step
def test_a_step_shows_in_the_history_the_light_and_the_alarm_log(qtbot, app_window, step_clip, tmp_path):
    window = app_window()
    live = window.open_stream(StreamRequest(str(step_clip), EBU, window_s=3.0, every_s=1.0, alarm_after_s=2.0,
                                            realtime=False))
    assert live is not None and live in window.live_windows and live.isVisible()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    lights = run_to_the_end(qtbot, live)
    timer.stop()
    assert max(np.diff(ticks)) < 1.0  # the GUI thread kept turning: nothing is decoded or measured on it

    points = [(p.t_s, p.offset_ms) for p in live.state.points if not np.isnan(p.offset_ms)]
    before = [offset for t, offset in points if t <= 2.5]
    after = [offset for t, offset in points if t >= 6.5]
    assert before and all(abs(offset) < 25 for offset in before), points
    assert after and all(abs(offset - 160) < 25 for offset in after), points
    within, outside = live.plot.point_count()
    assert within + outside == len(points) and outside >= 3  # every measured point is on the plot

    # green while in sync, yellow while outside for less than the alarm delay, then red: the alarm
    assert GREEN in lights and RED in lights and lights.index(GREEN) < lights.index(RED), lights
    assert lights[-1] == "stopped" and live.light_state == "stopped"
    assert live.windowTitle().startswith("step.avi")

    assert len(live.state.alarms) == 1 and live.alarm_table.rowCount() == 1
    alarm = live.state.alarms[0]
    assert alarm.kind == OUTSIDE_ALARM and abs(alarm.offset_ms - 160) < 25 and alarm.lasted_s >= 2.0
    assert not alarm.open  # the source ended: so did the alarm
    cells = [live.alarm_table.item(0, column).text() for column in range(live.alarm_table.columnCount())]
    assert cells[2] == "outside" and cells[3].endswith(" ms") and cells[5] == "EBU R37"
    assert live.frame_shown() and live.save_button.isEnabled()

    # Save CSV…: written whole under its name, nothing left beside it
    target = tmp_path / "alarms.csv"
    live.ask_csv_path = lambda suggested: (target, False)
    with qtbot.waitSignal(live.csv_saved, timeout=20_000):
        live.save_csv()
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["alarm"] == "outside" and rows[0]["source"] == "step.avi"
    assert abs(float(rows[0]["offset_ms"]) - 160) < 25 and rows[0]["tolerance"] == EBU.label()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alarms.csv"]

    # an existing file is replaced only with the save dialog's consent
    target.write_text("mine\n", encoding="utf-8")
    live.save_csv()
    qtbot.waitUntil(lambda: live.error_box is not None and live.error_box.isVisible(), timeout=20_000)
    assert "exists" in live.error_box.text() and target.read_text(encoding="utf-8") == "mine\n"
    qtbot.waitUntil(lambda: live.save_button.isEnabled(), timeout=5_000)
    live.ask_csv_path = lambda suggested: (target, True)
    with qtbot.waitSignal(live.csv_saved, timeout=20_000):
        live.save_csv()
    assert target.read_text(encoding="utf-8").startswith("time_of_day,")


def test_without_weights_no_monitor_starts(qtbot, tmp_path, step_clip):
    from syncdesk.gui.app_settings import AppSettings

    window = MainWindow(AppSettings(), AnalysisOptions(weights=tmp_path / "missing.model", detector="whole-frame"),
                        interactive=False)
    qtbot.addWidget(window)
    assert window.open_stream(StreamRequest(str(step_clip), EBU)) is None
    assert window.live_windows == [] and "syncdesk models download" in window.last_error


def test_file_menu_has_open_stream(app_window):
    window = app_window()
    file_menu = window.menuBar().actions()[0].menu()
    assert window.open_stream_action in file_menu.actions()
    assert window.open_stream_action.text() == "Open &stream…"


# ------------------------------------------------------------------------------- failures
@pytest.mark.parametrize("source", ["http://127.0.0.1:9/x.m3u8", "missing.mp4", "ftp://127.0.0.1/x.ts"])
def test_an_unopenable_source_shows_a_dialog_with_the_reason(qtbot, app_window, tmp_path, source):
    window = app_window()
    source = str(tmp_path / source) if source == "missing.mp4" else source
    live = window.open_stream(StreamRequest(source, EBU))
    with qtbot.waitSignal(live.stopped, timeout=RUN_TIMEOUT_MS) as stopped:
        pass
    assert stopped.args == [FAILED]
    box = live.error_box
    assert box is not None and box.isVisible() and box.objectName() == "live_error"
    message = box.text()
    assert "Traceback" not in message and "\n" not in message
    expected = {"http://127.0.0.1:9/x.m3u8": "127.0.0.1:9", "ftp://127.0.0.1/x.ts": "ftp://"}
    assert expected.get(source, "no such file") in message
    assert live.light_state == "stopped" and not live.stop_button.isEnabled()
    assert live.controller.wait(5_000) and not live.controller.running


# ------------------------------------------------------------------------------- stopping
def test_closing_the_view_or_the_app_during_a_run_stops_the_monitor(qtbot, app_window, step_clip):
    window = app_window()
    request = StreamRequest(str(step_clip), EBU, window_s=3.0, every_s=1.0, realtime=True)
    first = window.open_stream(request)
    second = window.open_stream(request)
    for live in (first, second):
        qtbot.waitUntil(live.frame_shown, timeout=RUN_TIMEOUT_MS)  # model loaded, pictures flowing
        assert live.controller.running
    started = time.monotonic()
    first.close()
    assert time.monotonic() - started < 5.0
    assert first.controller.pool.pool.activeThreadCount() == 0
    assert first not in window.live_windows and second in window.live_windows

    started = time.monotonic()
    window.close()  # the app's window closes every live view first
    assert time.monotonic() - started < 10.0
    assert window.live_windows == [] and not second.isVisible()
    assert second.controller.pool.pool.activeThreadCount() == 0
    qtbot.waitUntil(lambda: second.why_stopped == CANCELLED, timeout=5_000)


def test_stop_ends_the_monitor_and_keeps_the_history(qtbot, app_window, step_clip):
    window = app_window()
    live = window.open_stream(StreamRequest(str(step_clip), EBU, window_s=3.0, every_s=1.0, realtime=True))
    qtbot.waitUntil(lambda: live.state.updates >= 1, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(live.stopped, timeout=5_000) as stopped:
        qtbot.mouseClick(live.stop_button, Qt.MouseButton.LeftButton)
    assert stopped.args == [CANCELLED] and live.isVisible()
    assert live.state.points and live.words.text() == "Monitoring stopped."
    assert not live.pause_button.isEnabled() and not live.stop_button.isEnabled()


# ------------------------------------------------------------- the view fed by hand (no monitor)
@pytest.fixture
def view(qtbot) -> LiveWindow:
    live = LiveWindow(StreamRequest("udp://@239.1.1.1:5000", EBU, alarm_after_s=4.0), AnalysisOptions())
    qtbot.addWidget(live)
    live.show()
    return live


def test_pause_freezes_the_picture_and_plot_but_never_the_light_or_the_alarms(view):
    image = np.zeros((90, 160, 3), np.uint8)
    view.show_picture(LiveFrame(0, 0.0, image, {0: (10.0, 10.0, 60.0, 80.0)}))
    view.add_update(update(1.0, 5.0))
    assert view.light_state == GREEN and view.plot.point_count() == (1, 0)
    assert [box.speaking for box in view.viewer._boxes] == [True]

    view.pause_button.click()
    assert view.paused and view.paused_banner.isVisible() and not view.controller.gate.wanted
    view.show_picture(LiveFrame(0, 2.0, np.full((90, 160, 3), 200, np.uint8), {}))
    for t, outside in ((2.0, 0.0), (3.0, 1.0), (4.0, 2.0), (5.0, 3.0)):
        view.add_update(update(t, 160.0, "outside", outside))
        assert view.light_state == YELLOW  # outside, not yet for the alarm delay (4 s)
    view.add_update(update(6.0, 160.0, "outside", 4.0, alarm=True))
    assert view.light_state == RED and view.alarm_table.rowCount() == 1  # the alarm shows while paused
    assert view.viewer.frame.max() == 0 and view.plot.point_count() == (1, 0)  # frozen

    view.pause_button.click()
    assert not view.paused and view.controller.gate.wanted and view.plot.point_count() == (1, 5)  # caught up

    view.add_update(update(7.0, None, "no-evidence"))
    assert view.light_state == RED  # no evidence does not clear an alarm
    view.add_update(update(8.0, 165.0, "outside", 6.0))
    assert "(going on)" in view.alarm_table.item(0, 4).text() and view.alarm_table.item(0, 4).text().startswith("6 s")
    view.add_update(update(9.0, 0.0))
    assert view.light_state == GREEN and view.alarm_table.item(0, 4).text() == "6 s"
    view.add_update(update(9.0, None, "lost"))
    view.add_update(update(9.0, None, "lost", wall=1_800_000_003.0))
    assert view.light_state == GREY and view.alarm_table.rowCount() == 2
    assert view.alarm_table.item(0, 2).text() == "lost (no data for 5 s)"
    view.add_update(update(20.0, 1.0, epoch=1))
    assert view.light_state == GREEN and view.state.alarms[-1].kind == LOST_ALARM
    assert not view.state.alarms[-1].open and view.state.alarms[-1].lasted_s == 3.0
    assert np.isnan(view.plot.trace.yData).any()  # the loss is a gap in the line


def test_a_loss_ends_the_alarm_going_on(view):
    view.add_update(update(1.0, 160.0, "outside", 4.0, alarm=True))
    assert "(going on)" in view.alarm_table.item(0, 4).text()
    view.add_update(update(1.0, None, "lost"))
    assert view.alarm_table.rowCount() == 2 and view.light_state == GREY
    assert view.alarm_table.item(0, 2).text().startswith("lost") and "(going on)" in view.alarm_table.item(0, 4).text()
    assert view.alarm_table.item(1, 2).text() == "outside" and view.alarm_table.item(1, 4).text() == "4 s"


def test_history_and_alarm_log_stay_bounded():
    state = LiveState(alarm_after_s=0.0, max_alarms=50)
    for n in range(4 * 3600 * 2):  # four hours at an update every 0.5 s
        t = n * 0.5
        outside = n % 4 < 2  # flapping: an alarm every 2 s
        state.add(update(t, 160.0 if outside else 0.0, "outside" if outside else "ok", alarm=outside and n % 4 == 0))
    assert len(state.points) <= MAX_POINTS
    assert state.points[-1].t_s - state.points[0].t_s <= HISTORY_S
    assert len(state.alarms) == 50 and state.alarms[-1].t_s > 4 * 3600 - 3


def test_alarm_table_drops_its_oldest_rows_with_the_log(view):
    view.state = LiveState(alarm_after_s=0.0, max_alarms=3)
    for n in range(6):
        view.add_update(update(2.0 * n, 160.0, "outside", alarm=True))
        view.add_update(update(2.0 * n + 1, 0.0))
    assert view.alarm_table.rowCount() == 3
    assert view.alarm_table.item(0, 1).text() == "00:00:10.0"  # newest first


def test_pictures_are_thinned_and_shrunk_before_the_gui_thread():
    gate = PictureGate(per_s=10.0)
    assert gate.admit(100.0)
    assert not gate.admit(100.5)  # the last one is not taken yet
    gate.taken()
    assert gate.admit(100.55)
    gate.taken()
    assert not gate.admit(100.6)  # taken, but too soon
    gate = PictureGate(per_s=10.0)
    admitted = 0
    for n in range(250):  # 10 s of 25 fps, each taken at once
        if gate.admit(n / 25):
            admitted += 1
            gate.taken()
    assert 80 <= admitted <= 100  # at most 10 a second (every third picture of 25 fps)
    gate.wanted = False
    assert not gate.admit(1_000.0)

    image = np.zeros((1080, 1920, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    small, boxes, scale = downscale(image, {3: (960.0, 540.0, 1920.0, 1080.0)})
    assert small.shape == (540, 960, 3) and scale == 0.5
    assert tuple(small[0, 0]) == (255, 0, 0)  # RGB now
    assert boxes == {3: (480.0, 270.0, 960.0, 540.0)}
    tiny, _, scale = downscale(np.zeros((64, 64, 3), np.uint8), {})
    assert tiny.shape == (64, 64, 3) and scale == 1.0  # never enlarged


# ------------------------------------------------------------------------------ the dialog
def test_open_stream_dialog(qtbot, tmp_path, monkeypatch):
    dialog = OpenStreamDialog(None, None, tmp_path)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled()  # no source yet
    assert dialog.tolerance.currentData() == "ebu-r37"  # core's default without a chosen one

    dialog.source.setText("https://example.invalid/live.m3u8")
    assert ok.isEnabled() and not dialog.realtime.isEnabled()
    clip = tmp_path / "take.mp4"
    monkeypatch.setattr("syncdesk.gui.open_stream_dialog.QFileDialog.getOpenFileName",
                        lambda *args: (str(clip), ""))
    dialog.findChild(type(ok), "stream_browse").click()
    assert dialog.source.text() == str(clip) and dialog.realtime.isEnabled()

    dialog.window_s.setValue(4.0)
    assert dialog.every_s.maximum() == 4.0
    dialog.every_s.setValue(3.0)
    dialog.alarm_after.setValue(5.0)
    dialog.tolerance.setCurrentIndex(dialog.tolerance.findData("custom"))
    assert dialog.custom_tolerance.isVisible() and not ok.isEnabled()
    dialog.custom_tolerance.setText("40/x")
    assert dialog.tolerance_error.isVisible() and not ok.isEnabled()
    dialog.custom_tolerance.setText("30/50")
    assert not dialog.tolerance_error.isVisible() and ok.isEnabled()
    request = dialog.request()
    assert (request.source, request.window_s, request.every_s, request.alarm_after_s, request.realtime) == (
        str(clip), 4.0, 3.0, 5.0, True)
    assert (request.tolerance.lead_ms, request.tolerance.lag_ms) == (30.0, 50.0)

    dialog.source.setText("v4l2:/dev/video0")
    assert not dialog.request().realtime  # a device is live already

    chosen = OpenStreamDialog(TOLERANCES["atsc-is191"])
    qtbot.addWidget(chosen)
    assert chosen.tolerance.currentData() == "atsc-is191"  # the offset panel's choice


# ------------------------------------------------------------------------------ screenshot
def test_screenshot_of_the_live_view(qtbot, app_window, tmp_path, example_avi):
    """Two faces of example.avi, the sound following the left one's lips, 120 ms early from 4 s on.
    Saved beside the other screenshots; with SYNCDESK_LIVE_DOCS=1 a longer, larger clip goes to
    docs/images/live-view.png (the README's picture)."""
    docs = os.environ.get("SYNCDESK_LIVE_DOCS") == "1"
    if docs:
        clip = make_faces_clip(tmp_path / "studio.mp4", example_avi,
                               [Tile(1, lambda n: (60, 68)), Tile(2, lambda n: (356, 68))], 0, seconds=24.0,
                               audio_lead_s=lambda t: np.where(t < 12.0, 0.0, 0.12))
        request = StreamRequest(str(clip), EBU, window_s=4.0, every_s=1.0, alarm_after_s=3.0, realtime=False)
    else:
        clip = make_faces_clip(tmp_path / "studio.mp4", example_avi,
                               [Tile(1, lambda n: (50, 50), side=168), Tile(2, lambda n: (262, 50), side=168)], 0,
                               seconds=9.0, audio_lead_s=lambda t: np.where(t < 4.0, 0.0, 0.12), size=(480, 270))
        request = StreamRequest(str(clip), EBU, window_s=3.0, every_s=1.0, alarm_after_s=1.0, realtime=False)
    application()  # the app's style sheet, as users see it
    window = app_window("haar")
    live = window.open_stream(request)
    live.resize(1280, 760)
    live.plot.set_span(60.0)
    live.span.setCurrentIndex(0)
    pictures: list[tuple[float, QImage]] = []

    def grab(_update) -> None:  # while the alarm goes on, near the end: the faces flash, keep a bright moment
        if live.light_state == RED and live.frame_shown():
            pictures[:] = pictures[-3:] + [(float(live.viewer.frame.mean()), live.grab().toImage())]

    live.controller.update.connect(grab)  # after the view's own slot: the view shows this update
    with qtbot.waitSignal(live.stopped, timeout=4 * RUN_TIMEOUT_MS):
        pass
    assert pictures, [p.offset_ms for p in live.state.points]
    assert len(live.viewer._boxes) == 2 and sum(box.speaking for box in live.viewer._boxes) == 1
    assert live.state.alarms and abs(live.state.alarms[0].offset_ms - 120) < 30
    picture = max(pictures, key=lambda shot: shot[0])[1]
    FOLDER.mkdir(parents=True, exist_ok=True)
    assert picture.save(str(FOLDER / "11-live-view.png"))
    if docs:
        assert picture.save(str(DOCS_IMAGE))
