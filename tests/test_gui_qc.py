"""The app's side of broadcast QC: the tolerance chooser and its traffic light, the batch panel's
tolerance column, and File ▸ Export QC report… / Export markers… (run in a worker).

The writers are faked where the test is about what the app hands them (the path, the tolerance,
the consent to overwrite); the last tests run the real ones when they are in the tree.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path
from typing import Callable

import pytest
from PySide6.QtCore import Qt

from syncdesk.core import DEFAULT_TOLERANCE, TOLERANCES, SyncdeskError, Tolerance
from syncdesk.gui import qc_controller
from syncdesk.gui.main_window import MainWindow

from .oracle import make_flash_clip
from .test_gui_over_time import document
from .test_gui_screenshots import save

ANALYSIS_TIMEOUT_MS = 60_000
BATCH_TIMEOUT_MS = 180_000
WRITE_TIMEOUT_MS = 60_000


def choose(window: MainWindow, name: str) -> None:
    """Pick ``name`` in the offset panel's tolerance list, as a user would."""
    combo = window.panel.tolerance
    combo.setCurrentIndex(combo.findData(name))


def enter_custom(qtbot, window: MainWindow, text: str) -> None:
    choose(window, "custom")
    edit = window.panel.custom_tolerance
    assert edit.isVisible()
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def light(window: MainWindow) -> tuple[str, str]:
    return window.panel.verdict.property("verdict"), window.panel.verdict.text()


@pytest.fixture
def early_clip(tmp_path) -> Path:
    """Audio 160 ms (4 frames) early: outside EBU R37 (+40), inside a custom 200/200."""
    return make_flash_clip(tmp_path / "early.avi", seconds=6.0, audio_lead_s=0.16)


@pytest.fixture
def analysed(qtbot, make_window, early_clip) -> MainWindow:
    window = make_window()
    with qtbot.waitSignal(window.analysis_shown, timeout=ANALYSIS_TIMEOUT_MS) as shown:
        window.open_video(early_clip)
    assert shown.args[0].offset_frames == 4
    return window


@pytest.fixture
def shown(make_window, monkeypatch, tmp_path) -> MainWindow:
    """A window showing a hand-made analysis (+80 ms, confident): no SyncNet run needed."""
    window = make_window()
    monkeypatch.setattr(window, "start_analysis", lambda use_cache=True: None)
    clip = tmp_path / "take 1.mov"
    clip.write_bytes(b"not read")
    window.session.set_file(clip, None)
    window.session.set_analysis(document(clip, 6.0, None, offset_ms=80.0))
    return window


# ------------------------------------------------------------- traffic light
def test_the_traffic_light_follows_the_chosen_tolerance_and_it_is_remembered(qtbot, analysed, make_window):
    window = analysed
    assert window.panel.tolerance.currentData() == "" and window.session.tolerance is None  # none by default
    preset_light = light(window)
    assert "EBU" not in preset_light[1]

    choose(window, "ebu-r37")
    state, text = light(window)
    assert state == "poor" and "EBU R37 allows 40" in text and " ms early" in text
    assert not window.panel.custom_tolerance.isVisible()

    enter_custom(qtbot, window, "200/200")
    state, text = light(window)
    assert state == "good" and text.startswith("● within custom tolerance (+200/-200 ms)")
    assert not window.panel.tolerance_error.isVisible()

    enter_custom(qtbot, window, "lots/late")  # refused: said why, the tolerance in use stays
    error = window.panel.tolerance_error
    assert error.isVisible() and "not a tolerance" in error.text()
    assert window.session.tolerance == Tolerance("custom", 200.0, 200.0) and light(window)[0] == "good"
    qtbot.keyClick(window.panel.custom_tolerance, Qt.Key.Key_Backspace)  # editing clears the complaint
    assert not error.isVisible()

    again = make_window()  # a new window (and a new start of the app) remembers the choice
    assert again.session.tolerance == Tolerance("custom", 200.0, 200.0)
    assert again.panel.tolerance.currentData() == "custom" and again.panel.custom_tolerance.text() == "200/200"
    assert again.batch.tolerance == again.session.tolerance

    choose(window, "")  # none: the preset's light and words, as before tolerances
    assert light(window) == preset_light and window.settings.tolerance() is None


def test_an_unknown_verdict_is_grey(qtbot, shown):
    analysis = shown.analysis
    analysis.verdict_source = "no-confident-speaker"  # nothing confident to judge
    shown.session.set_analysis(None)
    shown.session.set_analysis(analysis)
    choose(shown, "atsc-is191")
    state, text = light(shown)
    assert state == "none" and "unknown" in text and "ATSC IS-191" in text


def test_a_capped_verdict_says_so_as_the_command_line_does(qtbot, shown):
    analysis = shown.analysis
    analysis.tier_cap = "low"  # e.g. a 1.8 s clip: too little evidence for "high", whatever the number
    shown.session.set_analysis(None)
    shown.session.set_analysis(analysis)
    assert "(low confidence, capped: see the notes)" in light(shown)[1]


def test_a_tolerance_given_on_the_command_line_is_used_but_not_saved(qtbot, oracle_weights):
    from syncdesk.core.options import AnalysisOptions
    from syncdesk.gui.app_settings import AppSettings

    settings = AppSettings()
    window = MainWindow(settings, AnalysisOptions(weights=oracle_weights), interactive=False,
                        tolerance=TOLERANCES["itu-bt1359"])
    qtbot.addWidget(window)
    assert window.panel.tolerance.currentData() == "itu-bt1359" and window.batch.tolerance.name == "itu-bt1359"
    assert settings.tolerance() is None


def test_a_hand_edited_setting_falls_back_to_none(qtbot, make_window):
    from syncdesk.gui.app_settings import AppSettings

    AppSettings()._set("qc/tolerance", "forty/sixty")
    assert make_window().session.tolerance is None


# ------------------------------------------------------------------- batch
def column(window: MainWindow, index: int) -> dict[str, str]:
    table = window.batch.table
    return {table.item(row, 0).text(): table.item(row, index).text() for row in range(table.rowCount())}


def test_the_batch_panel_judges_against_the_chosen_tolerance(qtbot, make_window, tmp_path):
    from syncdesk.gui.batch_panel import TOLERANCE_COLUMN

    window = make_window()
    window.batch.workers = 1
    folder = tmp_path / "delivery"
    folder.mkdir()
    make_flash_clip(folder / "in sync.avi", seconds=6.0)
    make_flash_clip(folder / "early.avi", seconds=6.0, audio_lead_s=0.16)
    table = window.batch.table
    assert table.isColumnHidden(TOLERANCE_COLUMN)  # none chosen: the preset's columns only
    choose(window, "ebu-r37")
    assert not table.isColumnHidden(TOLERANCE_COLUMN)
    with qtbot.waitSignal(window.batch.finished, timeout=BATCH_TIMEOUT_MS):
        window.batch.add([folder])
    judged = column(window, TOLERANCE_COLUMN)
    assert re.fullmatch(r"within \([+-]\d ms\)", judged["in sync.avi"])
    assert re.fullmatch(r"outside \(\+1[56]\d ms\)", judged["early.avi"])  # the sub-frame estimate of 160
    assert "1 outside EBU R37" in window.batch.summary.text()
    window.batch.resize(900, 200)
    save(window.batch, "07-batch-tolerance.png")

    report = tmp_path / "report"
    assert window.batch.export_report(report)
    doc = json.loads((report / "report.json").read_text())
    assert doc["tolerance"] == {"name": "ebu-r37", "lead_ms": 40.0, "lag_ms": 60.0}
    assert {Path(row["path"]).name: row["tolerance"] for row in doc["files"]} == {"in sync.avi": "within",
                                                                                  "early.avi": "outside"}

    enter_custom(qtbot, window, "200/200")  # re-judged from the stored results, nothing analysed again
    assert column(window, TOLERANCE_COLUMN)["early.avi"].startswith("within (+1")
    choose(window, "")
    assert table.isColumnHidden(TOLERANCE_COLUMN)


# ----------------------------------------------------------------- exports
class FakeWriters:
    """``core.report`` and ``core.markers`` stand-ins that record each call and write a small file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, Path, Tolerance, bool]] = []
        self.error = error
        for module, name in (("syncdesk.core.report", "write_report"), ("syncdesk.core.markers", "write_markers")):
            fake = types.ModuleType(module)
            setattr(fake, name, self._writer(name))
            monkeypatch.setitem(sys.modules, module, fake)

    def _writer(self, name: str) -> Callable[..., object]:
        def write(analysis, path, tolerance, *, overwrite=False):
            if self.error is not None:
                raise self.error
            self.calls.append((name, Path(path), tolerance, overwrite))
            Path(path).write_text(f"{name} {analysis.offset_ms}")
            return path if name == "write_report" else ["marker one", "marker two"]

        return write


class SaveDialog:
    """``QFileDialog.getSaveFileName`` answering ``answer`` (and the type picked), keeping what it was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answer: Path | str, selected: str = "") -> None:
        self.answer, self.selected = str(answer), selected
        self.asked: list[tuple[str, str, str]] = []
        monkeypatch.setattr(qc_controller.QFileDialog, "getSaveFileName", self)

    def __call__(self, _parent, title: str, suggested: str, filters: str) -> tuple[str, str]:
        self.asked.append((title, suggested, filters))
        return self.answer, self.selected


def export(qtbot, window: MainWindow, action_name: str) -> None:
    action = getattr(window, action_name)
    assert action.isEnabled()
    action.trigger()
    assert window.qc.running and not action.isEnabled()  # written in a worker, one at a time
    qtbot.waitUntil(lambda: not window.qc.running, timeout=WRITE_TIMEOUT_MS)


def test_the_export_actions_wait_for_an_analysis(make_window):
    window = make_window()
    assert not window.qc_report_action.isEnabled() and not window.markers_action.isEnabled()
    titles = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    assert "Export &QC report…" in titles and "Export &markers…" in titles


def test_the_qc_report_goes_where_asked_judged_against_the_chosen_tolerance(qtbot, shown, tmp_path, monkeypatch):
    writers = FakeWriters(monkeypatch)
    target = tmp_path / "out" / "take 1 qc.pdf"
    target.parent.mkdir()
    dialog = SaveDialog(monkeypatch, target)
    choose(shown, "atsc-is191")
    export(qtbot, shown, "qc_report_action")
    assert writers.calls == [("write_report", target, TOLERANCES["atsc-is191"], False)]
    title, suggested, filters = dialog.asked[0]
    assert "ATSC IS-191" in title and "default" not in title
    assert suggested == str(tmp_path / "take 1.qc.pdf") and filters == "PDF report (*.pdf);;HTML report (*.html)"
    message = shown.statusBar().currentMessage()
    assert str(target) in message and "ATSC IS-191" in message
    assert target.read_text() == "write_report 80.0"


def test_markers_without_a_tolerance_use_the_default_and_say_so(qtbot, shown, tmp_path, monkeypatch):
    writers = FakeWriters(monkeypatch)
    target = tmp_path / "take 1.edl"
    dialog = SaveDialog(monkeypatch, target)
    export(qtbot, shown, "markers_action")
    assert writers.calls == [("write_markers", target, TOLERANCES[DEFAULT_TOLERANCE], False)]
    title = dialog.asked[0][0]
    assert "EBU R37" in title and "the default" in title
    assert ".fcpxml" in dialog.asked[0][2] and ".otio" in dialog.asked[0][2] and ".csv" in dialog.asked[0][2]
    message = shown.statusBar().currentMessage()
    assert f"Wrote 2 markers to {target}" in message and "the default" in message


def test_an_existing_file_is_replaced_only_with_the_dialogs_consent(qtbot, shown, tmp_path, monkeypatch):
    writers = FakeWriters(monkeypatch)
    existing = tmp_path / "qc.html"
    existing.write_text("old")
    SaveDialog(monkeypatch, existing)  # the save dialog asked "replace it?" and the user said yes
    export(qtbot, shown, "qc_report_action")
    assert writers.calls[-1][1:] == (existing, TOLERANCES[DEFAULT_TOLERANCE], True)

    SaveDialog(monkeypatch, tmp_path / "typed", "HTML report (*.html)")  # typed without a suffix: the type's
    export(qtbot, shown, "qc_report_action")
    assert writers.calls[-1][1:] == (tmp_path / "typed.html", TOLERANCES[DEFAULT_TOLERANCE], False)

    shown.qc_report_action.trigger()  # typed.html now exists, and the dialog never asked about replacing it
    assert len(writers.calls) == 2 and shown.qc.worker is None
    assert "typed.html exists" in shown.last_error and shown._dialog.objectName() == "error_dialog"


def test_a_name_of_another_type_is_refused_before_any_writing(qtbot, shown, tmp_path, monkeypatch):
    writers = FakeWriters(monkeypatch)
    SaveDialog(monkeypatch, tmp_path / "take 1.mov")
    shown.markers_action.trigger()
    assert writers.calls == [] and shown.qc.worker is None
    assert ".edl" in shown.last_error and shown._dialog.objectName() == "error_dialog"


@pytest.mark.parametrize("error", [SyncdeskError("qc.pdf exists: pass overwrite"), RuntimeError("disk on fire")])
def test_a_writer_error_becomes_a_dialog(qtbot, shown, tmp_path, monkeypatch, error):
    FakeWriters(monkeypatch, error)
    SaveDialog(monkeypatch, tmp_path / "qc.pdf")
    export(qtbot, shown, "qc_report_action")
    dialog = shown._dialog
    assert dialog is not None and dialog.objectName() == "error_dialog"
    assert dialog.windowTitle() == "Cannot write the QC report" and str(error) in dialog.text()
    assert "Traceback" not in shown.last_error
    assert shown.qc_report_action.isEnabled() and not shown.qc.dialog.isVisible()


# ------------------------------------------------------------- real writers
def _landed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _landed("syncdesk.core.report"), reason="core.report is not in the tree yet")
@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_a_real_qc_report_is_written(qtbot, analysed, tmp_path, monkeypatch, suffix):
    target = tmp_path / f"early qc{suffix}"
    SaveDialog(monkeypatch, target)
    choose(analysed, "ebu-r37")
    with qtbot.waitSignal(analysed.qc_written, timeout=WRITE_TIMEOUT_MS) as written:
        analysed.qc_report_action.trigger()
    assert written.args[0] == target and target.stat().st_size > 0
    if suffix == ".html":
        assert "EBU R37" in target.read_text(encoding="utf-8")


@pytest.mark.skipif(not _landed("syncdesk.core.markers"), reason="core.markers is not in the tree yet")
def test_real_markers_are_written(qtbot, analysed, tmp_path, monkeypatch):
    target = tmp_path / "early markers.csv"
    SaveDialog(monkeypatch, target)
    choose(analysed, "ebu-r37")
    with qtbot.waitSignal(analysed.qc_written, timeout=WRITE_TIMEOUT_MS) as written:
        analysed.markers_action.trigger()
    assert written.args[0] == target and target.stat().st_size > 0
    assert "marker" in analysed.statusBar().currentMessage() and "EBU R37" in analysed.statusBar().currentMessage()


def test_gui_takes_a_tolerance_on_the_command_line(tmp_path, qapp, capsys):
    from syncdesk.cli import main
    from syncdesk.gui.app_settings import AppSettings

    assert main(["gui", "--tolerance", "20/30", "--screenshot", str(tmp_path / "shot.png")]) == 0
    assert AppSettings().tolerance() is None  # this session only
    with pytest.raises(SystemExit) as refused:
        main(["gui", "--tolerance", "forty", "--screenshot", str(tmp_path / "bad.png")])
    assert refused.value.code == 2
    assert "not a tolerance" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()
