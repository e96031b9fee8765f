"""App settings, the settings dialog and the first-run weights dialog, driven through real widgets."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import random
import socket
from pathlib import Path
from typing import Iterator, Optional

import pytest
import torch
from filelock import FileLock
from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDockWidget, QLabel, QMainWindow

from syncdesk import core
from syncdesk.core import settings
from syncdesk.core.cache import AnalysisCache
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.models import download, weights
from syncdesk.gui import weights_dialog
from syncdesk.gui.app_settings import MAX_RECENT, AppSettings
from syncdesk.gui.settings_dialog import SettingsDialog
from syncdesk.gui.weights_dialog import WeightsDialog
from syncdesk.gui.workers import WorkerPool

from .http_fake import FakeServer
from .test_cache import fill_cache

PAYLOAD = random.Random(20240602).randbytes(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
S3FD_PAYLOAD = random.Random(20240603).randbytes(400_000)


# --------------------------------------------------------------------------- AppSettings


def _files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip{i}.mp4" for i in range(count)]
    for path in paths:
        path.write_bytes(b"x")
    return paths


def test_settings_file_lives_in_the_data_dir(_private_data_dir: Path) -> None:
    app = AppSettings()
    app.set_models_folder(_private_data_dir)
    assert app.path == settings.data_dir() / "syncdesk.ini" and app.path.is_file()


def test_recent_files_order_dedupe_limit_and_missing(tmp_path: Path) -> None:
    app = AppSettings()
    assert app.recent_files() == []
    clips = _files(tmp_path / "clips", MAX_RECENT + 2)
    for clip in clips:
        app.add_recent(clip)
    assert app.recent_files() == [c.resolve() for c in reversed(clips)][:MAX_RECENT]

    app.add_recent(tmp_path / "clips" / ".." / "clips" / clips[5].name)  # another spelling
    recent = app.recent_files()
    assert recent[0] == clips[5].resolve() and len(recent) == MAX_RECENT
    assert recent.count(clips[5].resolve()) == 1

    clips[11].unlink()
    assert clips[11].resolve() not in app.recent_files()
    assert AppSettings().recent_files() == app.recent_files()  # a new instance reads the same
    app.clear_recent()
    assert AppSettings().recent_files() == []


def test_one_recent_file_round_trips(tmp_path: Path) -> None:
    """QSettings gives a one-item list back as a bare string."""
    (clip,) = _files(tmp_path, 1)
    AppSettings().add_recent(clip)
    assert AppSettings().recent_files() == [clip.resolve()]


def test_options_round_trip_through_a_new_instance(tmp_path: Path) -> None:
    chosen = tmp_path / "mine.model"
    chosen.write_bytes(b"w")
    wanted = AnalysisOptions(weights=chosen, device="cpu", detector="haar", vshift=7, min_track=50,
                             min_face_size=40, exact=True, precision="float32")
    AppSettings().set_options(wanted)
    assert AppSettings().options() == dataclasses.replace(wanted, weights=chosen.resolve())

    AppSettings().set_options(AnalysisOptions())
    assert AppSettings().options() == AnalysisOptions()


def test_bad_values_fall_back_to_defaults() -> None:
    """A hand-edited or stale INI file falls back to the defaults."""
    ini = QSettings(str(AppSettings().path), QSettings.Format.IniFormat)
    for key, value in [("device", "tpu"), ("detector", "nope"), ("vshift", "abc"), ("min_track", 2),
                       ("min_face_size", -4), ("exact", "maybe"), ("weights", "/no/such/file"),
                       ("precision", "half")]:
        ini.setValue(f"analysis/{key}", value)
    ini.sync()
    assert AppSettings().options() == AnalysisOptions()


def test_models_folder_gives_the_syncnet_file(tmp_path: Path) -> None:
    app = AppSettings()
    assert app.models_folder() is None and app.syncnet_weights() is None
    app.set_models_folder(tmp_path)
    assert AppSettings().models_folder() == tmp_path
    assert app.syncnet_weights() is None  # no file there: the manager's copy is used
    (tmp_path / "syncnet_v2.model").write_bytes(b"w")
    assert app.syncnet_weights() == tmp_path / "syncnet_v2.model"
    assert app.options().weights == tmp_path / "syncnet_v2.model"
    app.set_options(app.options())  # the folder's file is not pinned as a chosen file
    app.set_models_folder(None)
    assert AppSettings().models_folder() is None and AppSettings().options().weights is None


def test_window_layout_is_restored(qtbot) -> None:
    def window() -> QMainWindow:
        win = QMainWindow()
        win.setObjectName("main")
        dock = QDockWidget("Offsets", win)
        dock.setObjectName("offsets")
        win.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        qtbot.addWidget(win)
        return win

    assert AppSettings().restore_window(window()) is False
    first = window()
    first.resize(700, 450)
    first.findChild(QDockWidget).hide()
    first.show()
    AppSettings().save_window(first)

    second = window()
    assert AppSettings().restore_window(second) is True
    second.show()
    assert second.size() == first.size()
    assert second.findChild(QDockWidget).isHidden()


# --------------------------------------------------------------------------- SettingsDialog


def _dialog(qtbot, options: AnalysisOptions, folder: Optional[Path] = None) -> SettingsDialog:
    dialog = SettingsDialog(options, folder)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _click(qtbot, dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> None:
    qtbot.mouseClick(dialog.buttons.button(which), Qt.MouseButton.LeftButton)


def test_settings_dialog_edits_the_options(qtbot, tmp_path: Path) -> None:
    given = AnalysisOptions(save_dists=True)
    dialog = _dialog(qtbot, given)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.detector.setCurrentIndex(dialog.detector.findData("whole-frame"))
    dialog.vshift.setValue(9)
    dialog.min_face_size.setValue(64)
    dialog.min_track.setValue(30)
    assert dialog.precision.isEnabled()
    dialog.precision.setCurrentIndex(dialog.precision.findData("bfloat16"))
    qtbot.mouseClick(dialog.exact, Qt.MouseButton.LeftButton)
    assert not dialog.precision.isEnabled()  # exact mode is always float32
    qtbot.keyClicks(dialog.models_folder_edit, str(tmp_path))
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)

    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    assert dialog.options() == AnalysisOptions(device="cpu", detector="whole-frame", vshift=9, min_face_size=64,
                                               min_track=30, exact=True, precision="bfloat16", save_dists=True)
    assert dialog.models_folder() == tmp_path
    assert given == AnalysisOptions(save_dists=True)  # the input object is untouched


def test_settings_dialog_cancel_changes_nothing(qtbot) -> None:
    given = AnalysisOptions(device="cpu", vshift=20, exact=True)
    before = copy.deepcopy(given)
    dialog = _dialog(qtbot, given)
    dialog.vshift.setValue(3)
    dialog.detector.setCurrentIndex(dialog.detector.findData("haar"))
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert given == before


def test_settings_dialog_restore_defaults(qtbot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, AnalysisOptions(device="cpu", detector="haar", vshift=3, min_track=20,
                                            min_face_size=10, exact=True, precision="float32"), tmp_path)
    assert not dialog.precision.isEnabled()
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.RestoreDefaults)
    assert dialog.precision.isEnabled()
    assert dialog.isVisible()  # restoring is not closing
    assert dialog.options() == AnalysisOptions()
    assert dialog.models_folder() is None


def test_settings_dialog_shows_and_clears_the_cache(qtbot, tmp_path: Path) -> None:
    cache = fill_cache(tmp_path, 2)
    stray = cache.root / "notes.txt"
    stray.write_text("mine", encoding="utf-8")
    dialog = SettingsDialog(AnalysisOptions(), None, cache=cache)
    qtbot.addWidget(dialog)
    dialog.show()
    size_mb = cache.info().size / 1e6
    qtbot.waitUntil(lambda: dialog.cache_status.text() == f"{size_mb:.1f} MB in 2 analyses", timeout=5000)
    assert dialog.cache_limit.value() == 500 and dialog.clear_cache_button.isEnabled()
    qtbot.mouseClick(dialog.clear_cache_button, Qt.MouseButton.LeftButton)
    assert not dialog.clear_cache_button.isEnabled()  # while the worker clears
    qtbot.waitUntil(lambda: dialog.cache_status.text() == "0.0 MB in 0 analyses", timeout=5000)
    assert cache.info().entries == 0 and stray.exists()  # entries only
    assert not dialog.clear_cache_button.isEnabled()


def test_settings_dialog_saves_the_cache_limit_on_ok_only(qtbot, tmp_path: Path) -> None:
    cache = fill_cache(tmp_path, 3)
    dialog = SettingsDialog(AnalysisOptions(), None, cache=cache)
    qtbot.addWidget(dialog)
    dialog.cache_limit.setValue(7)
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)
    assert AnalysisCache(cache.root).max_bytes == 500_000_000 and cache.info().entries == 3

    dialog = SettingsDialog(AnalysisOptions(), None, cache=cache)
    qtbot.addWidget(dialog)
    dialog.cache_limit.setValue(0)  # 0 MB: keep nothing
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert AnalysisCache(cache.root).max_bytes == 0
    qtbot.waitUntil(lambda: cache.info().entries == 0, timeout=5000)  # pruned at once, in a worker

    dialog = SettingsDialog(AnalysisOptions(), None, cache=cache)
    qtbot.addWidget(dialog)
    assert dialog.cache_limit.value() == 0
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.RestoreDefaults)
    assert dialog.cache_limit.value() == 500


def test_settings_dialog_lists_devices_and_detectors(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "DETECTORS", (*core.DETECTORS, "newnet"))
    dialog = _dialog(qtbot, AnalysisOptions())
    detectors = [dialog.detector.itemData(i) for i in range(dialog.detector.count())]
    assert detectors == list(core.DETECTORS)  # read when the dialog is made

    items = dialog.device.model()
    enabled = {dialog.device.itemData(i): items.item(i).isEnabled() for i in range(dialog.device.count())}
    assert enabled == {"auto": True, "cpu": True, "cuda": torch.cuda.is_available(),
                       "mps": torch.backends.mps.is_available()}
    auto_uses = "CUDA" if torch.cuda.is_available() else "MPS" if torch.backends.mps.is_available() else "CPU"
    assert auto_uses in dialog.device.itemText(dialog.device.findData("auto"))


def test_settings_dialog_model_folder(qtbot, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "syncnet_v2.model").write_bytes(b"w")
    dialog = _dialog(qtbot, AnalysisOptions(weights=old / "syncnet_v2.model"), old)
    assert "Uses syncnet_v2.model" in dialog.folder_status.text()

    dialog.models_folder_edit.setText(str(tmp_path / "missing"))
    assert "does not exist" in dialog.folder_status.text()
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert dialog.isVisible() and dialog.error.isVisible()  # a folder that is not there is refused

    new = tmp_path / "new"
    new.mkdir()
    dialog.models_folder_edit.setText(str(new))
    assert dialog.options().weights is None  # the old folder's file is dropped
    (new / "syncnet_v2.model").write_bytes(b"w")
    assert dialog.options().weights == new / "syncnet_v2.model"
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.models_folder() == new


# --------------------------------------------------------------------------- WeightsDialog


@pytest.fixture
def s3fd_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """S3FD's local server (the dialog fetches it after SyncNet), the spec expecting its payload."""
    srv = FakeServer(S3FD_PAYLOAD, "sfd_face.pth").start()
    monkeypatch.setenv("SYNCDESK_MODEL_URL_S3FD", srv.url)
    monkeypatch.setitem(weights.MODELS, "s3fd", dataclasses.replace(
        weights.MODELS["s3fd"], sha256=hashlib.sha256(S3FD_PAYLOAD).hexdigest()))
    yield srv
    srv.stop()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, s3fd_server: FakeServer) -> Iterator[FakeServer]:
    """A local server the manager downloads SyncNet from, with the spec expecting its payload's
    sha256 (and ``s3fd_server`` for S3FD)."""
    srv = FakeServer(PAYLOAD).start()
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", srv.url)
    monkeypatch.setitem(weights.MODELS, "syncnet",
                        dataclasses.replace(weights.MODELS["syncnet"], sha256=PAYLOAD_SHA))
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    yield srv
    srv.stop()


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(QThreadPool())
    yield workers
    workers.cancel_all()
    assert workers.wait(10_000)


def _weights_dialog(qtbot, pool: WorkerPool) -> WeightsDialog:
    dialog = WeightsDialog(pool)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _press(qtbot, dialog: WeightsDialog, name: str) -> None:
    button = getattr(dialog, f"{name}_button")
    assert button.isVisible() and button.isEnabled(), name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_needed() -> None:
    assert WeightsDialog.needed(None)
    assert WeightsDialog.needed(Path("/no/such.model"))
    path = weights.model_path("syncnet")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"w")
    assert not WeightsDialog.needed(None)
    assert not WeightsDialog.needed(path)


def _steps(dialog: WeightsDialog) -> dict[str, list[int]]:
    """The bar's values while it has a size, by the status line shown at the time."""
    seen: dict[str, list[int]] = {}
    dialog.progress.valueChanged.connect(
        lambda value: seen.setdefault(dialog.status.text(), []).append(value) if dialog.progress.maximum() else None)
    return seen


def test_download_fetches_syncnet_then_s3fd_and_accepts(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                                        pool: WorkerPool) -> None:
    dialog = _weights_dialog(qtbot, pool)
    intro = dialog.findChild(QLabel, "intro").text()
    assert "about 52 MB" in intro and "S3FD face detector (about 86 MB)" in intro
    assert "small and turned faces" in intro and "still work, with the bundled detector" in intro
    seen = _steps(dialog)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        _press(qtbot, dialog, "download")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.weights_path() == weights.model_path("syncnet")
    assert dialog.weights_path().read_bytes() == PAYLOAD
    assert weights.model_path("s3fd").read_bytes() == S3FD_PAYLOAD
    assert [weights.verify(name).status for name in ("syncnet", "s3fd")] == ["ok", "ok"]
    assert dialog.notice() == ""

    # one bar per file, in order: SyncNet first, then S3FD with SyncNet said to be ready
    assert list(seen) == ["Downloading the SyncNet weights (1 of 2)…",
                          "SyncNet is ready. Downloading the S3FD face detector (2 of 2)…"]
    for values, size in zip(seen.values(), (len(PAYLOAD), len(S3FD_PAYLOAD))):
        assert values[-1] == size and len(set(values)) > 2 and values == sorted(values)
    assert dialog.progress.format() == "400.0 kB of 400.0 kB"  # core.human_size, as the CLI prints sizes
    assert server.ranges and s3fd_server.ranges


def test_download_skips_an_s3fd_already_there(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                              pool: WorkerPool) -> None:
    path = weights.model_path("s3fd")
    path.parent.mkdir(parents=True)
    path.write_bytes(S3FD_PAYLOAD)
    assert weights.verify("s3fd").status == "ok"
    dialog = _weights_dialog(qtbot, pool)
    assert "S3FD" not in dialog.findChild(QLabel, "intro").text()
    seen = _steps(dialog)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        _press(qtbot, dialog, "download")
    assert list(seen) == ["Downloading the SyncNet weights…"]
    assert dialog.weights_path().read_bytes() == PAYLOAD and s3fd_server.ranges == []


@pytest.mark.parametrize("how", ["404", "checksum"])
@pytest.mark.parametrize("then", ["continue", "retry"])
def test_s3fd_failing_after_syncnet_goes_on_with_syncnet(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                                         pool: WorkerPool, monkeypatch: pytest.MonkeyPatch,
                                                         how: str, then: str) -> None:
    published = weights.MODELS["s3fd"]
    if how == "404":
        s3fd_server.status = 404
    else:
        monkeypatch.setitem(weights.MODELS, "s3fd", dataclasses.replace(published, sha256="0" * 64))
    dialog = _weights_dialog(qtbot, pool)
    _press(qtbot, dialog, "download")
    qtbot.waitUntil(dialog.continue_button.isVisible, timeout=30_000)

    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert weights.verify("syncnet").status == "ok"
    assert [p.name for p in weights.model_path("s3fd").parent.iterdir() if p.name.startswith("sfd")
            and p.suffix != ".lock"] == []  # no S3FD file, whole or partial
    status, error = dialog.status.text(), dialog.error.text()
    assert status.startswith("SyncNet is ready: analyses work, with the bundled face detector.")
    assert "small and turned faces" in status and "`syncdesk models download s3fd`" in status
    assert error.startswith("S3FD: ") and "\n" not in error and "Traceback" not in error
    assert ("404" in error) if how == "404" else ("checksum mismatch for s3fd" in error)
    assert dialog.status.isVisible() and dialog.error.isVisible()
    assert dialog.quit_button.isHidden() and dialog.choose_button.isHidden()  # SyncNet is there: go on
    assert dialog.progress.isHidden() and dialog.cancel_button.isHidden()
    assert dialog.download_button.text() == "Retry S3FD" and dialog.continue_button.isDefault()

    if then == "continue":
        with qtbot.waitSignal(dialog.accepted):
            _press(qtbot, dialog, "continue")
        assert "`syncdesk models download s3fd`" in dialog.notice()
    else:  # the network is back: Retry fetches S3FD only
        s3fd_server.status = 200
        monkeypatch.setitem(weights.MODELS, "s3fd", published)
        asked = len(server.ranges)
        with qtbot.waitSignal(dialog.accepted, timeout=10_000):
            _press(qtbot, dialog, "download")
        assert weights.model_path("s3fd").read_bytes() == S3FD_PAYLOAD
        assert len(server.ranges) == asked and dialog.notice() == ""
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.weights_path() == weights.model_path("syncnet")


def test_cancel_during_s3fd_goes_on_with_syncnet(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                                 pool: WorkerPool) -> None:
    s3fd_server.chunk_delay = 0.05  # ~1.2 s for the whole file
    dialog = _weights_dialog(qtbot, pool)
    _press(qtbot, dialog, "download")
    qtbot.waitUntil(lambda: "S3FD" in dialog.status.text() and dialog.progress.value() > 0, timeout=10_000)
    assert dialog.progress.value() < len(S3FD_PAYLOAD)
    assert dialog.quit_button.isHidden() and not dialog.download_button.isEnabled()
    _press(qtbot, dialog, "cancel")
    qtbot.waitUntil(dialog.continue_button.isVisible, timeout=10_000)
    assert dialog.error.text() == "S3FD: the download was cancelled"
    assert "`syncdesk models download s3fd`" in dialog.status.text()
    folder = weights.model_path("s3fd").parent
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".lock") == [
        "syncnet_v2.model", "syncnet_v2.model.json"]  # SyncNet and its hash record; no partial S3FD
    with FileLock(folder / "sfd_face.pth.lock").acquire(timeout=0):
        pass

    with qtbot.waitSignal(dialog.accepted):  # Escape (and the close button) go on with SyncNet too
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.weights_path().read_bytes() == PAYLOAD
    assert "`syncdesk models download s3fd`" in dialog.notice()


@pytest.mark.parametrize("how", ["404", "closed port"])
def test_failed_download_shows_the_error_and_retries(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                                     pool: WorkerPool, monkeypatch: pytest.MonkeyPatch,
                                                     how: str) -> None:
    if how == "404":
        server.status = 404
    else:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", f"http://127.0.0.1:{port}/syncnet_v2.model")
    dialog = _weights_dialog(qtbot, pool)
    _press(qtbot, dialog, "download")
    qtbot.waitUntil(dialog.error.isVisible, timeout=30_000)  # a loaded CI machine once took over 10 s
    message = dialog.error.text()
    assert ("404" in message) if how == "404" else ("could not reach 127.0.0.1" in message)
    assert "\n" not in message and "Traceback" not in message
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.download_button.text() == "Retry" and dialog.download_button.isEnabled()
    assert dialog.progress.isHidden() and dialog.cancel_button.isHidden()
    assert dialog.quit_button.isVisible() and dialog.continue_button.isHidden()
    assert s3fd_server.ranges == []  # S3FD waits for SyncNet

    server.status = 200  # the network is back: Retry succeeds
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", server.url)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        _press(qtbot, dialog, "download")
    assert dialog.weights_path().read_bytes() == PAYLOAD
    assert weights.model_path("s3fd").read_bytes() == S3FD_PAYLOAD


def test_cancel_during_a_slow_download(qtbot, server: FakeServer, s3fd_server: FakeServer,
                                       pool: WorkerPool) -> None:
    server.chunk_delay = 0.05  # ~1 s for the whole file
    dialog = _weights_dialog(qtbot, pool)
    ticks: list[int] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    _press(qtbot, dialog, "download")
    assert not dialog.choose_button.isEnabled() and not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    assert dialog.progress.value() < len(PAYLOAD)
    _press(qtbot, dialog, "cancel")
    qtbot.waitUntil(lambda: dialog.status.text() == "Download cancelled.", timeout=10_000)
    timer.stop()
    assert len(ticks) > 5  # the event loop kept turning during the download
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.download_button.isEnabled() and dialog.cancel_button.isHidden()
    assert not dialog.error.isVisible()
    folder = weights.model_path("syncnet").parent
    assert [p.name for p in folder.iterdir() if p.suffix != ".lock"] == []  # no partial file
    assert s3fd_server.ranges == []
    with FileLock(folder / "syncnet_v2.model.lock").acquire(timeout=0):  # the lock (an empty file) is free
        pass


def test_choose_a_valid_file(qtbot, pool: WorkerPool, random_weights: Path, server: FakeServer,
                             s3fd_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights_dialog.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(random_weights), "")))
    dialog = _weights_dialog(qtbot, pool)
    with qtbot.waitSignal(dialog.accepted, timeout=30_000):
        _press(qtbot, dialog, "choose")
    assert dialog.weights_path() == random_weights
    assert server.ranges == [] and s3fd_server.ranges == []  # a chosen file downloads nothing


@pytest.mark.parametrize("content, expected", [
    (b"just some text, not weights", "not a PyTorch weights file"),
    ("state_dict", "not a SyncNet state_dict"),
])
def test_choose_a_wrong_file(qtbot, pool: WorkerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             content: object, expected: str) -> None:
    wrong = tmp_path / "wrong.model"
    if content == "state_dict":
        torch.save({"conv.weight": torch.zeros(2, 2)}, wrong)
    else:
        wrong.write_bytes(content)  # type: ignore[arg-type]
    monkeypatch.setattr(weights_dialog.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(wrong), "")))
    dialog = _weights_dialog(qtbot, pool)
    _press(qtbot, dialog, "choose")
    qtbot.waitUntil(dialog.error.isVisible, timeout=30_000)
    assert expected in dialog.error.text() and "Traceback" not in dialog.error.text()
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.choose_button.isEnabled() and dialog.download_button.isEnabled()


def test_choosing_nothing_or_quitting(qtbot, pool: WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights_dialog.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: ("", "")))
    dialog = _weights_dialog(qtbot, pool)
    _press(qtbot, dialog, "choose")
    assert dialog.isVisible() and pool.running() == []
    with qtbot.waitSignal(dialog.rejected):
        _press(qtbot, dialog, "quit")
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_the_model_folder_s_s3fd_file_is_used(tmp_path: Path) -> None:
    settings = AppSettings(tmp_path / "syncdesk.ini")
    folder = tmp_path / "models"
    folder.mkdir()
    settings.set_models_folder(folder)
    assert settings.options().s3fd_weights is None
    (folder / "sfd_face.pth").write_bytes(b"w")
    assert settings.options().s3fd_weights == folder / "sfd_face.pth"


def test_settings_dialog_says_what_automatic_arithmetic_uses_on_the_chosen_device(
        qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    dialog = _dialog(qtbot, AnalysisOptions(device="cpu"))
    auto = dialog.precision.findData("auto")
    assert dialog.precision.itemText(auto) == "Automatic (uses bfloat16)"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    dialog.device.setCurrentIndex(dialog.device.findData("auto"))
    assert dialog.precision.itemText(auto) == "Automatic (uses float32)"
