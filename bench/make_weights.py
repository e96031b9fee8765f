"""Write a seeded random SyncNet ``state_dict`` with the published key names.

The published ``syncnet_v2.model`` cannot be downloaded on our build machines, so the benchmark
feeds the same random weights to both sides: the original demo (its own ``loadParameters``) and
``syncdesk analyze --weights``. Speed and memory do not depend on the values; the verdicts of both
sides should agree with each other, not with the published demo's numbers.

Run from the repository root (``syncdesk`` must be importable)::

    python bench/make_weights.py /tmp/syncdesk-bench/random-seed0.model --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch


def random_state_dict(seed: int) -> Dict[str, torch.Tensor]:
    """The lead's ``synthetic.random_state_dict`` if present, else our own equivalent."""
    try:
        from syncdesk.core.sync.synthetic import random_state_dict as project_random_state_dict
    except ImportError:
        return _fallback_state_dict(seed)
    return dict(project_random_state_dict(seed))


def _fallback_state_dict(seed: int) -> Dict[str, torch.Tensor]:
    from syncdesk.core.sync.model import SyncNet

    torch.manual_seed(seed)
    state = SyncNet().state_dict()
    generator = torch.Generator().manual_seed(seed + 1)
    for name, tensor in state.items():
        if name.endswith("running_mean"):
            tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
        elif name.endswith("running_var"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
    return {name: tensor.clone() for name, tensor in state.items()}


def write_weights(path: Path, seed: int) -> Path:
    """Save the seeded weights to ``path`` (atomically) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(random_state_dict(seed), partial)
    partial.replace(path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the state_dict")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_weights(args.out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
