"""Seeded random SyncNet weights with the published key names.

For tests and benchmarks where the published file cannot be downloaded: the maths and cost are
those of the real network, only the verdicts are meaningless.
"""

from __future__ import annotations

import torch

from .model import SyncNet


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = SyncNet().state_dict()
    for key, tensor in state.items():
        if key.endswith("running_var"):
            state[key] = torch.rand(tensor.shape, generator=generator) + 0.5
        elif key.endswith("running_mean"):
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.1
        elif key.endswith("num_batches_tracked"):
            continue
        elif tensor.dim() > 1:
            fan_in = tensor[0].numel()
            state[key] = torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5
        else:
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.1 + (1.0 if key.endswith("weight") else 0.0)
    return state
