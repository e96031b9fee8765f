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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Optional

from .. import __version__
from . import results, settings
from .errors import SyncdeskError
from .faces.choose import resolve_name
from .options import AnalysisOptions
from .results import Analysis
from .models.weights import locate, sha256_file

#: bump when the key's recipe or the entries' layout changes
CACHE_VERSION = 1
SAMPLE_BYTES = 1024 * 1024
#: an entry, or the temporary file ``results.save`` writes beside it
_ENTRY_NAME = re.compile(r"\.?[0-9a-f]{64}\.json(\..+\.part)?")

_weights_sha: dict[tuple[str, int, int], str] = {}
_weights_lock = threading.Lock()


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
    return _file_sha(locate("syncnet", options.weights))


def _file_sha(path: Path) -> str:
    """A weights file's sha256, computed once per (path, size, mtime)."""
    path = path.resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    with _weights_lock:
        known = _weights_sha.get(memo)
    if known is None:
        known = sha256_file(path)
        with _weights_lock:
            _weights_sha[memo] = known
    return known


class AnalysisCache:
    """Analysis documents keyed by file content, settings and weights (``<root>/<key>.json``)."""

    def __init__(self, root: Optional[Path] = None) -> None:
        self.root = Path(root) if root is not None else settings.cache_dir() / "analyses"

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
            "s3fd": (_file_sha(locate("s3fd", options.s3fd_weights)) if fingerprint["detector"] == "s3fd"
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
        analysis.source.path = str(path)
        return analysis

    def put(self, path: os.PathLike | str, options: AnalysisOptions, analysis: Analysis) -> Path:
        """Store ``analysis`` atomically; return the entry's path."""
        entry = self.entry(self.key(path, options))
        try:
            return results.save(analysis, entry)
        except OSError as exc:
            raise SyncdeskError(f"cannot write the analysis cache in {self.root}: "
                                f"{exc.strerror or exc}") from None

    def clear(self) -> None:
        """Delete every entry (and leftover temporary files); nothing else in ``root``."""
        if not self.root.is_dir():
            return
        for item in self.root.iterdir():
            if _ENTRY_NAME.fullmatch(item.name) and item.is_file():
                item.unlink(missing_ok=True)
