"""S3FD (Zhang et al. 2017), the face detector of the original SyncNet pipeline.

The network's parameter names are those of the published ``sfd_face.pth`` (the pipeline's
PyTorch port), so that file loads unchanged. Detection follows the pipeline's ``run_pipeline.py``:
the frame scaled by 0.25, faces scored above 0.9, non-maximum suppression at 0.3 IoU (the
network's own) and then at 0.1 (``detect_faces``), boxes neither clipped nor enlarged.

The pipeline hands the detector RGB frames and subtracts ``[104, 117, 123]`` after reversing them
to BGR, then reverses them back: the network sees RGB less ``[123, 117, 104]``, as here.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..media import Picture, bgr_region
from ..models.device import resolve_device
from ..models.state import load_matching
from .detectors import Detection, near_region, suppress

#: subtracted from the R, G, B channels (see the module's docstring)
RGB_MEAN = (123.0, 117.0, 104.0)
VARIANCES = (0.1, 0.2)
#: per detection head: the prior boxes' spacing and side, in network-input pixels
STRIDES = (4, 8, 16, 32, 64, 128)
PRIOR_SIDES = (16, 32, 64, 128, 256, 512)
NMS_IOU = (0.3, 0.1)
#: the most candidates NMS considers (the port's ``nms_top_k``): bounds its cost
MAX_CANDIDATES = 5000
#: the smallest input side the five pools and two strided stages leave a map for
MIN_INPUT_SIDE = 32
#: a search near a known face scales it to about this size (as the pipeline's 0.25 makes a 160 px face)
NEAR_PX = 40
#: prior boxes are kept for this many input sizes at most
PRIOR_SIZES_KEPT = 32

#: VGG16's convolutions (channels) and 2x2 max-pools ("M"; "C" rounds odd sizes up)
_VGG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512, "M")
#: ``vgg`` indices just past conv3_3, conv4_3 and conv5_3 (with their ReLUs): the first three heads
_TAPS = (16, 23, 30)
_HEAD_CHANNELS = (256, 512, 512, 1024, 512, 256)


class L2Norm(nn.Module):
    """Each position's channel vector scaled to unit length, then by a learned per-channel weight."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return x / norm * self.weight.view(1, -1, 1, 1)


def _vgg_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG:
        if isinstance(item, str):
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=item == "C"))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return layers + [nn.Conv2d(512, 1024, 3, padding=6, dilation=6), nn.ReLU(inplace=True),  # fc6
                     nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True)]  # fc7


class S3FD(nn.Module):
    """The network: six heads on VGG16 and two extra stages, strides 4 to 128."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg = nn.ModuleList(_vgg_layers())
        self.L2Norm3_3 = L2Norm(256, 10)
        self.L2Norm4_3 = L2Norm(512, 8)
        self.L2Norm5_3 = L2Norm(512, 5)
        self.extras = nn.ModuleList([nn.Conv2d(1024, 256, 1), nn.Conv2d(256, 512, 3, 2, padding=1),
                                     nn.Conv2d(512, 128, 1), nn.Conv2d(128, 256, 3, 2, padding=1)])
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, 3, padding=1) for c in _HEAD_CHANNELS])
        # the first head scores 3 background classes and a face ("max-out" background label)
        self.conf = nn.ModuleList([nn.Conv2d(c, 4 if i == 0 else 2, 3, padding=1)
                                   for i, c in enumerate(_HEAD_CHANNELS)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """Location offsets (N, P, 4), face probabilities (N, P) and each head's (height, width)."""
        sources = []
        start = 0
        for stop, norm in zip(_TAPS, (self.L2Norm3_3, self.L2Norm4_3, self.L2Norm5_3)):
            for layer in self.vgg[start:stop]:
                x = layer(x)
            sources.append(norm(x))
            start = stop
        for layer in self.vgg[start:]:
            x = layer(x)
        sources.append(x)
        for i, layer in enumerate(self.extras):
            x = F.relu(layer(x))
            if i % 2:
                sources.append(x)

        locs, faces = [], []
        for i, source in enumerate(sources):
            conf = self.conf[i](source).float()  # scores and offsets in float32 whatever the trunk's arithmetic
            if i == 0:
                conf = torch.cat((conf[:, :3].amax(dim=1, keepdim=True), conf[:, 3:]), dim=1)
            faces.append(conf.softmax(dim=1)[:, 1].flatten(1))  # (N, H*W), row-major like the priors
            locs.append(self.loc[i](source).float().permute(0, 2, 3, 1).flatten(1, 2))  # (N, H*W, 4)
        sizes = [(s.shape[2], s.shape[3]) for s in sources]
        return torch.cat(locs, dim=1), torch.cat(faces, dim=1), sizes


def prior_boxes(image_size: tuple[int, int], feature_maps: Sequence[tuple[int, int]],
                strides: Sequence[int] = STRIDES, sides: Sequence[int] = PRIOR_SIDES) -> np.ndarray:
    """(P, 4) priors ``cx, cy, w, h`` as fractions of the network input (``image_size`` = height,
    width): one per cell of each head's map, row by row, centred on the cell, ``side`` pixels square."""
    height, width = image_size
    blocks = []
    for (rows, cols), stride, side in zip(feature_maps, strides, sides, strict=True):
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride / height, (np.arange(cols) + 0.5) * stride / width,
                             indexing="ij")
        block = np.empty((rows * cols, 4), np.float32)
        block[:, 0], block[:, 1] = cx.ravel(), cy.ravel()
        block[:, 2], block[:, 3] = side / width, side / height
        blocks.append(block)
    return np.concatenate(blocks)


def decode(loc: np.ndarray, priors: np.ndarray, variances: tuple[float, float] = VARIANCES) -> np.ndarray:
    """Boxes ``x1, y1, x2, y2`` from SSD offsets: the centre moves by ``loc * variance * prior size``,
    the size is scaled by ``exp(loc * variance)``."""
    centre = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    with np.errstate(over="ignore"):  # inf for absurd offsets: the caller drops them
        size = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    return np.concatenate((centre - size / 2, centre + size / 2), axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the boxes kept, best score first: each box suppresses the lower-scored boxes
    that overlap it by more than ``threshold`` IoU."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def to_detections(loc: np.ndarray, scores: np.ndarray, priors: np.ndarray, source_size: tuple[int, int],
                  threshold: float) -> list[Detection]:
    """Faces scored above ``threshold``, after NMS, in the pixels of the source frame (height, width).

    Boxes that decode to an infinite or empty size (only untrained weights give such offsets)
    are dropped: they would break the crop downstream."""
    candidates = np.flatnonzero(scores > threshold)
    if candidates.size > MAX_CANDIDATES:
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")[:MAX_CANDIDATES]]
    boxes = decode(loc[candidates], priors[candidates])
    usable = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, kept_scores = boxes[usable], scores[candidates][usable]
    for iou in NMS_IOU:
        keep = nms(boxes, kept_scores, iou)
        boxes, kept_scores = boxes[keep], kept_scores[keep]
    height, width = source_size
    boxes = boxes * np.array([width, height, width, height], np.float64)
    return [Detection(*map(float, box), score=float(score)) for box, score in zip(boxes, kept_scores)]


def load_s3fd(path: os.PathLike | str, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> S3FD:
    """An S3FD in eval mode on ``device`` computing in ``dtype``, from a file with the published key names."""
    with torch.device("meta"):  # no random initialisation, overwritten at once
        model = S3FD()
    load_matching(path, model, "an S3FD state_dict")
    # channels-last: 110 -> 84 ms per 320x180 input on a 2-core AVX2 CPU
    return model.eval().to(device, dtype, memory_format=torch.channels_last)


class S3FDDetector:
    """Faces in BGR frames with S3FD, run on a copy scaled by ``scale`` (0.25 as the pipeline's demo),
    or less reduced where that copy would be under ``MIN_INPUT_SIDE`` pixels. ``dtype``: the
    convolutions' arithmetic (the analysis's: bfloat16 in fast mode on CPUs that compute it natively,
    as SyncNet's towers); the scores and box offsets are always computed in float32."""

    name = "s3fd"
    needs_colour = True
    #: a whole-frame search costs many near ones; S3FD rarely misses a face it sees: every 50th frame (2 s)
    search_every = 50

    def __init__(self, weights: os.PathLike | str, device: str | torch.device = "auto", scale: float = 0.25,
                 threshold: float = 0.9, dtype: Optional[torch.dtype] = None) -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = dtype or torch.float32
        self.net = load_s3fd(weights, self.device, self.dtype)
        self.scale = scale
        self.threshold = threshold
        self._mean = torch.tensor(RGB_MEAN, device=self.device).view(1, 3, 1, 1)
        self._priors: dict[tuple[int, int], np.ndarray] = {}  # by network input size

    def detect(self, image: np.ndarray | Picture) -> list[Detection]:
        height, width = image.shape[:2]
        bgr = bgr_region(image, slice(0, height), slice(0, width))
        scale = max(self.scale, MIN_INPUT_SIDE / min(height, width))
        return self._run([network_input(bgr, scale)], [(height, width)])[0]

    def detect_near(self, image: np.ndarray | Picture, faces: Sequence[Detection]) -> list[Detection]:
        """Each face looked for in a small region around it, scaled so that it is ``NEAR_PX`` pixels
        (of a decoded picture, only the regions are converted to BGR). A region the frame's edge would
        cut is moved inside the frame instead, so that every region scales to about one input size:
        those of one size go through the network as one batch."""
        height, width = image.shape[:2]
        by_size: dict[tuple[int, int], list[tuple[np.ndarray, int, int, tuple[int, int]]]] = {}
        for face in faces:
            x1, y1, x2, y2 = near_region(face, width, height, inside=True)
            if min(x2 - x1, y2 - y1) < MIN_INPUT_SIDE:
                continue
            region = bgr_region(image, slice(y1, y2), slice(x1, x2))
            scale = max(min(1.0, NEAR_PX / max(face.size, 1.0)), MIN_INPUT_SIDE / min(region.shape[:2]))
            small = network_input(region, scale)
            by_size.setdefault(small.shape[:2], []).append((small, x1, y1, region.shape[:2]))
        found = []
        for batch in by_size.values():
            answers = self._run([small for small, *_ in batch], [shape for *_, shape in batch])
            found += [Detection(d.x1 + x1, d.y1 + y1, d.x2 + x1, d.y2 + y1, d.score)
                      for (_, x1, y1, _), detections in zip(batch, answers) for d in detections]
        return suppress(found)

    def _run(self, inputs: list[np.ndarray], sources: list[tuple[int, int]]) -> list[list[Detection]]:
        """The faces in each of ``inputs`` (RGB, all of one size), in the pixels of its source (height, width)."""
        rgb = torch.from_numpy(np.stack(inputs)).to(self.device)
        with torch.inference_mode():
            x = (rgb.permute(0, 3, 1, 2).float() - self._mean).to(self.dtype)  # an NHWC layout: channels-last
            loc, faces, sizes = self.net(x)
        input_size = inputs[0].shape[:2]
        priors = self._priors.get(input_size)
        if priors is None:
            if len(self._priors) >= PRIOR_SIZES_KEPT:  # regions near faces come in many sizes: keep memory flat
                self._priors.clear()
            priors = self._priors[input_size] = prior_boxes(input_size, sizes)
        loc, faces = loc.cpu().numpy(), faces.cpu().numpy()
        return [to_detections(loc[i], faces[i], priors, source, self.threshold) for i, source in enumerate(sources)]


def network_input(bgr: np.ndarray, scale: float) -> np.ndarray:
    """``bgr`` scaled by ``scale`` as the pipeline scales it (bilinear), in RGB."""
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
