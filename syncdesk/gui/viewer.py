"""The picture: the current decoded frame, scaled to fit, with each face track's box on top.

It paints decoded frames itself (a QVideoWidget is not frame-accurate and grabs blank offscreen,
platform-notes.md), so what it shows is exactly the frame the reader returned.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .session import FaceBox


class FrameView(QWidget):
    """Shows one RGB frame and its face boxes; the active speaker's box is drawn thick and labelled."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewer")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self._image: Optional[QImage] = None
        self._frame: Optional[np.ndarray] = None
        self._boxes: list[FaceBox] = []
        self._placeholder = "Open a video: File ▸ Open (Ctrl+O), or drop a file here"

    @property
    def frame(self) -> Optional[np.ndarray]:
        """The RGB pixels on screen (for tests and screenshots)."""
        return self._frame

    def show_frame(self, image: np.ndarray, boxes: list[FaceBox]) -> None:
        height, width = image.shape[:2]
        pixels = np.ascontiguousarray(image)
        self._frame = pixels
        # QImage borrows the buffer: keep ``pixels`` alive as long as the image (self._frame)
        self._image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self._boxes = boxes
        self.update()

    def set_boxes(self, boxes: list[FaceBox]) -> None:
        self._boxes = boxes
        self.update()

    def clear(self, message: str) -> None:
        self._image = self._frame = None
        self._boxes = []
        self._placeholder = message
        self.update()

    def picture_rect(self) -> QRectF:
        """Where the frame is drawn: as large as fits, aspect kept, centred."""
        if self._image is None:
            return QRectF()
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        width, height = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#16181B"))
        if self._image is None:
            painter.setPen(QColor("#9AA0A6"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        target = self.picture_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self._image)
        scale = target.width() / self._image.width()
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        for face in self._boxes:
            x1, y1, x2, y2 = face.box
            rect = QRectF(target.x() + x1 * scale, target.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            colour = QColor(face.colour)
            pen = QPen(colour, 4 if face.speaking else 2)
            if not face.speaking and not face.selected:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(rect)
            label = f"#{face.track_id}" + ("  speaking" if face.speaking else "")
            metrics = painter.fontMetrics()
            tag = QRectF(rect.x(), rect.y() - metrics.height() - 2, metrics.horizontalAdvance(label) + 8,
                         metrics.height() + 2)
            if tag.y() < target.y():
                tag.moveTop(rect.y())
            painter.fillRect(tag, colour)
            painter.setPen(QColor("black"))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)
