"""Checks made before anything is decoded: the output's container, its path, and refusals.

The output keeps the input's container family (mp4/mov, mkv/webm, avi, ...): moving H.264 from mp4
to avi, for example, would need a bitstream filter that changes the video bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import MediaError
from ..media import open_input
from .result import ExportError

#: output container (libavformat muxer name) by file-name suffix
FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts", ".flv": "flv",
}
#: containers that can stand in for each other (same packet formats and timestamp rules)
FAMILIES = (("mp4", "mov"), ("matroska", "webm"), ("avi",), ("mpegts",), ("flv",))
#: containers where ``lossless`` moves the audio with an edit list
LOSSLESS_FORMATS = ("mp4", "mov")


def output_format(path: Path) -> str:
    """The muxer for ``path``'s suffix; raises :class:`ExportError` for an unknown one."""
    name = FORMATS.get(path.suffix.lower())
    if name is None:
        known = ", ".join(sorted(FORMATS))
        raise ExportError(f"cannot tell the container from the name {path.name!r}: use one of {known}")
    return name


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or the same device and inode."""
    try:
        if os.path.normcase(str(a.resolve())) == os.path.normcase(str(b.resolve())):
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse a missing input, an output that is the input, a folder, or an existing output."""
    if not src.exists():
        raise MediaError(f"no such file: {src}")
    if not src.is_file():
        raise MediaError(f"{src} is not a regular file")
    if same_file(src, dst):
        raise ExportError(f"the output {dst} is the input file: choose another name")
    if not dst.parent.is_dir():
        raise ExportError(f"the output folder {dst.parent} does not exist")
    if dst.is_dir():
        raise ExportError(f"the output {dst} is a folder")
    if os.path.lexists(dst) and not overwrite:
        raise ExportError(f"{dst} already exists: pass --overwrite to replace it")


def _family(names: Iterable[str]) -> tuple[str, ...]:
    names = set(names)
    return next((family for family in FAMILIES if names & set(family)), tuple(sorted(names)))


def preflight(src: os.PathLike | str, dst: os.PathLike | str, *, overwrite: bool = False,
              lossless: bool = False) -> str:
    """Every check that needs no decoding: paths, readable input, container, lossless support.

    Returns the output's muxer name. Cheap: call it before a long analysis.
    """
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, overwrite)
    fmt = output_format(dst)
    if lossless and fmt not in LOSSLESS_FORMATS:
        raise ExportError(f"--lossless needs an .mp4 or .mov output (it uses an edit list); {dst.name} is not one")
    with open_input(src) as inp:
        if not inp.streams.video:
            raise MediaError(f"{src.name} has no video stream")
        if not inp.streams.audio:
            raise MediaError(f"{src.name} has no audio stream: there is nothing to shift")
        if inp.streams.audio[0].codec_context is None:
            raise MediaError(f"{src.name}: this FFmpeg build cannot decode its audio")
        family = _family(inp.format.name.split(","))
    if fmt not in family:
        suffixes = " or ".join(sorted({s for s, f in FORMATS.items() if f in family})) or "its suffix"
        raise ExportError(f"{dst.name}: the output must keep the container of {src.name} (use {suffixes}): "
                          f"the video is copied as is and cannot change container")
    return fmt

