"""What ``syncdesk monitor SOURCE`` can watch, and how FFmpeg is asked to open it.

A SOURCE is a local file, a URL (``http(s)://`` HLS playlist or progressive stream, ``udp://``,
``rtp://``, ``rtmp://``, ``srt://``) or a capture device written ``v4l2:/dev/video0``,
``avfoundation:0:0`` or ``dshow:video=NAME:audio=NAME``. Whether a protocol or device is there
depends on the FFmpeg inside PyAV: :func:`check_source` says so in words before anything opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin, urlsplit

from ..errors import MediaError

#: URL schemes a stream may use, and whether the stream is live (never ends on its own)
NETWORK_SCHEMES = {"http": False, "https": False, "udp": True, "rtp": True, "rtmp": True, "srt": True}
#: capture devices by platform, as FFmpeg's input formats name them
DEVICE_FORMATS = {"v4l2": "video4linux2", "avfoundation": "avfoundation", "dshow": "dshow"}
#: seconds FFmpeg may wait to open a source, and for the next piece of data, before giving up
OPEN_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Source:
    """One thing to watch: what FFmpeg opens and how."""

    spec: str  # as the user wrote it
    url: str  # what av.open receives
    kind: str  # "file", "hls" (an .m3u8 playlist), "stream" (any other URL) or "device"
    format: Optional[str] = None  # FFmpeg's input format, when it must be named
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def label(self) -> str:
        """The source for messages: a file's name, a URL without its query (tokens live there)."""
        if self.is_file:
            return Path(self.url).name
        if self.kind == "device":
            return self.spec
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"


def parse_source(spec: str) -> Source:
    """The :class:`Source` for ``spec``; an unknown scheme or a missing file is a :class:`MediaError`."""
    if not spec.strip():
        raise MediaError("no source given: name a file, a stream URL or a capture device")
    device, _, name = spec.partition(":")
    if device in DEVICE_FORMATS and name and "//" not in name:
        return Source(spec, name, "device", DEVICE_FORMATS[device])
    scheme = urlsplit(spec).scheme.lower()
    if scheme in NETWORK_SCHEMES:
        kind = "hls" if urlsplit(spec).path.lower().endswith(".m3u8") else "stream"
        options = {"reconnect": "0"} if scheme in ("http", "https") else {}
        if scheme == "udp":
            options = {"overrun_nonfatal": "1", "fifo_size": "1000000"}
        return Source(spec, spec, kind, None, options)
    if len(scheme) > 1 and "://" in spec:
        known = ", ".join(f"{s}://" for s in NETWORK_SCHEMES)
        raise MediaError(f"cannot monitor {scheme}:// sources: use a file, {known} or a capture device")
    path = Path(spec)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a video file or stream")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes): nothing to monitor")
    return Source(spec, str(path), "file")


def check_source(source: Source) -> None:
    """Refuse, in words, a capture device the bundled FFmpeg has no input for (a missing network
    protocol is only known when FFmpeg tries it: :func:`open_error` words that)."""
    import av

    if source.kind == "device" and source.format not in av.formats_available:
        raise MediaError(f"cannot open {source.spec}: the FFmpeg inside PyAV on this machine has no "
                         f"{source.format} input (capture devices need an FFmpeg built with libavdevice)")


def open_error(source: Source, exc: BaseException) -> MediaError:
    """A one-line reason why ``source`` did not open, from FFmpeg's error."""
    import av

    if isinstance(exc, av.error.ProtocolNotFoundError):
        scheme = urlsplit(source.url).scheme
        return MediaError(f"cannot open {source.label}: the FFmpeg inside PyAV on this machine has no {scheme}:// protocol")
    if isinstance(exc, av.error.HTTPError) or "Server returned" in str(exc):
        reason = getattr(exc, "strerror", None) or str(exc)
        return MediaError(f"cannot open {source.label}: the server answered {reason}")
    reason = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, (ConnectionError, TimeoutError)) or "timed out" in reason.lower():
        return MediaError(f"cannot connect to {source.label} ({reason})")
    what = "not a video file, or it is corrupt" if source.is_file else "no playable audio and video there"
    return MediaError(f"cannot open {source.label}: {what} ({reason})")


def playlist_ended(source: Source, timeout_s: float = READ_TIMEOUT_S) -> bool:
    """Whether an HLS playlist says it is complete (``#EXT-X-ENDLIST``). FFmpeg's HLS reader ends
    the same way when a live playlist's server goes away and when a finished one plays out; only the
    playlist tells the two apart. A master playlist is followed to its first variant. Unreachable:
    not ended (the monitor reports the stream lost and tries again)."""
    from urllib.error import URLError
    from urllib.request import urlopen

    url = source.url
    for _ in range(2):  # the master playlist, then its first variant
        try:
            with urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - the user's own http(s) URL
                text = answer.read(1 << 20).decode("utf-8", "replace")
        except (URLError, OSError, ValueError):
            return False
        if "#EXT-X-ENDLIST" in text:
            return True
        variants = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if "#EXT-X-STREAM-INF" not in text or not variants:
            return False
        url = urljoin(url, variants[0])
    return False
