"""Start the desktop app: ``syncdesk gui [VIDEO] [--screenshot PNG]`` and ``python main.py``."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ..assets import style_sheet
from ..core import AnalysisOptions, Tolerance
from .app_settings import AppSettings
from .main_window import MainWindow, window_icon

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 15 * 60 * 1000
SCREENSHOT_SIZE = (1280, 800)


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("syncdesk")
    app.setOrganizationName("syncdesk")
    QGuiApplication.setDesktopFileName("io.github.syncdesk.Syncdesk")  # the .desktop entry's name (packaging/)
    app.setWindowIcon(window_icon())
    app.setStyleSheet(style_sheet())
    return app


def run(video: Optional[Path], options: Optional[AnalysisOptions], screenshot: Optional[Path],
        tolerance: Optional[Tolerance] = None) -> int:
    """Show the window (and ``video``) until it is closed, judging against ``tolerance`` if given.
    With ``screenshot``: wait for the analysis, save the window as a PNG and return (0, or 1 when
    the video could not be analysed)."""
    app = application()
    window = MainWindow(AppSettings(), options, interactive=screenshot is None, tolerance=tolerance)
    if screenshot is not None:
        return _screenshot(window, video, screenshot)
    window.show()
    if video is not None:
        window.open_video(video)
    with _errors_shown_in(window):
        return app.exec()


def _screenshot(window: MainWindow, video: Optional[Path], path: Path) -> int:
    window.resize(*SCREENSHOT_SIZE)  # the same picture whatever layout was saved
    window.show()
    loop = QEventLoop()  # a local loop, not app.exec(): callers (tests) keep their application
    outcome: dict[str, int] = {}

    def finish(code: int) -> None:
        if "code" not in outcome:
            outcome["code"] = code
            QTimer.singleShot(300, loop.quit)  # let the last repaint land

    window.analysis_shown.connect(lambda _analysis: finish(0))
    window.analysis_failed.connect(lambda _message: finish(1))  # also: nothing to analyse (no audio)
    window.open_failed.connect(lambda _message: finish(1))  # unreadable: the window says why
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: finish(1))
    if video is None:
        finish(0)
    else:
        window.open_video(video)
    with _errors_shown_in(window, also=lambda: finish(1)):
        loop.exec()
    window.pool.wait(30_000)  # the device label's lookup, among others: the picture shows their results
    QCoreApplication.processEvents()
    saved = window.grab().save(str(path))
    window.close()
    if not saved:
        print(f"syncdesk: error: cannot write {path}", file=sys.stderr)
        return 1
    if outcome["code"] and window.last_error:
        print(f"syncdesk: error: {window.last_error}", file=sys.stderr)
    return outcome["code"]


@contextmanager
def _errors_shown_in(window: MainWindow, also: Optional[Callable[[], None]] = None) -> Iterator[None]:
    """A bug in a slot shows a dialog (and is logged) instead of killing or silently breaking the app."""
    previous = sys.excepthook

    def unexpected(kind, error, trace) -> None:
        log.error("unexpected error", exc_info=(kind, error, trace))
        window.show_error("Unexpected error", f"{kind.__name__}: {error}")
        if also is not None:
            also()

    sys.excepthook = unexpected
    try:
        yield
    finally:
        sys.excepthook = previous
