"""Stage "load_model": the weights, the device, the arithmetic, the SyncNet and the face detector."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..faces.choose import create_detector, resolve_name
from ..models.device import analysis_dtype, resolve_device
from ..models.weights import locate, weights_sha256
from ..sync.model import load_syncnet
from .context import AnalysisContext


@functools.lru_cache(maxsize=2)
def _loaded_model(weights_path: Path, mtime_ns: int, size: int, device: torch.device,
                  dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    """The model and its weights' sha256, loaded once per process (batch workers and the GUI
    analyse many files); a replaced weights file (new mtime or size) is loaded afresh."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashing releases the GIL: overlap it with the loading
        digest = pool.submit(weights_sha256, weights_path)
        return load_syncnet(weights_path, device, dtype), digest.result()


def load_model(weights_path: Path, device: torch.device,
               dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, str]:
    """The SyncNet for these weights on ``device`` in ``dtype`` and the weights' sha256, once per process."""
    stat = weights_path.stat()
    return _loaded_model(weights_path.resolve(), stat.st_mtime_ns, stat.st_size, device, dtype)


def load_engine(context: AnalysisContext) -> None:
    """Sets ``weights_path``, ``detector_name``, ``device``, ``dtype``, ``model``, ``weights_sha``
    and ``detector`` from the options. Unknown names and missing weights fail before anything loads."""
    options = context.options
    context.weights_path = locate("syncnet", options.weights)
    context.detector_name = resolve_name(options.detector, options.s3fd_weights)
    with context.timer.stage("load_model"):
        context.device = resolve_device(options.device)
        context.dtype = analysis_dtype(options, context.device)
        context.model, context.weights_sha = load_model(context.weights_path, context.device, context.dtype)
        context.detector = create_detector(context.detector_name, options.device, options.s3fd_weights, context.dtype)
