"""A local HTTP server for download tests: serves one payload at any path, honours ``Range``, and
misbehaves on request (error statuses, cut-short bodies, ignored ranges, slow sending)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

CHUNK = 16_384


class FakeServer:
    def __init__(self, payload: bytes, filename: str = "syncnet_v2.model") -> None:
        self.payload = payload
        self.filename = filename  # the last part of :attr:`url` (any path gets the payload)
        self.ranges: list[Optional[str]] = []  # the Range header of every request
        self.fail_with: list[int] = []  # statuses answered first, one per request
        self.status = 200  # answered to every request while not 200
        self.drop_after: Optional[int] = None  # body bytes sent before hanging up
        self.drops_left = 0  # how many responses are cut short (then behave)
        self.ignore_range = False
        self.chunk_delay = 0.0  # seconds between 16 KB chunks
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{self.filename}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.ranges.append(self.headers.get("Range"))
                status = server.fail_with.pop(0) if server.fail_with else server.status
                if status != 200:
                    self.send_error(status)
                    return
                data = server.payload
                start = self._start()
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.drops_left and server.drop_after is not None:
                    server.drops_left -= 1
                    body = body[: server.drop_after]
                try:
                    for offset in range(0, len(body), CHUNK):
                        self.wfile.write(body[offset:offset + CHUNK])
                        self.wfile.flush()
                        time.sleep(server.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled
                self.close_connection = True

            def _start(self) -> int:
                value = self.headers.get("Range")
                if not value or server.ignore_range:
                    return 0
                return int(value.removeprefix("bytes=").split("-")[0])

        return Handler
