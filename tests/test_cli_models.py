"""``syncdesk models list|download|verify|path`` through ``main()``, against a local HTTP server."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from syncdesk.cli import main
from syncdesk.cli.models import ByteBar, human_size
from syncdesk.core.models import download, weights

PAYLOADS = {name: random.Random(name).randbytes(200_000) for name in weights.MODELS}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``PAYLOADS[name]`` at ``/<name>`` (whole files only); 404 for any other path."""

    requested: list[str] = []  # every path asked for, in order (reset by the ``server`` fixture)

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.requested.append(self.path)
        body = PAYLOADS.get(self.path.strip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNCDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    for name, body in PAYLOADS.items():
        spec = dataclasses.replace(weights.MODELS[name], sha256=hashlib.sha256(body).hexdigest())
        monkeypatch.setitem(weights.MODELS, name, spec)
        # never the real network, even when a test forgets to point a model at the server
        monkeypatch.setenv(f"SYNCDESK_MODEL_URL_{name.upper()}", "http://127.0.0.1:9/unused")
    return tmp_path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.requested = []
    for name in PAYLOADS:
        monkeypatch.setenv(f"SYNCDESK_MODEL_URL_{name.upper()}", f"{base}/{name}")
    yield base
    httpd.shutdown()
    httpd.server_close()


def _place(name: str, body: bytes) -> Path:
    path = weights.model_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def test_path(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(data_dir / "models")
    assert main(["models", "path", "s3fd"]) == 0
    assert capsys.readouterr().out.strip() == str(data_dir / "models" / "sfd_face.pth")


def test_unknown_name_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", "verify", "nope"])
    assert info.value.code == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["list", "download", "verify", "path"])
def test_help(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", action, "--help"])
    assert info.value.code == 0
    assert f"models {action}" in capsys.readouterr().out


def _status_column(out: str) -> dict[str, str]:
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    return {row[0]: row[2] for row in rows}


def test_list_shows_each_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NAME", "FILE", "STATUS", "SIZE", "PATH"]
    assert _status_column(out) == {"syncnet": "missing", "s3fd": "missing"}

    _place("syncnet", PAYLOADS["syncnet"])
    _place("s3fd", b"not the detector")
    main(["models", "list"])
    assert _status_column(capsys.readouterr().out) == {"syncnet": "unverified", "s3fd": "unverified"}
    main(["models", "list", "--check"])
    out = capsys.readouterr().out
    assert _status_column(out) == {"syncnet": "ok", "s3fd": "mismatch"}
    assert "200.0 kB" in out and str(weights.model_path("syncnet")) in out


def test_download_all(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No NAME: SyncNet then S3FD, both verified, and ``--detector auto`` now means the published S3FD."""
    from syncdesk.core.faces.choose import resolve_name

    assert resolve_name("auto") == "haar"
    assert main(["models", "download", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert _Handler.requested == ["/syncnet", "/s3fd"]
    for name, body in PAYLOADS.items():
        path = weights.model_path(name)
        assert path.read_bytes() == body
        assert f"{name}: downloaded and verified: {path}" in out
    assert resolve_name("auto") == "s3fd"
    assert main(["models", "download", "syncnet"]) == 0
    assert "syncnet: already downloaded" in capsys.readouterr().out
    assert main(["models", "download"]) == 0
    assert capsys.readouterr().out.count("already downloaded and verified") == 2
    assert _Handler.requested == ["/syncnet", "/s3fd"]  # nothing fetched again
    assert main(["models", "verify"]) == 0


def test_download_all_when_s3fd_fails_after_syncnet(server: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """S3FD is optional without a NAME: exit 0, SyncNet ready, two warning lines saying what to do."""
    monkeypatch.setenv("SYNCDESK_MODEL_URL_S3FD", f"{server}/gone")
    assert main(["models", "download", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert _Handler.requested == ["/syncnet", "/gone"]
    assert f"syncnet: downloaded and verified: {weights.model_path('syncnet')}" in captured.out
    assert weights.model_path("syncnet").read_bytes() == PAYLOADS["syncnet"]
    assert not weights.model_path("s3fd").exists()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith("syncdesk: warning: ") for line in lines)
    assert "s3fd was not downloaded" in lines[0] and "404" in lines[0]
    assert "SyncNet is ready and analyses work, with the bundled face detector" in lines[1]
    assert "`syncdesk models download s3fd`" in lines[1] and "small and turned faces" in lines[1]

    # named, S3FD is required: the same failure is an error (exit 1, one line)
    assert main(["models", "download", "s3fd", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("syncdesk: error: downloading s3fd: the server answered 404") and err.count("\n") == 1
    assert main(["models", "download", "syncnet", "s3fd", "-q"]) == 1  # syncnet already there, s3fd fails


def test_download_all_stops_when_syncnet_fails(server: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Without SyncNet nothing can be analysed: exit 1, and S3FD is not fetched."""
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", f"{server}/gone")
    assert main(["models", "download", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("syncdesk: error: downloading syncnet: the server answered 404") and err.count("\n") == 1
    assert _Handler.requested == ["/gone"]
    assert not weights.model_path("syncnet").exists() and not weights.model_path("s3fd").exists()


def test_download_help_says_what_no_name_fetches_and_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["models", "download", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "With no NAME, SyncNet is fetched first, then the S3FD face detector" in text
    assert "also 0 when SyncNet is ready but S3FD could not be fetched" in text
    assert "1 when a named model, or SyncNet, could not be fetched" in text


def test_download_replaces_a_corrupted_file(server: str) -> None:
    _place("syncnet", b"garbage")
    assert main(["models", "download", "syncnet", "-q"]) == 0
    assert weights.model_path("syncnet").read_bytes() == PAYLOADS["syncnet"]


def test_download_offline_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", f"http://127.0.0.1:{port}/x")
    assert main(["models", "download", "syncnet", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("syncdesk: error: could not reach 127.0.0.1")
    assert "offline" in err and err.count("\n") == 1
    assert not weights.model_path("syncnet").exists()


def test_verify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify", "syncnet"]) == 1
    captured = capsys.readouterr()
    assert "syncnet: missing" in captured.out
    assert "syncdesk models download syncnet" in captured.err

    path = _place("syncnet", PAYLOADS["syncnet"])
    assert main(["models", "verify", "syncnet"]) == 0
    assert "syncnet: ok" in capsys.readouterr().out

    path.write_bytes(PAYLOADS["syncnet"][:-1] + b"\0")  # corrupted in place
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert main(["models", "verify", "syncnet"]) == 1
    captured = capsys.readouterr()
    assert "syncnet: mismatch" in captured.out
    assert "syncdesk models download syncnet" in captured.err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_byte_bar_draws_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Tty()
    monkeypatch.setattr("sys.stderr", fake)
    with ByteBar("syncnet") as bar:
        for done in (0, 100_000, 50_000, 2_000_000):  # a restart may go back
            bar(done, 2_000_000)
    assert "syncnet" in fake.getvalue() and "B" in fake.getvalue()

    quiet = _Tty()
    monkeypatch.setattr("sys.stderr", quiet)
    with ByteBar("syncnet", quiet=True) as bar:
        bar(10, 100)
    assert quiet.getvalue() == ""


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(52_000_000) == "52.0 MB"
    assert human_size(3_200_000_000) == "3.2 GB"
