"""Render ``icon.svg`` to the PNG sizes desktops and installers ask for, with Qt's own SVG renderer.

Run after changing the SVG: ``python resources/render_icons.py`` (needs no display). The PNGs are
committed, so nothing renders at start-up and packagers can copy them into icon themes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: bytes, size: int) -> QImage:
    """The SVG drawn antialiased on a transparent ``size`` x ``size`` image."""
    renderer = QSvgRenderer(svg)
    if not renderer.isValid():
        raise ValueError("icon.svg is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main(out_dir: Path = HERE / "icons") -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    QGuiApplication.instance() or QGuiApplication([])
    svg = (HERE / "icon.svg").read_bytes()
    out_dir.mkdir(exist_ok=True)
    for size in SIZES:
        path = out_dir / f"syncdesk-{size}.png"
        if not render(svg, size).save(str(path), "PNG"):
            print(f"render_icons: could not write {path}", file=sys.stderr)
            return 1
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
