"""The main window, driven through its real widgets with pytest-qt (offscreen, test-made weights)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton

from syncdesk.cli import main
from syncdesk.core import analysis  # the module whose analyze analyze_cached calls
from syncdesk.core.options import AnalysisOptions
from syncdesk.gui.app_settings import AppSettings
from syncdesk.gui.main_window import MainWindow, device_description

from .big_clips import make_h264_clip
from .oracle import make_flash_clip
from .test_export import audio_of, measured_shift_ms

ANALYSIS_TIMEOUT_MS = 60_000


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


def open_and_wait(qtbot, window: MainWindow, clip: Path):
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS) as shown:
        window.open_video(clip)
    assert window.video == Path(clip)
    return shown.args[0]


def open_only(qtbot, window: MainWindow, clip: Path) -> None:
    """Open ``clip`` and wait for its first frame (decoded on the player's thread)."""
    with qtbot.waitSignal(window.video_opened, timeout=10_000):
        window.open_video(clip)


def settle(qtbot, window: MainWindow) -> None:
    """Wait until the decoder thread has answered every seek and step asked for."""
    qtbot.waitUntil(lambda: window.player.settled, timeout=10_000)


def decoded_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        times = [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]
    return [t - times[0] for t in times]


def test_open_analyses_in_a_worker_and_draws_a_curve_per_track(qtbot, window, example_avi):
    analysis = open_and_wait(qtbot, window, example_avi)
    assert len(analysis.tracks) == 1
    assert set(window.timeline.curves) == {track.id for track in analysis.tracks}
    x, y = window.timeline.curves[0].getData()
    assert len(x) == 317 and np.nanmax(y) > 0
    assert window.panel.detected.text().startswith(f"{analysis.offset_frames:+d} frame")
    assert window.panel.tracks.rowCount() == 1
    assert window.viewer.frame is not None and window.viewer.frame.shape == (224, 224, 3)
    qtbot.waitUntil(lambda: "Device: CPU" in window.device_label.text())  # found in the pool


@pytest.mark.parametrize(("native", "options", "expected"), [
    (True, AnalysisOptions(device="cpu"), "Device: CPU, bfloat16"),
    (True, AnalysisOptions(device="cpu", exact=True), "Device: CPU"),
    (True, AnalysisOptions(device="cpu", precision="float32"), "Device: CPU"),
    (False, AnalysisOptions(device="cpu"), "Device: CPU"),
    (False, AnalysisOptions(device="cuda"), "Device: --device cuda: no CUDA GPU"),
])
def test_the_status_bar_says_the_device_and_a_cheaper_arithmetic(monkeypatch, native, options, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    text = device_description(options)
    assert text == expected if expected.endswith(("CPU", "bfloat16")) else text.startswith(expected)


def test_every_stage_s_words_fit_the_progress_bar(qtbot, make_window):
    """The status bar's progress bar reads "<stage> <n>%": no stage's words may be cut off."""
    from syncdesk.gui.analysis_controller import STAGES

    window = make_window(styled=True)
    window.progress.show()
    for words in STAGES.values():
        window._analysis_progress(words, 0.45)
        qtbot.waitUntil(lambda: window.progress.isVisible())
        needed = window.progress.fontMetrics().horizontalAdvance(window.progress.text())
        assert needed + 16 <= window.progress.width(), (window.progress.text(), needed, window.progress.width())


def test_the_event_loop_keeps_turning_during_an_analysis(qtbot, window, example_avi):
    import time

    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    analysis = open_and_wait(qtbot, window, example_avi)
    timer.stop()
    seconds = sum(analysis.timings.values())
    assert seconds > 0.5
    gaps = np.diff(ticks)
    print(f"{len(ticks)} ticks in {seconds:.2f} s, longest gap {1000 * gaps.max():.0f} ms")
    assert len(ticks) >= 0.25 * seconds / 0.02  # a quarter of a free loop's ticks, on 2 busy cores
    assert gaps.max() < 0.5  # never frozen for half a second


@pytest.mark.parametrize("width, height", [(1920, 1080), (3840, 2160)])
def test_the_event_loop_keeps_turning_while_scrubbing_and_playing(qtbot, window, tmp_path, width, height):
    import time

    clip = make_h264_clip(tmp_path / f"{height}p.mp4", width, height, seconds=3.0)
    open_only(qtbot, window, clip)
    assert window.viewer.frame.shape == (height, width, 3)
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    shown: list[float] = []
    window.player.frame_shown.connect(lambda frame: shown.append(frame.time_s))

    timer.start(5)
    seeks = 60
    for index in range(seeks):  # a dragged playhead: a seek every 15 ms, 0 -> end -> 0
        phase = 2 * index / (seeks - 1)
        window.player.seek(2.9 * (phase if phase <= 1 else 2 - phase))
        QTest.qWait(15)
    settle(qtbot, window)
    timer.stop()
    scrub_gap = float(np.diff(ticks).max())
    assert window.player.position == 0.0 and 0 < len(shown) < seeks  # stale seeks were skipped

    ticks.clear()
    timer.start(5)
    window.player.play()
    QTest.qWait(1500)
    played = window.player.shown_while_playing
    window.player.pause()
    timer.stop()
    play_gap = float(np.diff(ticks).max())
    print(f"{height}p: longest gap {1000 * scrub_gap:.0f} ms scrubbing, {1000 * play_gap:.0f} ms playing "
          f"({played} frames shown in 1.5 s)")
    assert window.player.position > 0.5 and played >= 10
    assert scrub_gap < 0.05 and play_gap < 0.05


def test_dragging_the_playhead_changes_the_viewer_frame(qtbot, window, tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "flash.avi", seconds=6.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    qtbot.waitUntil(lambda: window.timeline.plot.isVisible())
    plot = window.timeline.plot
    view = plot.getViewBox()
    window.timeline.fit()
    QTest.qWait(50)

    def widget_point(seconds: float) -> QPoint:
        return plot.mapFromScene(view.mapViewToScene(QPointF(seconds, 5.0)))

    start = widget_point(0.0)
    end = widget_point(4.0)
    viewport = plot.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 11):
        QTest.mouseMove(viewport, start + (end - start) * (step / 10))
        QTest.qWait(5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    settle(qtbot, window)
    assert window.player.position == pytest.approx(4.0, abs=0.2)
    assert window.timeline.position() == pytest.approx(window.player.position, abs=1e-6)
    # a drag that ends within the frame on screen (the line moved, then asked for that time): the
    # answer is the same frame, and the playhead snaps back onto its time
    shown = window.player.position
    window.timeline.playhead.setValue(shown + 0.015)
    window.timeline.playhead.sigDragged.emit(window.timeline.playhead)
    settle(qtbot, window)
    assert window.player.position == shown
    assert window.timeline.position() == pytest.approx(shown, abs=1e-6)
    assert window.time_label.text() != "00:00:00:00"
    assert min(abs(t - window.player.position) for t in decoded_times(clip)) < 1e-6  # a real decoded frame
    shown = window.viewer.frame
    with av.open(str(clip)) as container:  # the pixels on screen are that frame's
        for frame in container.decode(video=0):
            if abs(float(frame.pts * frame.time_base) - window.player.position) < 1e-6:
                assert np.array_equal(frame.to_ndarray(format="rgb24"), shown)
                break


def test_clicking_the_timeline_seeks(qtbot, window, tmp_path):
    clip = make_flash_clip(tmp_path / "flash.avi", seconds=6.0)
    open_and_wait(qtbot, window, clip)
    window.timeline.fit()
    QTest.qWait(50)
    view = window.timeline.plot.getViewBox()
    point = window.timeline.plot.mapFromScene(view.mapViewToScene(QPointF(3.0, 5.0)))
    QTest.mouseClick(window.timeline.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    settle(qtbot, window)
    assert window.player.position == pytest.approx(3.0, abs=0.1)
    assert window.viewer.frame is window.player.frame.image


def test_nudges_change_the_offset_shown_and_undo(qtbot, window, tmp_path):
    clip = make_flash_clip(tmp_path / "lead.avi", seconds=6.0, audio_lead_s=0.12)
    analysis = open_and_wait(qtbot, window, clip)
    assert analysis.offset_frames == 3
    panel = window.panel
    assert panel.shift.value() == round(analysis.offset_ms)
    detected = panel.shift.value()
    qtbot.mouseClick(panel.nudge_buttons[40.0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.nudge_buttons[-1.0], Qt.MouseButton.LeftButton)
    assert panel.shift.value() == detected + 39
    assert panel.shift_ms == detected + 39
    assert f"Delay the audio by {detected + 39:g} ms" in panel.shift_words.text()
    assert window.player.shift_ms == detected + 39  # what playback would let the user hear
    window.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.shift.value() == detected + 40
    panel.shift.setValue(-25)
    assert panel.shift_ms == -25 and "Advance the audio by 25 ms" in panel.shift_words.text()
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert panel.shift_ms == detected


def test_apply_writes_a_file_shifted_by_the_nudged_amount(qtbot, window, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "my clip's take.avi", seconds=6.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    panel = window.panel
    qtbot.mouseClick(panel.nudge_buttons[-40.0], Qt.MouseButton.LeftButton)  # detected +120 -> +80 ms
    shift = panel.shift_ms
    suggested = []

    def ask(default: Path) -> Path:
        suggested.append(default)
        return default

    monkeypatch.setattr(window.exporter, "ask_path", ask)
    with qtbot.waitSignal(window.export_finished, timeout=ANALYSIS_TIMEOUT_MS):
        QTest.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert suggested == [clip.with_name("my clip's take.synced.avi")]
    out = suggested[0]
    assert out.is_file() and clip.is_file()
    rate = 16000
    measured = measured_shift_ms(audio_of(clip, rate), audio_of(out, rate), rate)
    assert measured == pytest.approx(shift, abs=1.5)
    assert not window.exporter.dialog.isVisible()


def test_export_never_replaces_the_input(qtbot, window, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=6.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    before = clip.read_bytes()
    monkeypatch.setattr(window.exporter, "ask_path", lambda default: clip)
    window.export()
    assert "never overwrites" in window.last_error
    assert clip.read_bytes() == before and window.exporter.worker is None


def test_cancelling_an_analysis_leaves_the_window_usable(qtbot, window, tmp_path):
    long_clip = make_flash_clip(tmp_path / "long.avi", seconds=40.0)
    window.options.exact = True
    open_only(qtbot, window, long_clip)
    assert window.panel.detected_words.text() == "Analysing long.avi…"
    worker = window.analyser.worker
    assert worker is not None
    with qtbot.waitSignal(worker.signals.cancelled, timeout=ANALYSIS_TIMEOUT_MS):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.analyser.worker is None)
    assert window.analysis is None and "cancelled" in window.statusBar().currentMessage().lower()
    assert window.panel.detected_words.text().startswith("Analysis cancelled")
    assert not window.cancel_button.isVisible()
    window.options.exact = False
    analysis = open_and_wait(qtbot, window, make_flash_clip(tmp_path / "short.avi", seconds=5.0, audio_lead_s=-0.2))
    assert analysis.offset_frames == -5


def test_reopening_an_analysed_file_uses_the_cache(qtbot, window, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=5.0, audio_lead_s=0.12)
    first = open_and_wait(qtbot, window, clip)
    took = first.timings["total"]
    assert window.statusBar().currentMessage() == f"Analysed clip.avi in {took:.1f} s."
    calls = []
    monkeypatch.setattr(analysis, "analyze", lambda *a, **k: calls.append(1))
    second = open_and_wait(qtbot, window, clip)
    assert calls == [] and second.offset_frames == first.offset_frames == 3
    assert window.settings.recent_files()[0] == clip.resolve()
    # not the first analysis's time, as if it had just been measured
    assert window.statusBar().currentMessage().startswith("Loaded clip.avi's analysis from the cache")


def test_bad_files_give_a_message_and_the_window_stays_usable(qtbot, window, tmp_path, example_avi):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with qtbot.waitSignal(window.open_failed, timeout=10_000) as failed:
        window.open_video(broken)
    assert "broken.mp4" in window.last_error and window.video is None
    assert failed.args[0] == window.last_error
    with qtbot.waitSignal(window.open_failed, timeout=10_000):
        window.open_video(tmp_path / "missing.avi")
    assert "no such file" in window.last_error
    silent = make_flash_clip(tmp_path / "silent.mkv", seconds=3.0, audio=False)
    with qtbot.waitSignal(window.analysis_failed, timeout=10_000):
        window.open_video(silent)
    assert window.video == silent and window.viewer.frame is not None
    assert "no sound" in window.last_error.lower() or "no audio" in window.last_error.lower()
    assert window.analyser.worker is None
    analysis = open_and_wait(qtbot, window, example_avi)  # still works afterwards
    with qtbot.waitSignal(window.open_failed, timeout=10_000):
        window.open_video(broken)  # a bad file opened over a good one leaves the good one shown
    assert "broken.mp4" in window.last_error
    assert window.video == example_avi and window.analysis is analysis and window.viewer.frame is not None
    with qtbot.waitSignal(window.player.frame_shown, timeout=10_000) as shown:
        window.player.seek(2.0)
    assert shown.args[0].time_s == pytest.approx(2.0, abs=0.05)  # still the good file's frames


def test_an_analysis_error_is_shown_not_raised(qtbot, window, tmp_path):
    clip = make_flash_clip(tmp_path / "tiny.avi", seconds=0.12)  # shorter than one 5-frame window
    with qtbot.waitSignal(window.analysis_failed, timeout=ANALYSIS_TIMEOUT_MS) as failed:
        window.open_video(clip)
    assert "frames" in failed.args[0] and window.analysis is None
    assert window.last_error == failed.args[0]


@pytest.mark.parametrize("name, options", [("ntsc.mp4", {"fps": Fraction(30000, 1001)}),
                                           ("vfr.mkv", {"vfr": True})])
def test_frame_stepping_shows_every_frame_once(qtbot, window, tmp_path, name, options):
    clip = make_flash_clip(tmp_path / name, seconds=3.0, **options)
    open_and_wait(qtbot, window, clip)
    window.setFocus()
    expected = decoded_times(clip)
    seen = [window.player.position]
    for _ in range(len(expected) + 2):  # two presses past the end change nothing
        QTest.keyClick(window, Qt.Key.Key_Right)
        settle(qtbot, window)
        if window.player.position != seen[-1]:
            seen.append(window.player.position)
    assert seen == pytest.approx(expected, abs=1e-6)
    back = [window.player.position]
    for _ in range(len(expected) + 2):
        QTest.keyClick(window, Qt.Key.Key_Left)
        settle(qtbot, window)
        if window.player.position != back[-1]:
            back.append(window.player.position)
    assert back[::-1] == pytest.approx(expected, abs=1e-6)


def test_keyboard_transport(qtbot, window, tmp_path):
    clip = make_flash_clip(tmp_path / "clip.mkv", seconds=5.0)
    open_and_wait(qtbot, window, clip)
    window.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    settle(qtbot, window)
    assert window.player.position == pytest.approx(1.0, abs=0.041)
    QTest.keyClick(window, Qt.Key.Key_End)
    settle(qtbot, window)
    assert window.player.position == pytest.approx(4.96, abs=0.041)
    QTest.keyClick(window, Qt.Key.Key_Home)
    settle(qtbot, window)
    assert window.player.position == 0.0
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert window.player.rate == 1.0 and window.play_button.text() == "⏸"
    qtbot.waitUntil(lambda: window.player.position > 0.3, timeout=5000)
    QTest.keyClick(window, Qt.Key.Key_L)
    assert window.player.rate == 2.0
    QTest.keyClick(window, Qt.Key.Key_K)
    assert window.player.rate == 0.0 and window.play_button.text() == "▶"
    settle(qtbot, window)
    stopped = window.player.position
    QTest.qWait(150)
    assert window.player.position == stopped
    QTest.keyClick(window, Qt.Key.Key_J)
    assert window.player.rate == -1.0
    qtbot.waitUntil(lambda: window.player.position < stopped, timeout=5000)
    QTest.keyClick(window, Qt.Key.Key_K)


def test_selecting_a_track_row_jumps_to_it(qtbot, window, example_avi):
    open_and_wait(qtbot, window, example_avi)
    window.player.seek(5.0)
    settle(qtbot, window)
    assert window.player.position == pytest.approx(5.0, abs=0.04)
    rect = window.panel.tracks.visualItemRect(window.panel.tracks.item(0, 0))
    qtbot.mouseClick(window.panel.tracks.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    settle(qtbot, window)
    assert window.player.position == 0.0 and window.session.selected == 0


def test_gui_screenshot_command(tmp_path, qapp, oracle_weights, example_avi):
    shot = tmp_path / "window.png"
    code = main(["gui", str(example_avi), "--weights", str(oracle_weights), "--detector", "whole-frame",
                 "--screenshot", str(shot)])
    assert code == 0
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    centre = image.pixelColor(640, 200)  # the picture, not the empty viewer's dark fill
    assert (centre.red(), centre.green(), centre.blue()) != (0x16, 0x18, 0x1B)
    empty = tmp_path / "empty.png"
    assert main(["gui", "--screenshot", str(empty)]) == 0 and QImage(str(empty)).width() == 1280


def test_gui_screenshot_of_a_file_it_cannot_analyse_exits_1_with_the_reason(tmp_path, qapp, oracle_weights, capsys):
    silent = make_flash_clip(tmp_path / "no sound.mkv", seconds=3.0, audio=False)
    shot = tmp_path / "shot.png"
    assert main(["gui", str(silent), "--weights", str(oracle_weights), "--screenshot", str(shot)]) == 1
    error = capsys.readouterr().err
    assert "no audio" in error.lower() or "no sound" in error.lower()
    assert "Traceback" not in error and shot.is_file()  # the window, showing the message, is still pictured


def test_dropping_a_file_opens_it(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    clip = make_flash_clip(tmp_path / "dropped clip.avi", seconds=5.0, audio_lead_s=0.12)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS) as shown:
        window.dropEvent(event)
    assert window.video == clip and shown.args[0].offset_frames == 3


def test_recent_files_menu_reopens_a_file(qtbot, window, tmp_path):
    first = make_flash_clip(tmp_path / "first.avi", seconds=5.0)
    second = make_flash_clip(tmp_path / "second.avi", seconds=5.0)
    open_and_wait(qtbot, window, first)
    open_and_wait(qtbot, window, second)
    window.recent_menu.aboutToShow.emit()
    names = [action.text() for action in window.recent_menu.actions() if action.text()]
    assert names[:2] == ["second.avi", "first.avi"]
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS):
        window.recent_menu.actions()[1].trigger()
    assert window.video == first.resolve()


def test_wheel_zooms_the_timeline_and_fit_shows_all(qtbot, window, tmp_path):
    from PySide6.QtGui import QWheelEvent

    clip = make_flash_clip(tmp_path / "clip.avi", seconds=8.0)
    open_and_wait(qtbot, window, clip)
    plot = window.timeline.plot
    view = plot.getViewBox()
    window.timeline.fit()
    QTest.qWait(20)
    (left, right), (low, high) = view.viewRange()
    centre = plot.mapFromScene(view.mapViewToScene(QPointF(4.0, 5.0)))
    wheel = QWheelEvent(QPointF(centre), QPointF(plot.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 480),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(plot.viewport(), wheel)
    (zl, zr), (zlow, zhigh) = view.viewRange()
    assert zr - zl < 0.7 * (right - left)  # zoomed in on time
    assert (zlow, zhigh) == pytest.approx((low, high))  # confidence axis untouched
    qtbot.mouseClick(window.fit_button, Qt.MouseButton.LeftButton)
    assert view.viewRange()[0] == pytest.approx((left, right), rel=1e-3)


def test_tracks_reach_the_view_before_the_analysis_ends(qtbot, window, example_avi):
    early = []

    def watched(track) -> None:  # connected after the window's own handler: the curve is drawn
        early.append((track.id, window.analysis is None, set(window.timeline.curves)))

    window.session.events.track.connect(watched)
    open_and_wait(qtbot, window, example_avi)
    track_id, still_running, curves = early[0]
    assert track_id == 0 and still_running and curves == {0}  # drawn while the analysis was still running
    assert window.timeline.curves  # and kept once it finished


def test_playing_plays_the_sound_with_the_nudge_applied(qtbot, window, tmp_path, monkeypatch):
    from syncdesk.gui.audio_out import BUFFER_MS

    clip = make_flash_clip(tmp_path / "clip.avi", seconds=5.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    starts = []
    monkeypatch.setattr(window.player.audio, "start", lambda path, start: starts.append((Path(path), start)) or True)
    window.player.seek(2.0)
    settle(qtbot, window)
    window.panel.nudge_by(-40.0)  # detected ~+120 -> ~+80 ms: we hear what was recorded 80 ms earlier
    shift_s = window.panel.shift_ms / 1000
    assert 0.07 < shift_s < 0.09
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert starts[-1][0] == clip
    heard_from = float(starts[-1][1])  # source time of the first sample, which sounds BUFFER_MS from now
    assert heard_from == pytest.approx(2.0 + BUFFER_MS / 1000 - shift_s, abs=1e-3)
    window.panel.nudge_by(40.0)  # a nudge while playing restarts the sound with the new shift
    assert float(starts[-1][1]) == pytest.approx(window.player.position + BUFFER_MS / 1000 - shift_s - 0.040,
                                                 abs=0.05)
    QTest.keyClick(window, Qt.Key.Key_K)


def test_missing_weights_are_explained_not_a_crash(qtbot, tmp_path):
    win = MainWindow(AppSettings(), AnalysisOptions(detector="whole-frame"), interactive=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.analysis_failed, timeout=10_000):
        win.open_video(make_flash_clip(tmp_path / "clip.avi", seconds=3.0))
    assert "weights are missing" in win.statusBar().currentMessage() and "syncdesk models download" in win.last_error
    assert win.analyser.worker is None and win.viewer.frame is not None
    win.close()


def test_cancelling_an_export_leaves_no_file(qtbot, window, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=20.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    target = tmp_path / "out.avi"
    monkeypatch.setattr(window.exporter, "ask_path", lambda default: target)
    window.export()
    worker = window.exporter.worker
    with qtbot.waitSignal(worker.signals.cancelled, timeout=ANALYSIS_TIMEOUT_MS):
        qtbot.mouseClick(window.exporter.dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)  # its Cancel
    qtbot.waitUntil(lambda: window.exporter.worker is None)
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]
    assert "nothing was written" in window.statusBar().currentMessage()
    assert window.export_action.isEnabled()  # ready for another try


def test_the_speaker_lane_shows_who_speaks(qtbot, window, tmp_path):
    import pyqtgraph as pg

    analysis = open_and_wait(qtbot, window, make_flash_clip(tmp_path / "clip.avi", seconds=8.0, audio_lead_s=0.12))
    speaking = sum(speaker is not None for speaker in analysis.active_speaker)
    assert 0 < speaking < len(analysis.active_speaker)
    [lane] = [item for item in window.timeline._items if isinstance(item, pg.BarGraphItem)]
    widths = lane.opts["width"]
    assert sum(widths) == pytest.approx(speaking / 25, abs=1e-6)  # one bar per speaking run, in seconds
    (_, _), (low, high) = window.timeline.plot.getViewBox().viewRange()
    assert lane.opts["height"] > 0.08 * (high - low)  # visible whatever the curves' scale


def test_opening_another_file_during_an_analysis_shows_only_the_new_one(qtbot, window, tmp_path):
    slow = make_flash_clip(tmp_path / "slow.avi", seconds=40.0, audio_lead_s=0.12)
    quick = make_flash_clip(tmp_path / "quick.avi", seconds=5.0, audio_lead_s=-0.2)
    window.options.exact = True
    shown = []
    window.analysis_shown.connect(lambda analysis: shown.append(Path(analysis.source.path).name))
    open_only(qtbot, window, slow)
    first = window.analyser.worker
    assert first is not None
    window.options.exact = False
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS) as result:
        window.open_video(quick)
    assert result.args[0].offset_frames == -5 and window.video == quick
    qtbot.waitUntil(lambda: first not in window.pool.running(), timeout=ANALYSIS_TIMEOUT_MS)
    QTest.qWait(100)
    assert shown == ["quick.avi"] and window.analysis.source.path == str(quick)
    assert set(window.timeline.curves) == {0} and window.panel.tracks.rowCount() == 1


def test_analyse_again_bypasses_the_cache_and_refreshes_it(qtbot, window, tmp_path, monkeypatch):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=5.0, audio_lead_s=0.12)
    open_and_wait(qtbot, window, clip)
    real, calls = analysis.analyze, []
    monkeypatch.setattr(analysis, "analyze", lambda *a, **k: calls.append(1) or real(*a, **k))
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS) as shown:
        QTest.keyClick(window, Qt.Key.Key_F5)
    assert calls == [1] and shown.args[0].offset_frames == 3
    open_and_wait(qtbot, window, clip)  # and the fresh result is what the cache now gives
    assert calls == [1]


def test_the_batch_dock_takes_its_room_from_the_picture_not_the_lanes(qtbot, make_window, tmp_path):
    from syncdesk.gui.main_window import LANES_MIN_PX

    window = make_window(size=(1280, 800))  # the app's default size
    open_and_wait(qtbot, window, make_flash_clip(tmp_path / "clip.avi", seconds=12.0))
    window.batch_dock.show()
    qtbot.waitUntil(lambda: window.batch_dock.height() > 100)
    assert window.timeline.height() >= LANES_MIN_PX
    assert window.timeline.offset_plot.isVisible() and window.timeline.offset_plot.height() >= 40
    assert window.timeline.plot.height() >= 60  # the confidence curves and their ruler
