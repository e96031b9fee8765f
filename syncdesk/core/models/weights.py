"""Model weights: which files, where they live, how to check them (:mod:`.download` gets them).

After a file has been hashed, a small ``<file>.json`` record (size, mtime, sha256) lets
:func:`verify` with ``quick=True`` report its status without hashing it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Optional

from .. import settings
from ..errors import SyncdeskError, WeightsError
from ..outputs import atomic_output

Status = Literal["ok", "missing", "mismatch", "unverified"]

URL_ENV_PREFIX = "SYNCDESK_MODEL_URL_"


@dataclass(frozen=True)
class ModelSpec:
    """One published weights file."""

    name: str
    filename: str
    url: str
    sha256: str
    size: int
    description: str


MODELS: dict[str, ModelSpec] = {
    "syncnet": ModelSpec(
        name="syncnet",
        filename="syncnet_v2.model",
        url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
        sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
        size=52_000_000,
        description="SyncNet audio-video embedding network (Chung & Zisserman 2016)",
    ),
    "s3fd": ModelSpec(
        name="s3fd",
        filename="sfd_face.pth",
        url="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",
        sha256="d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491",
        size=86_000_000,
        description="S3FD face detector",
    ),
}


@dataclass(frozen=True)
class VerifyResult:
    """The state of one model's file in the data dir."""

    name: str
    path: Path
    status: Status
    sha256: Optional[str]
    size: Optional[int] = None


# --------------------------------------------------------------------------- lookup


def get_spec(name: str) -> ModelSpec:
    """The spec for ``name``, or a :class:`WeightsError` listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise WeightsError(f"unknown model {name!r} (known: {known})") from None


def model_path(name: str) -> Path:
    """Where ``name`` lives in the data dir (the file may not exist)."""
    return settings.models_dir() / get_spec(name).filename


def model_url(name: str) -> str:
    """The download URL, overridable with ``SYNCDESK_MODEL_URL_<NAME>``."""
    spec = get_spec(name)
    return os.environ.get(URL_ENV_PREFIX + spec.name.upper()) or spec.url


def sha256_file(path: Path, chunk_size: int = 1024 * 1024) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        hash_stream(fh, digest, chunk_size)
    return digest.hexdigest()


_known_sha: dict[tuple[str, int, int], str] = {}
_known_sha_lock = threading.Lock()


def weights_sha256(path: Path) -> str:
    """A weights file's sha256, computed once per (path, size, mtime) in this process: the loaded
    model's document, the cache key and a batch session all name the weights by it."""
    path = path.resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    with _known_sha_lock:
        known = _known_sha.get(memo)
    if known is None:
        known = sha256_file(path)
        with _known_sha_lock:
            _known_sha[memo] = known
    return known


def hash_stream(fh: BinaryIO, digest: "hashlib._Hash", chunk_size: int = 1024 * 1024) -> int:
    """Feed the rest of ``fh`` to ``digest``; return the number of bytes read."""
    total = 0
    while chunk := fh.read(chunk_size):
        digest.update(chunk)
        total += len(chunk)
    return total


def _how_to_get(spec: ModelSpec, path: Path) -> str:
    text = f"run `syncdesk models download {spec.name}`"
    if spec.name == "syncnet":
        text += " or pass --weights PATH"
    return f"{text} (or download {spec.url} yourself and place it at {path})"


def locate(name: str, explicit: Optional[Path] = None) -> Path:
    """The weights file to load: ``explicit`` if given, else the data-dir copy."""
    spec = get_spec(name)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise WeightsError(f"weights file not found: {path}")
        if not path.is_file():
            raise WeightsError(f"weights path is not a file: {path}")
        return path
    path = model_path(name)
    if not path.is_file():
        raise WeightsError(f"{spec.name} weights are missing: {_how_to_get(spec, path)}")
    if verify(name, quick=True).status == "mismatch":
        raise WeightsError(f"{path} does not match the published {spec.name} weights: "
                           f"{_how_to_get(spec, path)}")
    return path


# --------------------------------------------------------------------------- verify


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_record(path: Path, digest: str) -> None:
    """Remember ``path``'s SHA-256 beside it, for ``verify(quick=True)``."""
    st = path.stat()
    record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
              "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        with atomic_output(_record_path(path)) as part:
            part.write_text(json.dumps(record, indent=1), encoding="utf-8")
    except (OSError, SyncdeskError):
        pass  # the record is a cache: losing it costs a re-hash


def _recorded_sha(path: Path) -> Optional[str]:
    """The sha256 recorded for this exact file (same size and mtime), if any."""
    try:
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
        st = path.stat()
        if record["size"] == st.st_size and record["mtime_ns"] == st.st_mtime_ns:
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def verify(name: str, quick: bool = False) -> VerifyResult:
    """Hash the data-dir copy of ``name`` and compare it with the published SHA-256.

    With ``quick=True`` a previous result for the unchanged file is reused, and a file
    never hashed reports ``"unverified"`` instead of being read.
    """
    spec = get_spec(name)
    path = model_path(name)
    if not path.is_file():
        return VerifyResult(spec.name, path, "missing", None)
    size = path.stat().st_size
    digest = _recorded_sha(path)
    if digest is None:
        if quick:
            return VerifyResult(spec.name, path, "unverified", None, size)
        digest = sha256_file(path)
        write_record(path, digest)
    status: Status = "ok" if digest == spec.sha256 else "mismatch"
    return VerifyResult(spec.name, path, status, digest, size)
