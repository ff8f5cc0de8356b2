"""Classifier modules: uint8 NHWC image -> logits, and an `explain` path -> (logits, class/attention maps).

Three kinds share one interface (and so one bundle):

* ``cnn``: any timm CNN whose head is global-average-pool + linear; the class-activation map of
  class k is the classifier row k applied to the last feature map (CAM).
* ``attention``: a small Transformer encoder (class token, learned positions) over the patch
  features of a pretrained CNN stage (``--arch tf_efficientnet_lite0+attention``); its map is the
  class token's attention to the patches in the last layer, averaged over heads.
* ``vit``: a timm Vision Transformer (from scratch or --weights); map as for ``attention``.

Normalisation is inside the module, so it travels into the exported graph.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from inspector.errors import InspectorError

HYBRID_SUFFIX = "+attention"


class Normalise(nn.Module):
    """uint8 NHWC RGB -> float NCHW, (x/255 - mean) / std."""

    def __init__(self, mean, std) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image.permute(0, 3, 1, 2).float() - self.mean) / self.std


def arch_kind(arch: str) -> str:
    """'attention' for '<cnn>+attention', 'vit' for timm Vision Transformers, else 'cnn'."""
    if arch.endswith(HYBRID_SUFFIX):
        return "attention"
    return "vit" if arch.startswith(("vit_", "deit_", "eva", "beit")) else "cnn"


class CnnClassifier(nn.Module):
    kind = "cnn"

    def __init__(self, backbone: nn.Module, mean, std) -> None:
        super().__init__()
        self.norm = Normalise(mean, std)
        self.backbone = backbone
        classifier = backbone.get_classifier()
        if not isinstance(classifier, nn.Linear):
            raise InspectorError(
                f"{type(backbone).__name__} has no linear classifier, so no class-activation map",
                "pick a CNN with an average-pool + linear head (EfficientNet, ResNet, MobileNet)",
            )

    def features(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(self.norm(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(self.features(image))

    def explain(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [N, K], CAMs [N, K, h, w]) with CAM_k = w_k . features (+ b_k)."""
        f = self.features(image)
        classifier = self.backbone.get_classifier()
        cams = F.conv2d(f, classifier.weight[:, :, None, None], classifier.bias)
        return self.backbone.forward_head(f), cams

    def check_cam(self, size: int) -> None:
        """Refuse heads where the mean of the CAMs is not the logits (CAM would not explain them)."""
        was = self.training
        self.eval()
        with torch.no_grad():
            logits, cams = self.explain(torch.randint(0, 255, (1, size, size, 3), dtype=torch.uint8))
        self.train(was)
        if not torch.allclose(logits, cams.mean((2, 3)), atol=1e-3, rtol=1e-3):
            raise InspectorError(
                f"{type(self.backbone).__name__}: its head is not average-pool + linear, so no class-activation map",
                "pick an EfficientNet, ResNet or MobileNet-style CNN",
            )


class Block(nn.Module):
    """Pre-norm Transformer block that also returns its attention weights [N, heads, T, T]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, drop: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Dropout(drop), nn.Linear(int(dim * mlp_ratio), dim)
        )
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d // self.heads)), dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, attn


class AttentionClassifier(nn.Module):
    """Transformer encoder over a pretrained CNN stage's patch features, classified by a class token."""

    kind = "attention"

    def __init__(
        self,
        backbone: nn.Module,
        stage: int,
        channels: int,
        grid: tuple[int, int],
        num_classes: int,
        mean,
        std,
        dim: int = 192,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.norm = Normalise(mean, std)
        self.backbone = backbone
        self.stage = int(stage)
        self.grid = tuple(grid)
        self.embed = nn.Conv2d(channels, dim, 1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, grid[0] * grid[1] + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def explain(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [N, K], attention map [N, 1, h, w] of the class token in the last layer)."""
        f = self.backbone.forward_intermediates(self.norm(image), indices=[self.stage], intermediates_only=True)[0]
        tokens = self.embed(f).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        attn = None
        for block in self.blocks:
            x, attn = block(x)
        logits = self.head(self.out_norm(x[:, 0]))
        amap = attn[:, :, 0, 1:].mean(1).reshape(-1, 1, self.grid[0], self.grid[1])
        return logits, amap

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.explain(image)[0]


class VitClassifier(nn.Module):
    """A timm VisionTransformer; the map is the last block's class-token attention."""

    kind = "vit"

    def __init__(self, vit: nn.Module, mean, std) -> None:
        super().__init__()
        self.norm = Normalise(mean, std)
        self.backbone = vit
        self.grid = tuple(vit.patch_embed.grid_size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.norm(image))

    def explain(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vit = self.backbone
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(self.norm(image)))))
        for block in vit.blocks[:-1]:
            x = block(x)
        last = vit.blocks[-1]
        attn_mod = last.attn
        n, t, _ = x.shape
        qkv = attn_mod.qkv(last.norm1(x)).reshape(n, t, 3, attn_mod.num_heads, attn_mod.head_dim).permute(2, 0, 3, 1, 4)
        q, k = attn_mod.q_norm(qkv[0]), attn_mod.k_norm(qkv[1])
        attn = torch.softmax((q * attn_mod.scale) @ k.transpose(-2, -1), dim=-1)
        prefix = vit.num_prefix_tokens
        amap = attn[:, :, 0, prefix:].mean(1).reshape(-1, 1, self.grid[0], self.grid[1])
        x = vit.norm(last(x))
        return vit.forward_head(x), amap


class ClassifyGraph(nn.Module):
    """What the bundle computes: uint8 image -> score = 1 - P(good) [N], map [N, H, W] in [0, 1], probs [N, K].

    The map is the CAM of the most probable defect class (CNN) or the attention map (Transformers),
    rectified, upsampled to the input size and divided by its per-image maximum.
    """

    def __init__(self, model: nn.Module, size: tuple[int, int], num_classes: int, good_index: int | None = 0) -> None:
        super().__init__()
        self.model = model
        self.size = tuple(size)
        self.good_index = good_index  # None: a typer (defect types only), score = 1 - the top probability
        not_defect = (
            torch.zeros(1, num_classes)
            if good_index is None
            else F.one_hot(torch.tensor(good_index), num_classes).float().view(1, -1) * 2.0
        )
        self.register_buffer("not_defect", not_defect)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, maps = self.model.explain(image)
        probs = torch.softmax(logits, dim=1)
        score = 1.0 - (probs.amax(dim=1) if self.good_index is None else probs[:, self.good_index])
        if maps.shape[1] > 1:  # class maps: pick the most probable defect class
            index = (
                (probs - self.not_defect).argmax(dim=1).view(-1, 1, 1, 1).expand(-1, 1, maps.shape[2], maps.shape[3])
            )
            maps = torch.gather(maps, 1, index)
        maps = F.interpolate(torch.relu(maps), size=self.size, mode="bilinear", align_corners=False)[:, 0]
        peak = maps.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
        return score, maps / peak, probs
