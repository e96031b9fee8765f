"""Which device an analysis runs on, and in which arithmetic (both models use it: S3FD and SyncNet)."""

from __future__ import annotations

import torch

from ..errors import SyncdeskError
from ..options import DEVICES, PRECISIONS, AnalysisOptions


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, else Apple MPS, else CPU. An explicit device that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SyncdeskError("--device cuda: no CUDA GPU is available (try --device auto or cpu)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise SyncdeskError("--device mps: Apple MPS is not available (try --device auto or cpu)")
    if name not in DEVICES:
        raise SyncdeskError(f"unknown device {name!r} (use {', '.join(DEVICES[:-1])} or {DEVICES[-1]})")
    return torch.device(name)


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware: a CPU with AVX512-BF16 or AMX.

    Elsewhere oneDNN emulates it, which is slower than float32. GPUs keep float32: their
    analysis is fast already, and bfloat16 there has not been measured.
    """
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch 2.x: tolerate their absence
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype the towers run in for ``--precision name`` on ``device``."""
    if name == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    if name not in _DTYPES:
        raise SyncdeskError(f"unknown precision {name!r} (use {', '.join(PRECISIONS)})")
    if name == "bfloat16" and device.type != "cpu":
        raise SyncdeskError(f"--precision bfloat16 is for CPUs; on {device.type} use auto or float32")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``: the name ``--precision`` and the document use."""
    return str(dtype).removeprefix("torch.")


def analysis_dtype(options: AnalysisOptions, device: torch.device) -> torch.dtype:
    """What an analysis with ``options`` computes in on ``device``: float32 for --exact."""
    return torch.float32 if options.exact else resolve_precision(options.precision, device)


def precision_in_use(options: AnalysisOptions) -> str:
    """``analysis_dtype`` by name on the device ``options`` resolve to (``auto`` settled)."""
    return dtype_name(analysis_dtype(options, resolve_device(options.device)))


def device_name(device: torch.device) -> str:
    """A device in words: ``CUDA (NVIDIA H100)``, ``Apple MPS`` or ``CPU``."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return "Apple MPS" if device.type == "mps" else "CPU"


def describe_device(options: AnalysisOptions) -> str:
    """The device an analysis with ``options`` runs on and, when not float32, its arithmetic:
    ``CPU, bfloat16`` (the app's status bar)."""
    device = resolve_device(options.device)
    dtype = analysis_dtype(options, device)
    text = device_name(device)
    return text if dtype == torch.float32 else f"{text}, {dtype_name(dtype)}"
