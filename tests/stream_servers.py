"""Streams for the monitor's tests, served only on 127.0.0.1 by the test itself.

* :func:`make_ts_clip`: a flash clip (tests/oracle.py) as interleaved MPEG-TS (mpeg4 video, AAC),
  as a broadcaster's stream would carry it.
* :class:`LiveHls`: that clip as a live HLS playlist, a segment appearing every ``segment_s`` of wall
  time; it can stop for a while (the listening socket closed) and come back on the same port.
* :class:`UdpSender`: the clip's bytes sent to a loopback UDP port at the clip's own pace.

Every loop here is bounded in count and time; ``stop()`` ends the threads.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Optional

import av

from .oracle import Lead, make_flash_clip

TS_PACKET = 188


def make_ts_clip(path: Path, seconds: float, audio_lead_s: Lead = 0.0, seed: int = 0, size: int = 64,
                 pts_offset_s: float = 0.0) -> Path:
    """A flash clip as MPEG-TS with its packets interleaved by time (keyframe every 12 frames).

    ``pts_offset_s`` moves every timestamp (two such files one after the other make a discontinuity).
    """
    source = make_flash_clip(path.with_suffix(".src.avi"), seconds=seconds, audio_lead_s=audio_lead_s, seed=seed,
                             size=size)
    with av.open(str(source)) as inp, av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream_from_template(inp.streams.video[0])
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
        items: list[tuple[float, int, av.Packet]] = []
        samples = 0
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "video":
                items.append((float(packet.dts * packet.time_base), 0, packet))
                continue
            for frame in packet.decode():
                for chunk in resampler.resample(frame):
                    chunk.pts, chunk.time_base = samples, Fraction(1, 16000)
                    samples += chunk.samples
                    items += [(float(p.pts * p.time_base), 1, p) for p in audio.encode(chunk)]
        items += [(float(p.pts * p.time_base), 1, p) for p in audio.encode(None)]
        items.sort(key=lambda item: (item[0], item[1]))
        for _, kind, packet in items:
            packet.stream = video if kind == 0 else audio
            if pts_offset_s:
                shift = round(pts_offset_s / packet.time_base)
                packet.pts = packet.pts + shift if packet.pts is not None else None
                packet.dts = packet.dts + shift if packet.dts is not None else None
            out.mux(packet)
    source.unlink()
    return path


def segment_ts(path: Path, segment_s: float) -> list[tuple[float, bytes]]:
    """The file's bytes cut at the first video keyframe after each ``segment_s`` (TS packet aligned):
    (duration, bytes) per segment. FFmpeg's HLS reader joins a playlist's segments into one stream."""
    data = path.read_bytes()
    cuts, times = [0], [0.0]
    with av.open(str(path)) as container:
        start: Optional[float] = None
        for packet in container.demux(container.streams.video[0]):
            if packet.pts is None or packet.pos is None or packet.pos < 0:
                continue
            t = float(packet.pts * packet.time_base)
            start = t if start is None else start
            if packet.is_keyframe and t - start >= len(cuts) * segment_s:
                cuts.append(packet.pos - packet.pos % TS_PACKET)
                times.append(t - start)
    end_time = times[-1] + segment_s
    cuts.append(len(data))
    times.append(end_time)
    return [(times[i + 1] - times[i], data[cuts[i]:cuts[i + 1]]) for i in range(len(cuts) - 1)]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        live = self.server.live
        body: Optional[bytes] = None
        if self.path.startswith("/live.m3u8"):
            body = live.playlist().encode()
            kind = "application/vnd.apple.mpegurl"
        elif self.path.startswith("/seg") and self.path.endswith(".ts"):
            number = int(self.path[4:-3])
            if number < live.available():
                body, kind = live.segments[number][1], "video/mp2t"
        elif self.path.startswith("/garbage.m3u8"):
            body, kind = b"\x00\xff this is not a playlist \x13\x37" * 50, "application/vnd.apple.mpegurl"
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    live: "LiveHls"


class LiveHls:
    """``url``: a live playlist over the segments of ``path``; one more appears every segment's duration."""

    def __init__(self, path: Path, segment_s: float = 2.0, first_segments: int = 1) -> None:
        self.segments = segment_ts(path, segment_s)
        self.segment_s = segment_s
        self._first = first_segments
        self._started = 0.0
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/live.m3u8"

    def available(self) -> int:
        elapsed = time.monotonic() - self._started
        count = self._first + int(elapsed / self.segment_s)
        return min(len(self.segments), count)

    def playlist(self) -> str:
        count = self.available()
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(self.segment_s + 1.5)}",
                 "#EXT-X-MEDIA-SEQUENCE:0"]
        for number in range(count):
            lines += [f"#EXTINF:{self.segments[number][0]:.3f},", f"seg{number}.ts"]
        if count == len(self.segments):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def start(self) -> "LiveHls":
        self._started = time.monotonic()
        self._listen()
        return self

    def _listen(self) -> None:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.live = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def outage(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (connections refused), then listen again on the same port."""
        self.stop()
        time.sleep(seconds)
        self._listen()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UdpSender:
    """Sends ``path``'s bytes to ``127.0.0.1:port`` in 7-packet datagrams at the clip's own pace."""

    def __init__(self, path: Path, port: int, seconds: float) -> None:
        self._data = path.read_bytes()
        self._port = port
        self._rate = len(self._data) / seconds  # bytes per second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self.sent = 0

    def start(self) -> "UdpSender":
        self._thread.start()
        return self

    def _send(self) -> None:
        chunk = 7 * TS_PACKET
        started = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            for position in range(0, len(self._data), chunk):
                if self._stop.is_set():
                    return
                wait = started + position / self._rate - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                out.sendto(self._data[position:position + chunk], ("127.0.0.1", self._port))
                self.sent = position + chunk

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
