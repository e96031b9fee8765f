"""Load SyncNet weights safely (``weights_only=True``) and pick the compute device."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ..errors import SyncdeskError, WeightsError
from ..options import PRECISIONS, AnalysisOptions
from .model import SyncNet, for_inference


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
    if name not in ("cpu", "cuda", "mps"):
        raise SyncdeskError(f"unknown device {name!r} (use auto, cpu, cuda or mps)")
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


def load_state_dict(path: os.PathLike | str) -> dict[str, torch.Tensor]:
    """Read a ``state_dict`` file without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickle of objects: some other file
            raise WeightsError(f"{path.name} is not a PyTorch weights file (damaged, or some other kind of file)") from None
        raise WeightsError(
            f"{path.name} holds Python objects, not only tensors: it cannot be loaded safely "
            "(syncdesk loads plain state_dicts only)"
        ) from None
    except Exception:  # noqa: BLE001 - the unpickler fails on arbitrary bytes in many ways (KeyError, struct.error, ...)
        raise WeightsError(f"{path.name} is not a PyTorch weights file (damaged, or some other kind of file)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} is not a state_dict (a mapping of parameter names to tensors)")
    return state


def load_matching(path: os.PathLike | str, model: torch.nn.Module, what: str) -> None:
    """Load ``path``'s state_dict into ``model`` if its key names and shapes are ``model``'s own;
    else a :class:`WeightsError` saying the file is not ``what`` (e.g. "a SyncNet state_dict").

    ``model`` may be built on the ``meta`` device (no memory, no random initialisation): the
    file's tensors are then assigned to it rather than copied.
    """
    state = load_state_dict(path)
    expected = model.state_dict()
    name = Path(path).name
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        keys = missing or unexpected
        detail = f"{'missing' if missing else 'unexpected'} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
        raise WeightsError(f"{name} is not {what} ({detail})")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise WeightsError(f"{name} is not {what} ({key} has shape {tuple(tensor.shape)}, "
                               f"expected {tuple(expected[key].shape)})")
    # assigning keeps the file's dtype: cast as load_state_dict's copy would (a float16 file, say)
    state = {key: tensor.to(expected[key].dtype) if tensor.is_floating_point() else tensor
             for key, tensor in state.items()}
    model.load_state_dict(state, assign=True)


def load_syncnet(path: os.PathLike | str, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> SyncNet:
    """A SyncNet ready for inference on ``device`` in ``dtype``, from a file with the published key names."""
    with torch.device("meta"):  # its random initialisation would cost ~40 ms, overwritten at once
        model = SyncNet()
    load_matching(path, model, "a SyncNet state_dict")
    return for_inference(model, dtype).to(device)
