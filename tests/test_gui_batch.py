"""The batch panel with pytest-qt: queue a folder, watch rows finish, re-classify, report, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtCore import QThreadPool

from syncdesk.core.options import AnalysisOptions
from syncdesk.gui.batch_panel import BatchPanel
from syncdesk.gui.workers import WorkerPool

from .oracle import make_flash_clip
from .test_gui_screenshots import save

TIMEOUT_MS = 180_000


@pytest.fixture
def panel(qtbot, oracle_weights):
    pool = WorkerPool(QThreadPool())
    widget = BatchPanel(pool, AnalysisOptions(weights=oracle_weights, detector="whole-frame"), workers=1)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.pause()
    assert pool.wait(60_000)


def column(panel: BatchPanel, index: int) -> dict[str, str]:
    return {panel.table.item(row, 0).text(): panel.table.item(row, index).text()
            for row in range(panel.table.rowCount())}


def test_queue_a_folder_and_see_the_rows_finish(qtbot, panel, tmp_path):
    folder = tmp_path / "delivery"
    (folder / "sub").mkdir(parents=True)
    make_flash_clip(folder / "in sync.avi", seconds=4.0)
    make_flash_clip(folder / "sub" / "early 'take'.mkv", seconds=4.0, audio_lead_s=0.12)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    (folder / "notes.txt").write_text("not a video")
    panel.preset.setCurrentIndex(panel.preset.findData("relaxed"))
    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT_MS):
        panel.add([folder])
    status = column(panel, 1)
    assert status == {"in sync.avi": "good", "early 'take'.mkv": "good", "broken.mp4": "error", "notes.txt": "skipped"}
    assert column(panel, 3)["early 'take'.mkv"].startswith("+3")
    assert column(panel, 2)["in sync.avi"] == "100%"
    assert "2 good, 0 poor, 1 errors, 1 skipped" in panel.summary.text()
    panel.resize(900, 260)
    save(panel, "05-batch-queue.png")

    confidence = {name: float(value) for name, value in column(panel, 4).items() if value}
    assert 4.0 <= confidence["in sync.avi"] and confidence["early 'take'.mkv"] < 4.0  # oracle clips of 4 s
    panel.preset.setCurrentIndex(panel.preset.findData("medium"))  # needs 4.0: re-classified, not re-analysed
    assert column(panel, 1)["early 'take'.mkv"] == "poor" and column(panel, 1)["in sync.avi"] == "good"

    report = tmp_path / "report"
    assert panel.export_report(report)
    doc = json.loads((report / "report.json").read_text())
    by_name = {Path(row["path"]).name: row["status"] for row in doc["files"]}
    assert by_name["early 'take'.mkv"] == "poor" and by_name["in sync.avi"] == "good"  # the panel's preset: medium
    assert (report / "report.csv").read_text().count("\n") == 5  # header and one row per file

    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == "in sync.avi")
    with qtbot.waitSignal(panel.open_requested) as opened:
        panel._double_clicked(row, 0)
    assert opened.args[0] == folder / "in sync.avi"

    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT_MS):  # again: nothing left to analyse
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert column(panel, 1)["in sync.avi"] == "good"


def test_cancel_stops_and_forgets_the_unanalysed_jobs(qtbot, panel, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(6):
        make_flash_clip(folder / f"clip {index}.avi", seconds=12.0, seed=index)
    panel.add([folder])
    qtbot.waitUntil(lambda: bool({"good", "poor"} & set(column(panel, 1).values())), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    statuses = list(column(panel, 1).values())
    assert 1 <= len(statuses) < 6 and set(statuses) <= {"good", "poor"}  # finished rows stay, the rest go
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
