"""The analysis cache: reopening an analysed file shows its results at once.

An entry is an Analysis document (``results.save``) named by a key made of:

* the file's **content, sampled**: its size and the first, middle and last MiB (the whole file
  when it is 3 MiB or less). A 4 GB file is keyed in milliseconds, and a copied or renamed file
  keeps its key. Two files of the same size that differ only outside the sampled bytes would
  share a key; edited or re-encoded media changes its size or its sampled bytes in practice.
* the settings that change a result (``AnalysisOptions.fingerprint()``, not the device, but the
  arithmetic it implies with precision ``auto``);
* the SyncNet weights' identity: the sha256 of the file ``locate("syncnet", options.weights)``
  gives, memoised by (path, size, mtime) so it is hashed once per process;
* the document schema, the syncdesk version and this cache's own format version.

The folder has a size cap (:data:`DEFAULT_MAX_BYTES` unless changed with
:meth:`AnalysisCache.set_max_bytes`, saved in the folder so the app, the CLI and batch workers
share it). After each ``put`` the least recently used entries are deleted until the entries fit:
an entry's modification time is its last use, since ``get`` touches it on a hit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import __version__
from . import results, settings
from .errors import SyncdeskError
from .faces.choose import resolve_name
from .options import AnalysisOptions
from .results import Analysis
from .models.weights import locate, weights_sha256
from .outputs import atomic_output

#: bump when the key's recipe or the entries' layout changes
CACHE_VERSION = 2  # 2: documents carry the warnings' tier cap, evidence and the file's facts
SAMPLE_BYTES = 1024 * 1024
#: the cap on the entries' total size when none was set
DEFAULT_MAX_BYTES = 500 * 1000 * 1000
#: an entry
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.json")
#: an entry, or the temporary file ``results.save`` writes beside it
_ENTRY_OR_PART_NAME = re.compile(r"\.?[0-9a-f]{64}\.json(\..+\.part)?")
#: the cap, saved in the cache folder (not an entry)
_LIMIT_NAME = "limit.json"

def content_key(path: os.PathLike | str) -> str:
    """Hex sha256 of the file's size and sampled content (see the module docstring)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        digest.update(f"size={size};".encode())
        if size <= 3 * SAMPLE_BYTES:
            digest.update(fh.read())
        else:
            for start in (0, (size - SAMPLE_BYTES) // 2, size - SAMPLE_BYTES):
                fh.seek(start)
                digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()


def settled_fingerprint(options: AnalysisOptions) -> dict[str, object]:
    """``options.fingerprint()`` with each ``auto`` settled: the detector it stands for now
    (downloading S3FD changes the result) and the arithmetic (the device's CPU decides)."""
    from .models.device import precision_in_use  # torch: loaded by the analysis this key is for

    return dict(options.fingerprint(precision_in_use(options)),
                detector=resolve_name(options.detector, options.s3fd_weights))


def weights_identity(options: AnalysisOptions) -> str:
    """The sha256 of the SyncNet weights the analysis would load (a ``WeightsError`` if none)."""
    return weights_sha256(locate("syncnet", options.weights))


@dataclass(frozen=True)
class CacheInfo:
    """What ``syncdesk cache info`` and the settings dialog show."""

    root: Path
    entries: int
    size: int  # bytes, entries only
    max_bytes: int


class AnalysisCache:
    """Analysis documents keyed by file content, settings and weights (``<root>/<key>.json``),
    the least recently used deleted beyond a size cap."""

    def __init__(self, root: Optional[Path] = None, max_bytes: Optional[int] = None) -> None:
        """``max_bytes``: this instance's cap; None uses the one saved in ``root`` (or the default)."""
        self.root = Path(root) if root is not None else settings.cache_dir() / "analyses"
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        if self._max_bytes is not None:
            return self._max_bytes
        try:
            saved = json.loads((self.root / _LIMIT_NAME).read_text(encoding="utf-8"))["max_bytes"]
        except (OSError, ValueError, KeyError, TypeError):
            return DEFAULT_MAX_BYTES
        return saved if isinstance(saved, int) and saved >= 0 else DEFAULT_MAX_BYTES

    def set_max_bytes(self, max_bytes: int, prune: bool = True) -> None:
        """Save ``max_bytes`` as the cap of every cache on this folder, and prune to it now unless
        told not to (the app prunes in a worker)."""
        if max_bytes < 0:
            raise SyncdeskError(f"the cache size limit cannot be negative ({max_bytes})")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SyncdeskError(f"cannot create {self.root}: {exc.strerror or exc}") from None
        with atomic_output(self.root / _LIMIT_NAME) as part:
            part.write_text(json.dumps({"max_bytes": max_bytes}) + "\n", encoding="utf-8")
        self._max_bytes = None
        if prune:
            self.prune()

    def key(self, path: os.PathLike | str, options: AnalysisOptions) -> str:
        """The entry name for ``path`` analysed with ``options``; raises ``SyncdeskError`` if
        the file cannot be read or the weights cannot be found."""
        fingerprint = settled_fingerprint(options)
        try:
            content = content_key(path)
        except OSError as exc:
            raise SyncdeskError(f"cannot read {path}: {exc.strerror or exc}") from None
        recipe = {
            "cache": CACHE_VERSION,
            "schema": results.SCHEMA,
            "version": __version__,
            "content": content,
            "options": fingerprint,
            "weights": weights_identity(options),
            "s3fd": (weights_sha256(locate("s3fd", options.s3fd_weights)) if fingerprint["detector"] == "s3fd"
                     else None),
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    def entry(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, path: os.PathLike | str, options: AnalysisOptions) -> Optional[Analysis]:
        """The cached analysis, with ``source.path`` set to ``path``; ``None`` on a miss, when the
        file or the weights cannot be read, or for a damaged entry (which is deleted)."""
        try:
            entry = self.entry(self.key(path, options))
        except SyncdeskError:
            return None
        if not entry.is_file():
            return None
        try:
            analysis = results.load(entry)
        except SyncdeskError:
            entry.unlink(missing_ok=True)
            return None
        try:
            os.utime(entry)  # its last use: the prune keeps it longest
        except OSError:
            pass
        analysis.source.path = str(path)
        return analysis

    def put(self, path: os.PathLike | str, options: AnalysisOptions, analysis: Analysis) -> Path:
        """Store ``analysis`` atomically, then prune to the cap; return the entry's path (gone
        already when this one entry is larger than the cap)."""
        entry = self.entry(self.key(path, options))
        try:
            results.save(analysis, entry)
        except OSError as exc:
            raise SyncdeskError(f"cannot write the analysis cache in {self.root}: "
                                f"{exc.strerror or exc}") from None
        self.prune()
        return entry

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        """Every entry with its stat, least recently used first."""
        found = []
        try:
            items = list(self.root.iterdir())
        except OSError:
            return []
        for item in items:
            if not _ENTRY_NAME.fullmatch(item.name):
                continue
            try:
                found.append((item, item.stat()))
            except FileNotFoundError:  # deleted meanwhile (another prune, a clear)
                continue
        return sorted(found, key=lambda pair: (pair[1].st_mtime_ns, pair[0].name))

    def prune(self) -> int:
        """Delete the least recently used entries until the rest fit the cap; return how many."""
        entries = self._entries()
        total = sum(st.st_size for _, st in entries)
        cap = self.max_bytes
        removed = 0
        for item, st in entries:
            if total <= cap:
                break
            if _remove(item):
                total -= st.st_size
                removed += 1
        return removed

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(root=self.root, entries=len(entries), size=sum(st.st_size for _, st in entries),
                         max_bytes=self.max_bytes)

    def clear(self) -> int:
        """Delete every entry (and leftover temporary files); nothing else in ``root``, not the cap.
        Returns how many could not be deleted (a file another user owns, a read-only folder)."""
        try:
            items = list(self.root.iterdir()) if self.root.is_dir() else []
        except OSError as exc:
            raise SyncdeskError(f"cannot read the analysis cache in {self.root}: {exc.strerror or exc}") from None
        wanted = [item for item in items if _ENTRY_OR_PART_NAME.fullmatch(item.name) and item.is_file()]
        return sum(1 for item in wanted if not _remove(item))


def _remove(item: Path) -> bool:
    """Delete one cache file; False when it cannot be (the cache is a convenience: never an error)."""
    try:
        item.unlink(missing_ok=True)
    except OSError:
        return False
    return True
