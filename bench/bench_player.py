"""Does the window stay responsive while the player scrubs and plays big H.264 files?

Makes a 1080p25 and a 4K25 H.264 clip (moving noise, no sound), opens each in the real main
window (offscreen Qt) and measures, with a 5 ms timer on the GUI thread:

* scrubbing: a seek every 15 ms (a dragged playhead) sweeping the clip back and forth; the
  longest gap between timer ticks, the frames shown and how long the last seek took to land;
* playing at 1x: the longest gap, frames shown per second against the clip's rate, and frames the
  decoder made that the clock had already passed (dropped).

Run from the repository root::

    QT_QPA_PLATFORM=offscreen python bench/bench_player.py [--seconds 10] [--seconds-4k 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SYNCDESK_AUDIO_BACKEND", "null")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.big_clips import make_h264_clip  # noqa: E402


class GapMeter:
    """Ticks of a 5 ms timer on the GUI thread; the longest gap between two is how long it froze."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def __enter__(self) -> GapMeter:
        self.ticks.clear()
        self.timer.start(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()

    @property
    def longest_ms(self) -> float:
        return 1000 * float(np.diff(self.ticks).max()) if len(self.ticks) > 1 else float("inf")


def wait(condition, timeout_s: float) -> bool:
    from PySide6.QtTest import QTest

    end = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > end:
            return False
        QTest.qWait(1)
    return True


def pump(seconds: float) -> None:
    end = time.perf_counter() + seconds
    wait(lambda: time.perf_counter() >= end, seconds + 1)


def scrub(window, seeks: int = 100, every_s: float = 0.015) -> dict[str, float]:
    """A seek every ``every_s`` sweeping 0 -> end -> 0; then wait for the last one to land."""
    player = window.player
    shown: list[float] = []
    player.frame_shown.connect(lambda frame: shown.append(frame.time_s))
    duration = player.duration
    with GapMeter() as meter:
        for index in range(seeks):
            phase = 2 * index / (seeks - 1)
            player.seek(duration * (phase if phase <= 1 else 2 - phase) * 0.98)
            pump(every_s)
        last = time.perf_counter()
        assert wait(lambda: player.settled, 30), "the last seek never landed"
        landed_ms = 1000 * (time.perf_counter() - last)
    return {"gap_ms": meter.longest_ms, "shown": len(shown), "seeks": seeks, "landed_ms": landed_ms}


def play(window, seconds: float) -> dict[str, float]:
    player = window.player
    player.home()
    assert wait(lambda: player.settled, 30)
    with GapMeter() as meter:
        start = time.perf_counter()
        player.play()
        pump(seconds)
        elapsed = time.perf_counter() - start
        shown, dropped = player.shown_while_playing, player.source.dropped
        player.pause()
    return {"gap_ms": meter.longest_ms, "fps": shown / elapsed, "dropped": dropped,
            "rate": player.info.fps}


def measure(clip: Path, play_s: float) -> dict[str, dict[str, float]]:
    import torch  # noqa: F401 - loaded before the window: its device lookup imports it in the pool
    from syncdesk.core import AnalysisOptions
    from syncdesk.gui.app import application
    from syncdesk.gui.app_settings import AppSettings
    from syncdesk.gui.main_window import MainWindow

    application()
    window = MainWindow(AppSettings(), AnalysisOptions(detector="whole-frame"), interactive=False)
    window.resize(1280, 800)
    window.show()
    window.open_video(clip)
    assert wait(lambda: window.player.loaded, 30), window.last_error
    pump(0.3)
    result = {"scrub": scrub(window), "play": play(window, play_s)}
    window.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 1080p clip")
    parser.add_argument("--seconds-4k", type=float, default=4.0, help="length of the 4K clip")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("SYNCDESK_DATA_DIR", folder)
        clips = [("1080p25", make_h264_clip(Path(folder) / "1080p.mp4", 1920, 1080, args.seconds), args.seconds),
                 ("2160p25", make_h264_clip(Path(folder) / "2160p.mp4", 3840, 2160, args.seconds_4k), args.seconds_4k)]
        rows = []
        for name, clip, seconds in clips:
            result = measure(clip, max(1.0, seconds - 1.0))
            s, p = result["scrub"], result["play"]
            rows.append(f"| {name} H.264, {seconds:g} s | {s['gap_ms']:.0f} ms | {s['shown']}/{s['seeks']} | "
                        f"{s['landed_ms']:.0f} ms | {p['gap_ms']:.0f} ms | {p['fps']:.1f} / {p['rate']:g} | "
                        f"{p['dropped']} |")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, PyAV {av.__version__}")
    print()
    print("| clip | scrub: longest gap | scrub: frames shown / seeks | last seek landed after | "
          "play 1x: longest gap | play: frames shown per s / clip rate | play: dropped |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
