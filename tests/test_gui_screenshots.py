"""Pictures of the app's main states, saved for people to look at (CI keeps them as artifacts).

They go to ``artifacts/screenshots/`` in the checkout (README: "Screenshots"), or to
``$SYNCDESK_SCREENSHOTS``. The assertions check that each picture shows what it should.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from syncdesk.gui.app import SCREENSHOT_SIZE
from syncdesk.gui.main_window import MainWindow

from .face_clips import Tile, make_faces_clip
from .test_face_pipeline import LEFT, RIGHT

FOLDER = Path(os.environ.get("SYNCDESK_SCREENSHOTS", Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"))
VIEWER_FILL = (0x16, 0x18, 0x1B)


@pytest.fixture
def window(make_window):
    return make_window("haar", SCREENSHOT_SIZE, styled=True)  # the app's style sheet and icon, as users see it


def save(widget, name: str) -> QImage:
    FOLDER.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
    assert image.save(str(FOLDER / name))
    return image


def viewer_centre(window: MainWindow, image: QImage) -> tuple[int, int, int]:
    centre = window.viewer.mapTo(window, window.viewer.rect().center())
    colour = image.pixelColor(centre.x(), centre.y())
    return colour.red(), colour.green(), colour.blue()


def test_screenshots_of_the_main_states(qtbot, window, tmp_path, example_avi, monkeypatch):
    empty = save(window, "01-empty-window.png")
    assert (empty.width(), empty.height()) == SCREENSHOT_SIZE
    assert viewer_centre(window, empty) == VIEWER_FILL  # nothing loaded

    clip = make_faces_clip(tmp_path / "interview two faces.mp4", example_avi,
                           [Tile(1, lambda n: LEFT), Tile(2, lambda n: RIGHT)], 0, seconds=10, audio_lead_s=0.12)
    with qtbot.waitSignal(window.analysis_shown, timeout=120_000) as shown:
        window.open_video(clip)
    analysis = shown.args[0]
    assert len(analysis.tracks) == 2 and analysis.offset_frames == 3
    def shown_at(seconds: float):
        window.player.seek(seconds)
        qtbot.waitUntil(lambda: window.player.settled, timeout=10_000)  # decoded on the player's thread
        return window.viewer.frame

    brightest = max((float(shown_at(t / 5).mean()), t / 5) for t in range(15, 30))
    shown_at(brightest[1])  # the tiles flash (oracle clip): picture a bright moment
    analysed = save(window, "02-analysed-two-faces.png")
    assert viewer_centre(window, analysed) != VIEWER_FILL  # the picture
    assert len(window.viewer._boxes) == 2 and sum(box.speaking for box in window.viewer._boxes) == 1

    window.panel.tolerance.setCurrentIndex(window.panel.tolerance.findData("ebu-r37"))  # 120 ms early: outside
    save(window.panel, "06-tolerance-verdict.png")
    assert window.panel.verdict.property("verdict") == "poor" and "EBU R37 allows 40" in window.panel.verdict.text()

    monkeypatch.setattr(window.exporter, "ask_path", lambda default: default)
    pictures = {}

    def grab_progress(_stage: str, _fraction: float) -> None:
        if "progress" not in pictures and window.exporter.dialog.isVisible():
            pictures["progress"] = save(window.exporter.dialog, "03-export-progress.png")

    with qtbot.waitSignal(window.export_finished, timeout=60_000):
        window.export()
        window.exporter.worker.signals.progress.connect(grab_progress)
    done = save(window._dialog, "04-export-done.png")
    assert window._dialog.objectName() == "export_done" and done.width() > 200
    assert clip.with_name("interview two faces.synced.mp4").is_file()
