"""Find the files of a batch: folders are walked recursively, in a stable (sorted) order.

A file is queued when its extension is a video container's; any other file is reported as
``skipped`` without being opened (a worker also skips a queued file that turns out to hold no
video stream). Hidden files and folders (name starting with ".") are left out altogether: they
include the ``.part`` files syncdesk writes while copying.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import SyncdeskError

VIDEO_EXTENSIONS = frozenset({
    ".3g2", ".3gp", ".asf", ".avi", ".divx", ".dv", ".f4v", ".flv", ".m2t", ".m2ts", ".m2v", ".m4v", ".mkv",
    ".mov", ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".nut", ".ogv", ".qt", ".rm", ".rmvb", ".ts",
    ".vob", ".webm", ".wmv", ".y4m",
})


@dataclass(frozen=True)
class FoundFile:
    """A file to analyse, with what identifies its version (the queue's key, with the path)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class Scan:
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _identity(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def scan(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> Scan:
    """Walk ``paths`` (folders or single files). Files and folders in ``exclude`` (a report, a
    folder of sorted copies) are left out, whatever the spelling of their path."""
    excluded = {_identity(Path(p)) for p in exclude}
    found = Scan()
    seen: set[str] = set()

    def add(path: Path) -> None:
        identity = _identity(path)
        if identity in excluded or identity in seen:
            return
        seen.add(identity)
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            found.skipped.append(Skipped(path, "not a video file (by its extension)"))
            return
        try:
            st = path.stat()
        except OSError as exc:
            found.skipped.append(Skipped(path, f"cannot read it: {exc.strerror or exc}"))
            return
        found.files.append(FoundFile(path, st.st_size, st.st_mtime_ns))

    def unreadable(exc: OSError) -> None:
        found.skipped.append(Skipped(Path(exc.filename), f"cannot read this folder: {exc.strerror or exc}"))

    for root in paths:
        root = Path(os.path.abspath(root))
        if root.is_file():
            add(root)
            continue
        if not root.is_dir():
            raise SyncdeskError(f"no such file or folder: {root}")
        for folder, dirs, names in os.walk(root, onerror=unreadable):
            dirs[:] = sorted(d for d in dirs
                             if not d.startswith(".") and _identity(Path(folder, d)) not in excluded)
            for name in sorted(names):
                if not name.startswith("."):
                    add(Path(folder, name))
    return found
