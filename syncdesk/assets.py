"""The app's own files (icon, style sheet) and its track colours: the one place that finds them.

The files live in the top-level ``resources/`` folder of the source tree and are installed as the
package ``syncdesk.resources`` (see ``pyproject.toml``), so ``importlib.resources`` finds them the
same way in a checkout, an installed wheel and a PyInstaller bundle. No Qt here: the views turn
these paths and strings into ``QIcon`` and ``setStyleSheet`` themselves.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: the rendered sizes of the application icon, in pixels (``resources/render_icons.py``)
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def _resource(*parts: str) -> Traversable:
    return files("syncdesk.resources").joinpath(*parts)


def icon_path(size: int) -> Path:
    """The PNG of the application icon at ``size`` x ``size`` pixels (one of :data:`ICON_SIZES`)."""
    if size not in ICON_SIZES:
        raise ValueError(f"no {size} px icon; sizes: {', '.join(map(str, ICON_SIZES))}")
    resource = _resource("icons", f"syncdesk-{size}.png")
    if not isinstance(resource, Path):  # a zipped install; we only ship as plain files
        raise FileNotFoundError(f"the icon is not a file on disk: {resource}")
    return resource


def app_icon_svg() -> bytes:
    """The scalable source of the application icon."""
    return _resource("icon.svg").read_bytes()


def style_sheet() -> str:
    """The Qt style sheet for the app (a few touches on top of the platform style)."""
    return _resource("style.qss").read_text(encoding="utf-8")
