"""Writing files the user asked for without ever leaving a half-written one: a hidden ``.part``
beside the destination, renamed into place only when complete."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import SyncdeskError


def create_part(dst: Path, error: type[SyncdeskError] = SyncdeskError) -> Path:
    """An empty hidden ``.part`` file beside ``dst``, created exclusively, mode per the umask."""
    for _ in range(100):
        part = dst.parent / f".{dst.name}.{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return part
        except FileExistsError:
            continue
        except OSError as exc:
            raise error(f"cannot write in {dst.parent}: {exc.strerror}") from None
    raise error(f"cannot create a temporary file in {dst.parent}")


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
