"""What a report says about the media file itself: the container's facts and the file's hash.

The document records what was analysed; a client receiving a report also wants to know which file
it speaks of (its size and SHA-256, hashed when the report is made) and how that file is built
(codecs, rates, start times). :func:`~syncdesk.core.media.probe` knows most of it; the few facts it
does not keep (pixel format, bit rates, a timecode tag) are read here with PyAV.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import SyncdeskError
from ..media import MediaInfo, open_input, probe
from ..models.weights import sha256_file


@dataclass(frozen=True)
class Extras:
    """Stream facts beyond :class:`~syncdesk.core.media.MediaInfo`."""

    container_title: Optional[str] = None  # FFmpeg's long name ("AVI (Audio Video Interleaved)")
    pixel_format: Optional[str] = None
    video_bit_rate: Optional[int] = None
    audio_bit_rate: Optional[int] = None
    timecode: Optional[str] = None  # the container's or the video stream's start timecode tag


@dataclass(frozen=True)
class MediaFacts:
    """The file as it is when the report is made; ``problems`` says what could not be read."""

    path: str
    info: Optional[MediaInfo] = None
    extras: Extras = Extras()
    sha256: Optional[str] = None
    problems: list[str] = field(default_factory=list)


def media_facts(path: os.PathLike | str, analysed_size: Optional[int] = None) -> MediaFacts:
    """Probe and hash ``path``; a missing or unreadable file gives facts with ``problems``, not an
    error (the report is still made from the document). ``analysed_size``: the size the document
    recorded, to warn when the file was changed since."""
    problems: list[str] = []
    info: Optional[MediaInfo] = None
    extras = Extras()
    sha: Optional[str] = None
    try:
        info = probe(path)
        extras = _extras(path)
        sha = sha256_file(Path(path))
    except SyncdeskError as exc:
        problems.append(f"the file cannot be read now: {exc}")
    except OSError as exc:
        problems.append(f"the file cannot be read now: {exc.strerror or exc}")
    if info is not None and analysed_size is not None and info.size != analysed_size:
        problems.append(f"the file is {info.size} bytes now but was {analysed_size} bytes when analysed: "
                        "it changed since")
    return MediaFacts(str(path), info, extras, sha, problems)


def _extras(path: os.PathLike | str) -> Extras:
    with open_input(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        timecode = container.metadata.get("timecode") or (video.metadata.get("timecode") if video else None)
        return Extras(
            container_title=container.format.long_name,
            pixel_format=video.codec_context.pix_fmt if video else None,
            video_bit_rate=(video.bit_rate or None) if video else None,
            audio_bit_rate=(audio.bit_rate or None) if audio else None,
            timecode=timecode,
        )
