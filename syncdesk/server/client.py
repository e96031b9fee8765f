"""The command line's client of a server (``syncdesk analyze VIDEO --server URL``): standard library only.

The video is uploaded as a stream (never read whole into memory), the job is polled with its
progress shown, and the Analysis document comes back as an :class:`~syncdesk.core.Analysis`, so the
command prints and writes exactly what a local run would. Ctrl-C cancels the job on the server.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..core import Analysis, AnalysisOptions, SyncdeskError
from .security import read_token

TOKEN_ENV = "SYNCDESK_TOKEN"
#: seconds between two looks at the job, and the longest a job is waited for
POLL_S, WAIT_S = 0.5, 48 * 3600.0
CHUNK = 1024 * 1024
#: options a request may carry (the weights are the server's own)
SENT_OPTIONS = ("detector", "device", "vshift", "min_track", "min_face_size", "exact", "precision", "save_dists")


def server_token(token_file: Optional[Path]) -> str:
    """The token from ``--token-file``, else from the environment variable :data:`TOKEN_ENV`."""
    if token_file is not None:
        return read_token(token_file)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SyncdeskError(f"--server needs the server's token: pass --token-file FILE or set {TOKEN_ENV}")
    return token


def option_changes(options: AnalysisOptions) -> dict[str, Any]:
    """The options that differ from the defaults, by name (the server's defaults fill the rest)."""
    if options.weights is not None or options.s3fd_weights is not None:
        raise SyncdeskError("--weights and --s3fd-weights cannot be sent to a server: it uses its own "
                            "(syncdesk serve --weights)")
    default = AnalysisOptions()
    return {name: getattr(options, name) for name in SENT_OPTIONS if getattr(options, name) != getattr(default, name)}


class Client:
    """A few requests to one server; each on a new connection (jobs are long, requests few)."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SyncdeskError(f"--server must be an http:// or https:// address, not {url!r}")
        self.url = url.rstrip("/")
        self._https = parsed.scheme == "https"
        self._host, self._port = parsed.hostname, parsed.port
        self._base = parsed.path.rstrip("/")
        self._token = token
        self._timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def request(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        """One JSON request; the answer's JSON (None for an empty one)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return self._send(method, path, headers, [data] if data else [], len(data or b""))

    def upload(self, path: str, video: Path, fields: dict[str, str]) -> Any:
        """A multipart request with ``video`` streamed from disk as the field ``file``."""
        boundary = secrets.token_hex(16)
        head = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
                        for name, value in fields.items())
        # as browsers send it: UTF-8, with the quote and line breaks percent-encoded
        filename = video.name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8", "surrogateescape")
        tail = f"\r\n--{boundary}--\r\n".encode()
        try:
            size = video.stat().st_size
        except OSError as exc:
            raise SyncdeskError(f"cannot read {video}: {exc.strerror or exc}") from None

        def parts() -> Iterator[bytes]:
            yield head
            with open(video, "rb") as stream:
                while chunk := stream.read(CHUNK):
                    yield chunk
            yield tail

        return self._send("POST", path, {"Content-Type": f"multipart/form-data; boundary={boundary}"}, parts(),
                          len(head) + size + len(tail))

    def _send(self, method: str, path: str, headers: dict[str, str], body: Any, length: int) -> Any:
        connection = self._connection()
        try:
            connection.putrequest(method, self._base + path)
            for name, value in {**headers, "Authorization": f"Bearer {self._token}",
                                "Content-Length": str(length), "Accept": "application/json"}.items():
                connection.putheader(name, value)
            connection.endheaders()
            for chunk in body:
                connection.send(chunk)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise SyncdeskError(f"cannot reach the server at {self.url}: {exc}") from None
        finally:
            connection.close()
        try:
            answer = json.loads(payload) if payload else None
        except ValueError:
            answer = None
        if response.status >= 400:
            message = answer.get("error") if isinstance(answer, dict) else payload[:200].decode("utf-8", "replace")
            if response.status == 401:
                message = f"{message} (check --token-file or {TOKEN_ENV})"
            raise SyncdeskError(f"the server refused the request ({response.status}): {message}")
        return answer

    def wait(self, job_url: str, progress: Optional[Callable[[str, float], None]] = None) -> dict[str, Any]:
        """Poll a job until it is finished; Ctrl-C cancels it on the server."""
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                job = self.request("GET", f"{job_url}?document=false")
                if job["status"] in ("done", "error"):
                    return job
                if progress is not None and job["status"] == "running":
                    progress(job.get("stage") or "server", job["progress"])
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            try:
                self.request("DELETE", job_url)
            except SyncdeskError:
                pass
            raise
        raise SyncdeskError(f"the server did not finish {job_url} in {WAIT_S / 3600:g} hours")


def analyze_remote(url: str, video: Path, options: AnalysisOptions, token_file: Optional[Path],
                   progress: Optional[Callable[[str, float], None]] = None) -> Analysis:
    """Upload ``video`` to the server at ``url``, wait for its analysis, return the document."""
    client = Client(url, server_token(token_file))
    if not video.is_file():
        raise SyncdeskError(f"no such file: {video}")
    client.request("GET", "/v1/roots")  # the token checked before a long upload, not after it
    created = client.upload("/v1/analyses", video, {"options": json.dumps(option_changes(options))})
    job = client.wait(created["url"], progress)
    if job["status"] == "error":
        raise SyncdeskError(job["error"] or "the server could not analyse the file")
    analysis = Analysis.from_dict(client.request("GET", created["url"])["document"])
    analysis.source.path = str(video)  # as a local run names it
    return analysis
