"""Writing files the user asked for without ever leaving a half-written one.

Every output (analysis documents, exports, review videos, reports, downloaded models) is written
to a hidden ``.<name>.<random>.part`` file beside its destination, flushed to disk, and renamed
over it with :func:`os.replace`, which is atomic on one file system: a reader sees the old file or
the new one, never a mix, and a crash leaves at most a hidden ``.part`` file behind.

    with atomic_output(dst) as part:
        write(part)            # any error or cancellation here removes ``part``; ``dst`` is untouched
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


def move_into_place(part: Path, dst: Path) -> None:
    """Make the complete ``part`` the file ``dst``: flush it to disk, give it the mode of the file
    it replaces (a new one keeps the umask's), then rename it over ``dst`` in one step.

    The fsync comes first so that a crash just after the rename cannot leave an empty or partial
    ``dst`` (file systems may commit the rename before the data)."""
    fd = os.open(part, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.chmod(part, os.stat(dst).st_mode & 0o7777)
    except FileNotFoundError:
        pass
    os.replace(part, dst)
    _sync_folder(dst.parent)


def _sync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename (POSIX; Windows cannot open a folder and needs none)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (network shares) refuse it; the rename itself is done
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(dst: os.PathLike | str, error: type[SyncdeskError] = SyncdeskError) -> Iterator[Path]:
    """Yield a new hidden ``.part`` path beside ``dst`` to write; when the block ends normally it
    replaces ``dst`` (:func:`move_into_place`). On any exception, cancellation or Ctrl-C inside
    the block, or a failed rename, the ``.part`` file is removed and ``dst`` stays as it was.

    Nest two to replace two files together: the inner one is renamed first; a failure before that
    changes neither file."""
    dst = Path(dst)
    part = create_part(dst, error)
    try:
        yield part
        try:
            move_into_place(part, dst)
        except OSError as exc:
            raise error(f"cannot write {dst}: {exc.strerror or exc}") from None
    finally:
        remove_quietly(part)


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
