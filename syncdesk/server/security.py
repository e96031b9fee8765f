"""What keeps the server's reach small: the access token, the roots a path may name, safe names.

A path in a request is relative to one of the ``--root`` folders. It is refused before anything is
opened when it is absolute, has a ``..`` or empty part, control characters, a backslash, or
characters that are not valid text; it is then resolved (every symlink followed) and refused
unless the real file is still below the real root. Nothing else on the machine is ever read.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence
from urllib.parse import quote

from ..core import SyncdeskError

TOKEN_NAME = "token"
#: a token shorter than this (from --token-file) is refused: it could be guessed
MIN_TOKEN_CHARS = 16
MAX_PATH_CHARS = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_NAME = re.compile(r"[^\w. -]+")  # letters and digits of any script, and . _ - and spaces
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


class Refused(Exception):
    """A request the server will not act on: ``status`` is the HTTP status, ``message`` says why."""

    def __init__(self, status: int, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Root:
    """A folder the server may read files from; ``name`` is how requests name it."""

    name: str
    path: Path  # resolved


def make_roots(folders: Sequence[Path]) -> tuple[Root, ...]:
    """The ``--root`` folders, resolved; each must be an existing folder with a name of its own."""
    roots: list[Root] = []
    for folder in folders:
        try:
            real = Path(folder).expanduser().resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise SyncdeskError(f"--root {folder}: no such folder ({getattr(exc, 'strerror', None) or exc})") from None
        if not real.is_dir():
            raise SyncdeskError(f"--root {folder} is not a folder")
        name = real.name or "root"
        if any(root.name == name for root in roots):
            raise SyncdeskError(f"two --root folders are called {name!r}: requests name a root by its folder name, "
                                "so each must be different")
        roots.append(Root(name, real))
    return tuple(roots)


def _relative_parts(text: str) -> tuple[str, ...]:
    """The parts of a request's path, or :class:`Refused` for anything but a plain relative path."""
    if not isinstance(text, str) or not text:
        raise Refused(422, "path: give the file's path relative to a root, e.g. \"show/ep1.mov\"", "bad-path")
    if len(text) > MAX_PATH_CHARS:
        raise Refused(422, f"path: longer than {MAX_PATH_CHARS} characters", "bad-path")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(422, "path: not valid text (an unpaired surrogate)", "bad-path") from None
    if _CONTROL.search(text) or "\\" in text:
        raise Refused(422, "path: control characters and backslashes are not allowed; use / between folders",
                      "bad-path")
    if unicodedata.normalize("NFC", text) != text and unicodedata.normalize("NFD", text) != text:
        raise Refused(422, "path: mixes Unicode normal forms", "bad-path")
    if text.startswith("/") or PurePosixPath(text).is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise Refused(403, "path: absolute paths are refused; give the path relative to a root", "outside-root")
    parts = tuple(part for part in text.split("/"))
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in ("..", "."):
        raise Refused(403, "path: '.', '..' and empty parts are refused; give the path relative to a root",
                      "outside-root")
    return tuple(part for part in parts if part)


def resolve(roots: Sequence[Root], text: str, root_name: Optional[str] = None, folder: bool = False) -> Path:
    """The real path of ``text`` below a root (``root_name``, else the first root that has it).

    Refused (403) when it leads out of its root through a symlink; 404 when it is not there; 422
    when it is a folder where a file is wanted or the other way round."""
    parts = _relative_parts(text)
    if not roots:
        raise Refused(403, "this server has no --root folder: upload the file instead", "no-root")
    if root_name is not None:
        candidates = [root for root in roots if root.name == root_name]
        if not candidates:
            raise Refused(404, f"root: no root is called {root_name!r} (GET /v1/roots lists them)", "no-such-root")
    else:
        candidates = list(roots)
    for root in candidates:
        joined = root.path.joinpath(*parts)
        try:
            real = joined.resolve(strict=True)
        except FileNotFoundError:
            continue
        except (OSError, RuntimeError):  # a symlink loop, a name too long
            raise Refused(422, f"path: {text} cannot be resolved", "bad-path") from None
        if not real.is_relative_to(root.path):
            raise Refused(403, f"path: {text} leads out of the root {root.name!r} (a symlink); refused",
                          "outside-root")
        mode = real.stat().st_mode
        if folder and not stat.S_ISDIR(mode):
            raise Refused(422, f"path: {text} is not a folder", "not-a-folder")
        if not folder and not stat.S_ISREG(mode):
            raise Refused(422, f"path: {text} is not a regular file", "not-a-file")
        return real
    where = f"the root {root_name!r}" if root_name is not None else "any root"
    raise Refused(404, f"path: {text} is not in {where}", "not-found")


def is_below(path: Path, roots: Sequence[Root]) -> bool:
    """Whether the real ``path`` is below one of the roots (a batch's files, after the walk)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return any(real.is_relative_to(root.path) for root in roots)


def safe_name(name: str, fallback: str = "upload") -> str:
    """A client's file name reduced to harmless characters, for display and download names."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", unicodedata.normalize("NFC", base)).strip(" .")[:120]
    return cleaned or fallback


def attachment(name: str) -> str:
    """A ``Content-Disposition`` for a download named ``name`` (RFC 6266: a plain ASCII name for old
    clients, the UTF-8 one for the rest)."""
    plain = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def safe_suffix(name: str) -> str:
    """The file's suffix if it is short and plain (the container is chosen by it), else none."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix
    return suffix.lower() if _SUFFIX.fullmatch(suffix) else ""


# --------------------------------------------------------------------------- the token


def token_matches(header: Optional[str], token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def read_token(path: Path) -> str:
    """The token in ``path`` (``--token-file``): its first line, at least :data:`MIN_TOKEN_CHARS`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SyncdeskError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SyncdeskError(f"the token file {path} is not text") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < MIN_TOKEN_CHARS or any(ch.isspace() for ch in token) or not token.isprintable():
        raise SyncdeskError(f"the token in {path} must be one line of at least {MIN_TOKEN_CHARS} printable "
                            "characters without spaces")
    return token


def server_token(home: Path, token_file: Optional[Path]) -> tuple[str, Path, bool]:
    """The token, the file it is in, and whether it was just generated (then it is shown once).

    Without ``--token-file`` the token is ``home/token``, created on first start (owner-only)."""
    if token_file is not None:
        return read_token(token_file), Path(token_file), False
    path = home / TOKEN_NAME
    if path.exists():
        return read_token(path), path, False
    token = secrets.token_urlsafe(32)
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server made it meanwhile
        return read_token(path), path, False
    except OSError as exc:
        raise SyncdeskError(f"cannot write the token file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(token + "\n")
    return token, path, True
