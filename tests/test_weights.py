"""Weights manager: download (progress, resume, retry, checksum, cancel, lock), locate, verify.

Every download goes to a local HTTP server started here; nothing touches the real network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest
from filelock import FileLock, Timeout

from syncdesk.core.cancel import CancelToken
from syncdesk.core.errors import Cancelled, DownloadError, WeightsError
from syncdesk.core.models import download, weights

from .http_fake import FakeServer

DATA = random.Random(20240601).randbytes(300_000)
DATA_SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNCDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SYNCDESK_MODEL_URL_SYNCNET", raising=False)
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    return tmp_path


@pytest.fixture
def matching_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the syncnet spec expect the test payload's SHA-256."""
    spec = dataclasses.replace(weights.MODELS["syncnet"], sha256=DATA_SHA)
    monkeypatch.setitem(weights.MODELS, "syncnet", spec)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer(DATA).start()
    yield srv
    srv.stop()


def _part(name: str = "syncnet") -> Path:
    dest = weights.model_path(name)
    return dest.with_name(dest.name + ".part")


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/syncnet_v2.model"


# --------------------------------------------------------------------------- basics


def test_models_table_and_paths(data_dir: Path) -> None:
    assert weights.MODELS["syncnet"].filename == "syncnet_v2.model"
    assert weights.MODELS["s3fd"].filename == "sfd_face.pth"
    assert weights.model_path("syncnet") == data_dir / "models" / "syncnet_v2.model"
    with pytest.raises(WeightsError, match="unknown model"):
        weights.model_path("nope")


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    assert weights.sha256_file(path, chunk_size=4096) == DATA_SHA


def test_url_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert weights.model_url("syncnet") == weights.MODELS["syncnet"].url
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", "http://127.0.0.1:9/x")
    assert weights.model_url("syncnet") == "http://127.0.0.1:9/x"


# --------------------------------------------------------------------------- download


@pytest.mark.usefixtures("matching_sha")
def test_download_reports_progress_and_verifies(server: FakeServer) -> None:
    calls: list[tuple[int, Optional[int]]] = []
    path = download.download("syncnet", progress=lambda d, t: calls.append((d, t)), url=server.url)
    assert path == weights.model_path("syncnet")
    assert weights.sha256_file(path) == DATA_SHA
    assert not _part().exists()
    assert _is_free(path.with_name(path.name + ".lock"))
    done = [d for d, _ in calls]
    assert len(calls) > 2 and done == sorted(done)
    assert calls[-1] == (len(DATA), len(DATA))
    assert server.ranges == [None]


@pytest.mark.usefixtures("matching_sha")
def test_env_url_is_used(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDESK_MODEL_URL_SYNCNET", server.url)
    assert weights.sha256_file(download.download("syncnet")) == DATA_SHA
    assert len(server.ranges) == 1


@pytest.mark.usefixtures("matching_sha")
def test_verified_file_is_not_downloaded_again(server: FakeServer) -> None:
    download.download("syncnet", url=server.url)
    download.download("syncnet", url=server.url)
    assert len(server.ranges) == 1


@pytest.mark.usefixtures("matching_sha")
def test_interrupted_download_keeps_part_and_resumes(
        server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.drop_after, server.drops_left = 100_000, 1
    monkeypatch.setattr(download, "MAX_ATTEMPTS", 1)
    with pytest.raises(DownloadError, match="resume"):
        download.download("syncnet", url=server.url)
    assert _part().stat().st_size == 100_000
    assert not weights.model_path("syncnet").exists()

    monkeypatch.setattr(download, "MAX_ATTEMPTS", 12)
    calls: list[int] = []
    path = download.download("syncnet", progress=lambda d, t: calls.append(d), url=server.url)
    assert server.ranges == [None, "bytes=100000-"]
    assert calls[0] == 100_000 and calls[-1] == len(DATA)
    assert weights.sha256_file(path) == DATA_SHA
    assert not _part().exists()


@pytest.mark.usefixtures("matching_sha")
def test_dropped_connection_is_retried_in_the_same_call(server: FakeServer) -> None:
    server.drop_after, server.drops_left = 70_000, 2
    path = download.download("syncnet", url=server.url)
    assert server.ranges == [None, "bytes=70000-", "bytes=140000-"]
    assert weights.sha256_file(path) == DATA_SHA


@pytest.mark.usefixtures("matching_sha")
def test_server_errors_are_retried_but_bounded(server: FakeServer) -> None:
    server.fail_with = [503]
    assert weights.sha256_file(download.download("syncnet", url=server.url)) == DATA_SHA
    server.fail_with = [503] * 10
    weights.model_path("syncnet").unlink()
    with pytest.raises(DownloadError, match="503"):
        download.download("syncnet", url=server.url)
    assert len(server.ranges) == 1 + 1 + download.MAX_FAILED_ATTEMPTS


@pytest.mark.usefixtures("matching_sha")
def test_not_found_fails_at_once(server: FakeServer) -> None:
    server.fail_with = [404]
    with pytest.raises(DownloadError, match="404"):
        download.download("syncnet", url=server.url)
    assert len(server.ranges) == 1


@pytest.mark.usefixtures("matching_sha")
def test_server_ignoring_range_restarts_from_zero(server: FakeServer) -> None:
    server.ignore_range = True
    _part().parent.mkdir(parents=True)
    _part().write_bytes(b"\0" * 50_000)  # not even the right bytes: must be overwritten
    path = download.download("syncnet", url=server.url)
    assert server.ranges == ["bytes=50000-"]
    assert weights.sha256_file(path) == DATA_SHA


@pytest.mark.usefixtures("matching_sha")
def test_complete_part_and_416(server: FakeServer) -> None:
    _part().parent.mkdir(parents=True)
    _part().write_bytes(DATA)
    path = download.download("syncnet", url=server.url)
    assert server.ranges == [f"bytes={len(DATA)}-"]
    assert weights.sha256_file(path) == DATA_SHA


def test_checksum_mismatch_deletes_part(server: FakeServer) -> None:
    with pytest.raises(DownloadError) as info:
        download.download("syncnet", url=server.url)
    message = str(info.value)
    assert weights.MODELS["syncnet"].sha256 in message and DATA_SHA in message
    assert "expected" in message
    assert not _part().exists()
    assert not weights.model_path("syncnet").exists()


def test_connection_refused_is_a_clear_error() -> None:
    with pytest.raises(DownloadError) as info:
        download.download("syncnet", url=_closed_port_url(), timeout=2)
    message = str(info.value)
    assert "could not reach 127.0.0.1" in message and "offline" in message
    assert "--weights PATH" in message and str(weights.model_path("syncnet")) in message
    assert "\n" not in message


@pytest.mark.usefixtures("matching_sha")
def test_cancel_keeps_part(server: FakeServer) -> None:
    token = CancelToken()

    def progress(done: int, total: Optional[int]) -> None:
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        download.download("syncnet", progress=progress, cancel=token, url=server.url)
    kept = _part().stat().st_size
    assert 0 < kept < len(DATA)
    assert not weights.model_path("syncnet").exists()
    assert _is_free(weights.model_path("syncnet").with_name("syncnet_v2.model.lock"))
    path = download.download("syncnet", url=server.url)  # and it resumes
    assert server.ranges == [None, f"bytes={kept}-"]
    assert weights.sha256_file(path) == DATA_SHA


@pytest.mark.usefixtures("matching_sha")
def test_not_enough_disk_space(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = type("Usage", (), {"free": 1000})
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(DownloadError, match="not enough disk space"):
        download.download("syncnet", url=server.url)


# --------------------------------------------------------------------------- lock


def _lock() -> Path:
    dest = weights.model_path("syncnet")
    return dest.with_name(dest.name + ".lock")


def _is_free(lock: Path) -> bool:
    """Whether nobody holds ``lock`` (the file itself may stay: it is only a place to lock)."""
    try:
        with FileLock(lock).acquire(timeout=0):
            return True
    except Timeout:
        return False


@contextmanager
def _held_by_another_process(lock: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Another Python process holding ``lock`` for ``seconds`` (until killed, for a long time)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    code = ("import sys, time\nfrom filelock import FileLock\nlock = FileLock(sys.argv[1])\nlock.acquire()\n"
            "print('held', flush=True)\ntime.sleep(float(sys.argv[2]))\nlock.release()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.usefixtures("matching_sha")
def test_waits_for_another_process_holding_the_lock(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "LOCK_POLL_SECONDS", 0.02)
    with _held_by_another_process(_lock(), 0.5):
        started = time.monotonic()
        download.download("syncnet", url=server.url)
        waited = time.monotonic() - started
    assert waited >= 0.3  # it did not write while the other process held the lock
    assert weights.sha256_file(weights.model_path("syncnet")) == DATA_SHA and _is_free(_lock())


@pytest.mark.usefixtures("matching_sha")
def test_cancel_while_waiting_for_lock(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "LOCK_POLL_SECONDS", 0.02)
    token = CancelToken()
    with _held_by_another_process(_lock(), 60):
        threading.Timer(0.2, token.cancel).start()
        with pytest.raises(Cancelled):
            download.download("syncnet", cancel=token, url=server.url)
        assert not _is_free(_lock()) and server.ranges == []  # someone else's lock is left alone


@pytest.mark.usefixtures("matching_sha")
def test_a_killed_holder_does_not_block_the_next_download(server: FakeServer) -> None:
    with _held_by_another_process(_lock(), 60) as holder:
        assert not _is_free(_lock())
        holder.kill()  # as a crash or `kill -9` would: no chance to release
        holder.wait()
        started = time.monotonic()
        download.download("syncnet", url=server.url)
    assert time.monotonic() - started < 5 and _is_free(_lock())
    assert weights.sha256_file(weights.model_path("syncnet")) == DATA_SHA


@pytest.mark.usefixtures("matching_sha")
def test_discard_partial_leaves_a_download_in_progress_alone(server: FakeServer) -> None:
    _part().parent.mkdir(parents=True)
    _part().write_bytes(DATA[:1000])
    with _held_by_another_process(_lock(), 60):
        assert download.discard_partial("syncnet") is False
        assert _part().stat().st_size == 1000
    assert download.discard_partial("syncnet") is True and not _part().exists()
    assert download.discard_partial("syncnet") is True  # nothing to discard


# --------------------------------------------------------------------------- locate / verify


def test_locate_missing_says_how_to_get_it() -> None:
    with pytest.raises(WeightsError) as info:
        weights.locate("syncnet")
    assert "syncdesk models download syncnet" in str(info.value)
    assert "--weights PATH" in str(info.value)
    with pytest.raises(WeightsError, match="syncdesk models download s3fd"):
        weights.locate("s3fd")


def test_locate_explicit_path(tmp_path: Path) -> None:
    given = tmp_path / "mine.model"
    with pytest.raises(WeightsError, match="not found"):
        weights.locate("syncnet", given)
    with pytest.raises(WeightsError, match="not a file"):
        weights.locate("syncnet", tmp_path)
    given.write_bytes(b"x")
    assert weights.locate("syncnet", given) == given


def test_locate_data_dir_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    path = weights.model_path("syncnet")
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)
    assert weights.locate("syncnet") == path  # never hashed yet: accepted
    assert weights.verify("syncnet").status == "mismatch"
    with pytest.raises(WeightsError, match="does not match"):
        weights.locate("syncnet")
    spec = dataclasses.replace(weights.MODELS["syncnet"], sha256=DATA_SHA)
    monkeypatch.setitem(weights.MODELS, "syncnet", spec)
    assert weights.locate("syncnet") == path


def test_verify_states(monkeypatch: pytest.MonkeyPatch) -> None:
    path = weights.model_path("syncnet")
    missing = weights.verify("syncnet")
    assert (missing.status, missing.sha256, missing.path) == ("missing", None, path)

    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)
    assert weights.verify("syncnet", quick=True).status == "unverified"
    bad = weights.verify("syncnet")
    assert (bad.status, bad.sha256, bad.size) == ("mismatch", DATA_SHA, len(DATA))
    assert weights.verify("syncnet", quick=True).status == "mismatch"  # recorded

    spec = dataclasses.replace(weights.MODELS["syncnet"], sha256=DATA_SHA)
    monkeypatch.setitem(weights.MODELS, "syncnet", spec)
    assert weights.verify("syncnet").status == "ok"

    path.write_bytes(DATA[:-1] + b"!")  # changed file: the record no longer applies
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert weights.verify("syncnet", quick=True).status == "unverified"
    assert weights.verify("syncnet").status == "mismatch"
