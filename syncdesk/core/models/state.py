"""Read weights files safely (``torch.load(weights_only=True)``) into a model whose keys they match."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ..errors import WeightsError


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
