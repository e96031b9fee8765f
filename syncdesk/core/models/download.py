"""Download published model weights into the data dir, verified.

Like ``torch.hub.download_url_to_file``: stream into ``<file>.part`` beside the destination,
hash while writing, move into place (flushed, then renamed) only when the SHA-256 matches.
Like ``huggingface_hub``: resume with ``Range``, retry transient errors, check free space,
and hold a lock (``filelock``: an OS file lock, freed when its process ends) so two processes
never write the same ``.part``.

``weights.py`` says where a model lives and whether it is intact; this module only fetches it.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import shutil
import socket
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NoReturn, Optional
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from ... import __version__
from ..cancel import CancelToken
from ..errors import DownloadError
from ..outputs import move_into_place
from .weights import ModelSpec, get_spec, hash_stream, model_path, model_url, sha256_file, verify, write_record

#: ``progress(bytes_done, bytes_total_or_None)``
DownloadProgress = Callable[[int, Optional[int]], None]

CHUNK_SIZE = 64 * 1024
#: attempts in a row that may fail without receiving a byte, and attempts in all
MAX_FAILED_ATTEMPTS = 4
MAX_ATTEMPTS = 12
#: first pause between attempts (doubled each time); tests set it to 0
RETRY_DELAY = 1.0
#: how often a wait for another process's download checks for cancellation
LOCK_POLL_SECONDS = 0.25
_DISK_MARGIN = 16 * 1024 * 1024


@contextmanager
def _download_lock(lock: Path, cancel: Optional[CancelToken]) -> Iterator[None]:
    """Hold ``lock`` while the ``.part`` is written, so two processes never write the same one.

    An OS file lock (``filelock``): the OS releases it when its holder ends, however it ends, so
    a killed download never blocks the next one. A wait for another process checks ``cancel``
    every :data:`LOCK_POLL_SECONDS`."""
    held = FileLock(lock)
    while True:
        if cancel is not None:
            cancel.check()
        try:
            held.acquire(timeout=LOCK_POLL_SECONDS)
            break
        except Timeout:
            continue
    try:
        yield
    finally:
        held.release()


# --------------------------------------------------------------------------- download


class _Transient(Exception):
    """A failure worth another attempt (dropped connection, timeout, 5xx)."""


class _Restart(Exception):
    """The ``.part`` cannot be continued: start again from zero."""


class _RangeRefused(Exception):
    """416: the server has nothing past the ``.part``'s end (it may be complete)."""


def _offline_message(spec: ModelSpec, url: str, dest: Path, reason: object) -> str:
    host = urlsplit(url).hostname or url
    how = "pass --weights PATH / place it at" if spec.name == "syncnet" else "place it at"
    return (f"could not reach {host} to download {spec.name} ({reason}; are you offline?) "
            f"— or download {url} yourself and {how} {dest}")


def _unreachable(reason: object) -> bool:
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        return True
    return isinstance(reason, OSError) and reason.errno in (
        errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN)


def _raise_classified(exc: BaseException, spec: ModelSpec, url: str, dest: Path) -> NoReturn:
    """Turn a urllib/socket error into :class:`_Transient` or :class:`DownloadError`."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"server answered {exc.code} {exc.reason}") from exc
        raise DownloadError(f"downloading {spec.name}: the server answered {exc.code} "
                            f"{exc.reason} for {url}") from exc
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if _unreachable(reason):
            raise DownloadError(_offline_message(spec, url, dest, reason)) from exc
        if isinstance(reason, (TimeoutError, ConnectionError)):
            raise _Transient(str(reason)) from exc
        raise DownloadError(f"downloading {spec.name} from {url} failed: {reason}") from exc
    if isinstance(exc, (TimeoutError, ConnectionError, http.client.HTTPException)):
        raise _Transient(str(exc) or type(exc).__name__) from exc
    if isinstance(exc, ValueError):
        raise DownloadError(f"bad download URL for {spec.name}: {url} ({exc})") from exc
    raise exc


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + _DISK_MARGIN:
        raise DownloadError(f"not enough disk space in {folder}: {needed / 1e6:.1f} MB needed, "
                            f"{free / 1e6:.1f} MB free")


def _content_start(resp: http.client.HTTPResponse) -> int:
    """The first byte offset of a 206 answer, from ``Content-Range: bytes a-b/n``."""
    value = resp.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        raise _Restart(f"unusable Content-Range {value!r}") from None


class _Fetch:
    """One download into ``part``, possibly over several HTTP attempts."""

    def __init__(self, spec: ModelSpec, url: str, part: Path, timeout: float,
                 progress: Optional[DownloadProgress], cancel: Optional[CancelToken]) -> None:
        self.spec, self.url, self.part, self.timeout = spec, url, part, timeout
        self.progress, self.cancel = progress, cancel
        self.dest = part.with_name(part.name[: -len(".part")])

    def run(self) -> str:
        """Download to the end of the file; return the hex SHA-256 of ``part``."""
        attempts = failures = 0
        last: Optional[BaseException] = None
        while attempts < MAX_ATTEMPTS and failures < MAX_FAILED_ATTEMPTS:
            if attempts:
                time.sleep(RETRY_DELAY * 2 ** max(failures - 1, 0))
            attempts += 1
            before = self._part_size()
            try:
                return self._attempt()
            except _Restart as exc:
                last = exc
                self.part.unlink(missing_ok=True)
                failures += 1
            except _Transient as exc:
                last = exc
                failures = 0 if self._part_size() > before else failures + 1
        kept = (f"; the partial file {self.part} is kept, run the download again to resume"
                if self._part_size() else "")
        raise DownloadError(f"downloading {self.spec.name} from {self.url} failed after "
                            f"{attempts} attempts ({last}){kept}")

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _open(self, offset: int) -> http.client.HTTPResponse:
        request = urllib.request.Request(self.url, headers={"User-Agent": f"syncdesk/{__version__}"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                exc.close()
                raise _RangeRefused() from exc
            _raise_classified(exc, self.spec, self.url, self.dest)
        except Exception as exc:  # noqa: BLE001 - classified below
            _raise_classified(exc, self.spec, self.url, self.dest)

    def _attempt(self) -> str:
        offset = self._part_size()
        try:
            resp = self._open(offset)
        except _RangeRefused:
            digest = sha256_file(self.part)
            if digest == self.spec.sha256:
                return digest  # the .part was already complete
            raise _Restart("the server refused to resume") from None
        with resp:
            status = resp.status or 200
            if offset and status == 206 and _content_start(resp) != offset:
                raise _Restart("the server resumed at the wrong offset")
            if status != 206:
                offset = 0  # the server ignored Range: start again from zero
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            if total is not None:
                _check_space(self.part.parent, total - offset)
            digest = hashlib.sha256()
            with open(self.part, "r+b" if offset else "wb") as fh:
                if offset:
                    hash_stream(fh, digest)  # leaves the position at the end
                self._stream(resp, fh, digest, offset, total)
        return digest.hexdigest()

    def _stream(self, resp: http.client.HTTPResponse, fh: BinaryIO, digest: "hashlib._Hash",
                done: int, total: Optional[int]) -> None:
        self._report(done, total)
        while True:
            if self.cancel is not None:
                self.cancel.check()
            try:
                chunk = resp.read(CHUNK_SIZE)
            except Exception as exc:  # noqa: BLE001 - classified below
                _raise_classified(exc, self.spec, self.url, self.dest)
            if not chunk:
                break
            fh.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            self._report(done, total)
        if total is not None and done < total:
            raise _Transient(f"connection closed after {done} of {total} bytes")

    def _report(self, done: int, total: Optional[int]) -> None:
        if self.progress is not None:
            self.progress(done, total)


def download(name: str, progress: Optional[DownloadProgress] = None,
             cancel: Optional[CancelToken] = None, url: Optional[str] = None,
             timeout: float = 30) -> Path:
    """Download ``name`` into the data dir, verified; return its path.

    A file already there with the right SHA-256 is kept as is. An interrupted or cancelled
    download leaves ``<file>.part``, which the next call resumes.
    """
    spec = get_spec(name)
    dest = model_path(name)
    if _already_verified(name):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = dest.with_name(dest.name + ".lock")
    with _download_lock(lock, cancel):
        if _already_verified(name):  # another process finished while we waited
            return dest
        part = dest.with_name(dest.name + ".part")
        source = url or model_url(name)
        digest = _Fetch(spec, source, part, timeout, progress, cancel).run()
        if digest != spec.sha256:
            part.unlink(missing_ok=True)
            raise DownloadError(f"checksum mismatch for {spec.name} from {source}: expected "
                                f"sha256 {spec.sha256}, got {digest}; the download was deleted")
        move_into_place(part, dest)
        write_record(dest, digest)
    return dest


def discard_partial(name: str) -> bool:
    """Delete ``name``'s partial download unless a download, in any process, is writing it now;
    True when no partial file is left (for a caller that does not want to resume, like the app's
    Cancel)."""
    dest = model_path(name)
    part = dest.with_name(dest.name + ".part")
    if not part.exists():
        return True
    try:
        with FileLock(dest.with_name(dest.name + ".lock")).acquire(timeout=0):
            part.unlink(missing_ok=True)
            return True
    except Timeout:
        return False


def _already_verified(name: str) -> bool:
    return model_path(name).is_file() and verify(name).status == "ok"
