"""The app on a real X display (Xvfb, Qt's xcb platform) with only the system packages the README
lists: the offscreen platform of the other GUI tests needs none of them, so this is what keeps the
README's list true."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from .oracle import make_flash_clip

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packaging" / "linux-apt-packages.txt"


def test_the_readme_lists_the_packages_ci_installs():
    listed = [line for line in PACKAGES.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"`{' '.join(listed)}`" in readme


@pytest.fixture
def display():
    """A private X server on a display number it picks itself (``-displayfd``), stopped afterwards."""
    if sys.platform != "linux" or shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it with apt)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as stream:
            number = stream.readline().strip()  # written once the server is ready
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_app_starts_on_x11_and_saves_a_screenshot(display, tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=4.0)
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display}
    result = subprocess.run([sys.executable, "-m", "syncdesk", "gui", str(clip), "--weights", str(oracle_weights),
                             "--detector", "whole-frame", "--screenshot", str(shot)],
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "could not load the Qt platform plugin" not in result.stderr.lower()
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 500
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 23)}
    assert len(colours) > 20  # a drawn window, not a blank one
