"""Multipart uploads streamed to disk under a size cap, never held whole in memory.

The body is parsed as it arrives (python-multipart's push parser): the part named ``file`` goes
into a new file in the server's ``incoming`` folder, written in a worker thread so the event loop
never waits on the disk; the other parts are short text fields. Past the cap the file is deleted at
once and the rest of the body is read and dropped (up to a bound), so that an ordinary client gets
the 413 answer instead of a broken connection; a client that sent ``Expect: 100-continue`` is
answered before it sends anything.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .security import Refused

#: text fields of a form: how many, and how long each may be
MAX_FIELDS, MAX_FIELD_BYTES = 32, 1024 * 1024
#: the form's own bytes beyond the file (boundaries, headers, fields) allowed over the cap
FORM_SLACK = 2 * 1024 * 1024
#: an oversized body is read and dropped up to this much more, then the connection is closed
DRAIN_BYTES = 256 * 1024 * 1024
#: bytes handed to the parser's thread at a time
BATCH_BYTES = 1024 * 1024


@dataclass
class Form:
    """What a multipart request carried: its text fields, and the file if there was one."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Optional[Path] = None  # in the incoming folder: the caller moves it or deletes it
    filename: Optional[str] = None
    size: int = 0


def too_large(max_bytes: int) -> Refused:
    return Refused(413, f"the upload is larger than this server accepts ({max_bytes / 1024 / 1024:g} MB, "
                        "syncdesk serve --max-upload-mb)", "too-large")


class _Receiver:
    """The parser's callbacks: one part at a time, the file's bytes to disk, fields to memory."""

    def __init__(self, incoming: Path, max_bytes: int) -> None:
        self.incoming = incoming
        self.max_bytes = max_bytes
        self.form = Form()
        self.over = False
        self.problem: Optional[Refused] = None
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name: Optional[str] = None
        self._is_file = False
        self._stream: Optional[object] = None
        self._text = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._text = {}, None, False, bytearray()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if self._name == "file":
            if self.form.file is not None or self.over:
                self._refuse(Refused(422, "file: send one file per request", "bad-form"))
                return
            self._is_file = True
            self.form.filename = filename.decode("utf-8", "replace") if filename is not None else "upload"
            part = self.incoming / f"{secrets.token_hex(8)}.part"
            self._stream = open(part, "xb")
            self.form.file = part
        elif filename is not None:
            self._refuse(Refused(422, f"{self._name}: only the field \"file\" may be a file", "bad-form"))
        elif len(self.form.fields) >= MAX_FIELDS:
            self._refuse(Refused(422, f"more than {MAX_FIELDS} form fields", "bad-form"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.problem is not None:
            return
        if self._is_file:
            if self.over:
                return
            self.form.size += end - start
            if self.form.size > self.max_bytes:
                self.over = True
                self.discard()
                return
            self._stream.write(data[start:end])  # type: ignore[attr-defined]
        else:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                self._refuse(Refused(422, f"{self._name}: a form field longer than {MAX_FIELD_BYTES} bytes",
                                     "bad-form"))

    def _part_end(self) -> None:
        if self._is_file and self._stream is not None:
            self._stream.flush()  # type: ignore[attr-defined]
            os.fsync(self._stream.fileno())  # type: ignore[attr-defined]
            self._stream.close()  # type: ignore[attr-defined]
            self._stream = None
        elif not self._is_file and self._name and self.problem is None:
            try:
                self.form.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                self._refuse(Refused(422, f"{self._name}: not UTF-8 text", "bad-form"))

    def _end(self) -> None:
        self.ended = True

    def _refuse(self, problem: Refused) -> None:
        if self.problem is None:
            self.problem = problem
        self.discard()

    def discard(self) -> None:
        """Close and delete the file (too large, refused, cut short)."""
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream = None
        if self.form.file is not None:
            self.form.file.unlink(missing_ok=True)
            self.form.file = None


async def receive_form(request: Request, incoming: Path, max_bytes: int) -> Form:
    """Parse a ``multipart/form-data`` body; the file (if any) is saved in ``incoming``.

    Raises :class:`Refused`: 413 past ``max_bytes``, 400 for a body that is not a whole form."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise Refused(400, "a multipart body needs a boundary in its Content-Type", "bad-form")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + FORM_SLACK:
        if request.headers.get("expect", "").lower() == "100-continue":
            raise too_large(max_bytes)  # answered before the client sends the body
    receiver = _Receiver(incoming, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    received = 0
    pending = bytearray()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if receiver.over or receiver.problem is not None:
                if received > max_bytes + FORM_SLACK + DRAIN_BYTES:
                    break  # enough: the connection closes after the answer
                continue
            pending += chunk
            if len(pending) >= BATCH_BYTES:
                await anyio.to_thread.run_sync(parser.write, bytes(pending))
                pending.clear()
        if pending and not (receiver.over or receiver.problem is not None):
            await anyio.to_thread.run_sync(parser.write, bytes(pending))
    except ClientDisconnect:
        receiver.discard()
        raise
    except Refused:
        receiver.discard()
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors have no common base
        receiver.discard()
        raise Refused(400, f"the body is not a valid multipart form ({type(exc).__name__}: {exc})",
                      "bad-form") from None
    if receiver.over:
        raise too_large(max_bytes)
    if receiver.problem is not None:
        raise receiver.problem
    if not receiver.ended:
        receiver.discard()
        raise Refused(400, "the multipart form was cut short (no closing boundary)", "bad-form")
    return receiver.form
