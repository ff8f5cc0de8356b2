"""The anomaly model in torch: uint8 image -> locally aware patch features -> distances -> map and score.

The same modules run in training (to score validation and test images) and in export,
which traces `PatchFeatures` to ONNX and writes the distance head as ONNX MatMuls; the
torch `AnomalyModel` is the reference the exported bundle must match.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def pick_stages(feature_info: list[dict]) -> list[int]:
    """Two stages: the last of stride 8 and of stride 16 (patch level); else the two middle ones."""
    by_stride = {info["reduction"]: index for index, info in enumerate(feature_info)}
    if 8 in by_stride and 16 in by_stride:
        return [by_stride[8], by_stride[16]]
    middle = len(feature_info) // 2
    return [max(middle - 1, 0), middle]


def forward_stages(stages: list[int]):
    """A forward over the chosen stages only (for tracing layer sizes)."""
    return lambda backbone, x: backbone.forward_intermediates(x, indices=stages, intermediates_only=True)


class PatchFeatures(nn.Module):
    """uint8 NHWC RGB -> [N, C, h, w] patch features at the finer stage's stride.

    Normalisation is inside the module (it travels into the bundle). Features of the two stages
    are aligned, concatenated and averaged over a 3x3 neighbourhood (local awareness).
    `channels` optionally keeps a subset of channels (PaDiM's reduction).
    """

    def __init__(self, backbone: nn.Module, stages: list[int], mean, std, channels: torch.Tensor | None = None):
        super().__init__()
        self.backbone = backbone
        self.stages = list(stages)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("channels", channels if channels is not None else torch.zeros(0, dtype=torch.long))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float()
        x = (x - self.mean) / self.std
        maps = self.backbone.forward_intermediates(x, indices=self.stages, intermediates_only=True)
        size = maps[0].shape[-2:]
        maps = [maps[0]] + [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        features = self.pool(torch.cat(maps, dim=1))
        if self.channels.numel():
            features = features.index_select(1, self.channels)
        return features


def gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).float()


def upsample_blur_matrix(grid: int, size: int, kernel: torch.Tensor) -> torch.Tensor:
    """[size, grid]: bilinear upsampling (half-pixel, as F.interpolate) then reflect-padded Gaussian, as one matrix.

    Both steps are linear and separable, so the map at input resolution is M_v @ D @ M_h^T for patch
    distances D: two small MatMuls instead of a resize and two convolutions over the full image.
    """
    basis = torch.eye(grid, dtype=torch.float64).unsqueeze(1)  # grid signals of length grid
    up = F.interpolate(basis, size=size, mode="linear", align_corners=False)
    radius = kernel.numel() // 2
    blurred = F.conv1d(F.pad(up, (radius, radius), mode="reflect"), kernel.double().view(1, 1, -1))
    return blurred[:, 0, :].T.float().contiguous()


class AnomalyMap(nn.Module):
    """Patch distances [N, h, w] -> smoothed anomaly map [N, H, W] at input size and image score [N]."""

    def __init__(self, output_size: tuple[int, int], sigma: float, grid: tuple[int, int]):
        super().__init__()
        self.output_size = tuple(output_size)
        self.sigma = float(sigma)
        kernel = gaussian_kernel(sigma)
        self.register_buffer("rows", upsample_blur_matrix(grid[0], output_size[0], kernel))  # [H, h]
        self.register_buffer("cols_t", upsample_blur_matrix(grid[1], output_size[1], kernel).T.contiguous())  # [w, W]

    def forward(self, distances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        anomaly_map = (self.rows @ distances) @ self.cols_t
        return anomaly_map.amax(dim=(1, 2)), anomaly_map


class PatchCoreHead(nn.Module):
    """Nearest-neighbour distance of each patch to a memory bank: ||q||^2 + min_b (||b||^2 - 2 q.b), chunked."""

    def __init__(self, bank: torch.Tensor, chunk: int = 2048):
        super().__init__()
        self.register_buffer("bank", bank.float().contiguous())
        self.register_buffer("bank_sq", (self.bank * self.bank).sum(-1), persistent=False)  # ||b||^2, once
        self.chunk = chunk

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, c, h, w = features.shape
        q = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
        best = None
        for start in range(0, self.bank.shape[0], self.chunk):
            b = self.bank[start : start + self.chunk]
            b2 = self.bank_sq[start : start + self.chunk].expand(n, 1, -1)
            m = torch.baddbmm(b2, q, b.T.expand(n, -1, -1), alpha=-2.0).amin(-1)  # min_b ||b||^2 - 2 q.b
            best = m if best is None else torch.minimum(best, m)
        return (best + (q * q).sum(-1)).clamp_min(0).sqrt().view(n, h, w)  # ||q||^2 is the same for every b


def to_blocks(x: torch.Tensor, h: int, w: int, block: int) -> torch.Tensor:
    """[N, h*w, C] -> [B, N*block*block, C]: patches grouped by block of block x block positions."""
    n, _, c = x.shape
    x = x.reshape(n, h // block, block, w // block, block, c).permute(1, 3, 0, 2, 4, 5)
    return x.reshape((h // block) * (w // block), -1, c)


def from_blocks(x: torch.Tensor, h: int, w: int, block: int) -> torch.Tensor:
    """[B, N*block*block] -> [N, h, w]: the inverse of `to_blocks` for per-patch values."""
    x = x.reshape(h // block, w // block, -1, block, block).permute(2, 0, 3, 1, 4)
    return x.reshape(-1, h, w)


class PadimHead(nn.Module):
    """Mahalanobis distance of each patch to the Gaussian of its position, as batched MatMul.

    The mean is per position; the inverse covariance is shared by `block` x `block` neighbouring
    positions (4x more samples per estimate, 4x smaller bundle at block 2).
    """

    def __init__(self, mean: torch.Tensor, inv_cov: torch.Tensor, grid: tuple[int, int], block: int):
        super().__init__()
        self.register_buffer("mean", mean.float().contiguous())  # [P, C]
        self.register_buffer("inv_cov", inv_cov.float().contiguous())  # [B, C, C]
        self.grid = tuple(grid)
        self.block = int(block)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, c, h, w = features.shape
        diff = features.permute(0, 2, 3, 1).reshape(n, h * w, c) - self.mean
        grouped = to_blocks(diff, h, w, self.block)  # [B, N*b*b, C]
        d2 = ((grouped @ self.inv_cov) * grouped).sum(-1)
        return from_blocks(d2, h, w, self.block).clamp_min(0).sqrt()


class AnomalyModel(nn.Module):
    """The whole reference model: uint8 NHWC -> (score [N], anomaly_map [N, H, W]).

    With a `tiler`, the input is cut into tiles before the features and the tiles' distances are
    stitched back to the whole input's grid before the map.
    """

    def __init__(self, features: PatchFeatures, head: nn.Module, post: AnomalyMap, tiler: nn.Module | None = None):
        super().__init__()
        self.features = features
        self.head = head
        self.post = post
        self.tiler = tiler

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tiler is None:
            return self.post(self.head(self.features(image)))
        return self.post(self.tiler.stitch(self.head(self.features(self.tiler.split(image)))))


def default_sigma(view: int | tuple[int, int]) -> float:
    """Smoothing of the anomaly map: 4 px for a 256x256 view (one tile, or the whole input), scaled with its side."""
    side = math.sqrt(view[0] * view[1]) if isinstance(view, tuple) else view
    return max(1.0, 4.0 * side / 256.0)


PADIM_BUDGET_BYTES = 32_000_000


def padim_layout(num_channels: int, grid: tuple[int, int], budget_bytes: int = PADIM_BUDGET_BYTES) -> tuple[int, int]:
    """(block, channels) for PaDiM: all channels at the finest block sharing that fits the budget,
    else channels reduced at the coarsest block that still keeps the grid divisible."""
    h, w = grid
    blocks = [b for b in (1, 2, 4) if h % b == 0 and w % b == 0]
    for block in blocks:
        if (h * w // block**2) * num_channels**2 * 4 <= budget_bytes:
            return block, num_channels
    block = blocks[min(1, len(blocks) - 1)]
    channels = int(math.sqrt(budget_bytes / 4 / (h * w // block**2)))
    return block, max(8, min(num_channels, channels))
