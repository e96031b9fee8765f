"""SyncNet (Chung & Zisserman 2016) with the published ``state_dict`` key names.

The layer positions inside each ``nn.Sequential`` are what the published keys encode
(``netcnnlip.0.weight`` ...), so the order below must not change.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models.state import load_matching

EMBEDDING_DIM = 1024


def _audio_tower() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=1, stride=1),
        nn.Conv2d(64, 192, kernel_size=3, stride=1, padding=1),
        nn.BatchNorm2d(192),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.BatchNorm2d(384),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.BatchNorm2d(256),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.BatchNorm2d(256),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 512, kernel_size=(5, 4), padding=0),
        nn.BatchNorm2d(512),
        nn.ReLU(),
    )


def _video_tower() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
        nn.BatchNorm3d(96),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
        nn.Conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
        nn.BatchNorm3d(256),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
        nn.BatchNorm3d(256),
        nn.ReLU(inplace=True),
        nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
        nn.BatchNorm3d(256),
        nn.ReLU(inplace=True),
        nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
        nn.BatchNorm3d(256),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
        nn.Conv3d(256, 512, kernel_size=(1, 6, 6), padding=0),
        nn.BatchNorm3d(512),
        nn.ReLU(inplace=True),
    )


def _head() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(512, 512),
        nn.BatchNorm1d(512),
        nn.ReLU(),
        nn.Linear(512, EMBEDDING_DIM),
    )


class SyncNet(nn.Module):
    """Two towers mapping 0.2 s of audio and 5 video frames into one 1024-d space."""

    def __init__(self) -> None:
        super().__init__()
        self.netcnnaud = _audio_tower()
        self.netfcaud = _head()
        self.netcnnlip = _video_tower()
        self.netfclip = _head()

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``mfcc``: N x 1 x 13 x 20 -> N x 1024."""
        features = self.netcnnaud(mfcc.contiguous(memory_format=torch.channels_last))
        return self.netfcaud(features.flatten(1))

    def forward_video(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: 1 x 3 x T x 224 x 224 (BGR, 0..255) -> (T-4) x 1024.

        Only the first convolution spans time (kernel 5, no temporal padding), so one pass
        over T frames yields the T-4 window embeddings, identical to running each 5-frame
        window on its own.
        """
        features = self.netcnnlip(frames)  # 1 x 512 x (T-4) x 1 x 1
        windows = features.squeeze(0).flatten(1).transpose(0, 1)  # (T-4) x 512
        return self.netfclip(windows)

    def forward_windows(self, stacks: torch.Tensor) -> torch.Tensor:
        """``stacks``: N x 15 x 224 x 224, each window's 5 frames' BGR channels stacked frame by frame
        -> N x 1024. The video tower as 2-d layers (its kernels span time only in the first, and there
        its 5 frames are the 15 channels): the same weights and sums as :meth:`forward_video` on each
        window, for windows that share no frame, and faster on a CPU (bench/engine_notes.md)."""
        features = stacks
        for layer in self.netcnnlip:
            features = _as_2d(layer, features)
        return self.netfclip(features.flatten(1))


def _as_2d(layer: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """One video tower layer (3-d, one step in time) applied to N x C x H x W ``features``."""
    if isinstance(layer, nn.Conv3d):  # out x in x time x h x w -> out x (time, in) x h x w, a view past the first
        weight = layer.weight.transpose(1, 2).flatten(1, 2)
        return F.conv2d(features, weight, layer.bias, layer.stride[1:], layer.padding[1:])
    if isinstance(layer, nn.MaxPool3d):
        return F.max_pool2d(features, _spatial(layer.kernel_size), _spatial(layer.stride), _spatial(layer.padding))
    if isinstance(layer, nn.BatchNorm3d):  # a tower not folded for inference
        return F.batch_norm(features, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                            eps=layer.eps)
    if isinstance(layer, nn.ReLU):
        return F.relu(features, inplace=layer.inplace)
    raise TypeError(f"no 2-d form for {type(layer).__name__}")


def _spatial(value: int | tuple[int, ...]) -> int | tuple[int, ...]:
    """A 3-d layer's setting (one number, or time, height, width) for height and width alone."""
    return value[1:] if isinstance(value, tuple) else value


def fold_batchnorm(tower: nn.Sequential, dtype: Optional[torch.dtype] = None) -> nn.Sequential:
    """The tower's layers with each BatchNorm merged into the convolution before it.

    Inference only (running statistics are frozen): the maths is unchanged up to float rounding
    and one pass over each activation is saved. The convolutions are changed in place, their
    folded weights written once, channels-last and in ``dtype`` (default: their own), so ``tower``
    is spent afterwards: loading is on the start-up path, and one pass over the weights beats three
    (fold, relayout, cast). Figures: bench/engine_notes.md.
    """
    layers = list(tower)
    folded: list[nn.Module] = []
    index = 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, (nn.Conv2d, nn.Conv3d)) and isinstance(following, (nn.BatchNorm2d, nn.BatchNorm3d)):
            scale = following.weight / torch.sqrt(following.running_var + following.eps)
            bias = layer.bias if layer.bias is not None else torch.zeros_like(following.running_mean)
            layer.bias = nn.Parameter((bias - following.running_mean) * scale + following.bias)
            layout = torch.channels_last if layer.weight.dim() == 4 else torch.channels_last_3d
            weight = torch.empty_like(layer.weight, dtype=dtype, memory_format=layout)
            torch.mul(layer.weight, scale.reshape(-1, *[1] * (layer.weight.dim() - 1)), out=weight)
            layer.weight = nn.Parameter(weight)
            index += 2
        else:
            index += 1
        folded.append(layer)
    return nn.Sequential(*folded)


def _is_identity(layer: nn.Module) -> bool:
    """A max-pool over a 1x1 window with stride 1 (the audio tower's fourth layer) returns its input."""
    return (isinstance(layer, nn.MaxPool2d) and layer.kernel_size in (1, (1, 1))
            and layer.stride in (1, (1, 1)))


def for_inference(model: SyncNet, dtype: torch.dtype = torch.float32) -> SyncNet:
    """Fold BatchNorm into the convolutions, drop the do-nothing pool, lay the towers out channels-last.

    The identity max-pool would still cost a pass over the audio tower's largest activation. The
    state_dict keys change, so this is done after loading, never before saving. The whole model
    ends in ``dtype``. Figures: bench/engine_notes.md.
    """
    model.eval()
    with torch.no_grad():
        audio = fold_batchnorm(model.netcnnaud, dtype)
        model.netcnnaud = nn.Sequential(*(layer for layer in audio if not _is_identity(layer)))
        model.netcnnlip = fold_batchnorm(model.netcnnlip, dtype)
    return model.to(dtype)


def load_syncnet(path: os.PathLike | str, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> SyncNet:
    """A SyncNet ready for inference on ``device`` in ``dtype``, from a file with the published key names."""
    with torch.device("meta"):  # no random initialisation, overwritten at once
        model = SyncNet()
    load_matching(path, model, "a SyncNet state_dict")
    return for_inference(model, dtype).to(device)
