"""Training data for the classifier: inspection augmentation (albumentations), class balance, samplers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from inspector.errors import InspectorError

PRESETS = ("default", "none")


@dataclass
class AugmentConfig:
    """Knobs of the default inspection pipeline (a JSON file of these keys may be passed to --augment)."""

    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    scale: float = 0.05  # +- relative zoom
    translate: float = 0.05  # +- fraction of the size
    rotate: float = 5.0  # +- degrees
    brightness: float = 0.2
    contrast: float = 0.2
    gamma: tuple[int, int] = (80, 120)
    blur_p: float = 0.2
    noise_p: float = 0.2


def build_augment(cfg: AugmentConfig) -> A.Compose:
    """Flips/rot90 where the part allows, a small affine, photometric changes, blur and sensor noise."""
    ops: list = []
    if cfg.hflip:
        ops.append(A.HorizontalFlip(p=0.5))
    if cfg.vflip:
        ops.append(A.VerticalFlip(p=0.5))
    if cfg.rot90:
        ops.append(A.RandomRotate90(p=0.5))
    if cfg.scale or cfg.translate or cfg.rotate:
        ops.append(
            A.Affine(
                scale=(1 - cfg.scale, 1 + cfg.scale),
                translate_percent=(-cfg.translate, cfg.translate),
                rotate=(-cfg.rotate, cfg.rotate),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.7,
            )
        )
    if cfg.brightness or cfg.contrast:
        ops.append(A.RandomBrightnessContrast(brightness_limit=cfg.brightness, contrast_limit=cfg.contrast, p=0.7))
    if tuple(cfg.gamma) != (100, 100):
        ops.append(A.RandomGamma(gamma_limit=tuple(cfg.gamma), p=0.3))
    if cfg.blur_p:
        ops.append(A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.1, 1.0), p=cfg.blur_p))
    if cfg.noise_p:
        ops.append(A.GaussNoise(std_range=(0.01, 0.04), per_channel=False, p=cfg.noise_p))
    return A.Compose(ops)


def load_augment(spec: str | None, *, flips: bool = True, rot90: bool = True) -> A.Compose:
    """The pipeline for --augment: a preset (default, none), a JSON of AugmentConfig keys, or an
    albumentations A.to_dict JSON (as saved in a run's augment.json)."""
    if spec in (None, "default"):
        return build_augment(AugmentConfig(hflip=flips, vflip=flips, rot90=rot90))
    if spec == "none":
        return A.Compose([])
    path = Path(spec)
    if not path.is_file():
        raise InspectorError(
            f"--augment {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a file",
            "pass default, none, or a JSON file (augmentation knobs or an A.to_dict pipeline)",
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InspectorError(f"--augment file {path} is not readable JSON ({exc})", "fix the JSON") from exc
    if isinstance(data, dict) and "transform" in data:
        try:
            return A.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectorError(
                f"--augment file {path} is not a valid albumentations pipeline ({exc})",
                "write it with A.to_dict(pipeline)",
            ) from exc
    known = {f.name for f in fields(AugmentConfig)}
    unknown = sorted(set(data) - known) if isinstance(data, dict) else ["<not an object>"]
    if unknown:
        raise InspectorError(f"--augment file {path}: unknown keys {unknown}", f"use keys among {sorted(known)}")
    return build_augment(AugmentConfig(**data))


def augment_json(pipeline: A.Compose) -> str:
    return json.dumps(A.to_dict(pipeline), indent=2, sort_keys=True)


class ImageSet(Dataset):
    """uint8 images already at model size; each item is (augmented uint8 HxWx3 tensor, class index)."""

    def __init__(self, images: Sequence[np.ndarray], targets: Sequence[int], transform: A.Compose | None = None):
        self.images, self.targets, self.transform = list(images), list(targets), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(image)), self.targets[index]


def class_weights(targets: Sequence[int], num_classes: int, power: float = 0.5) -> np.ndarray:
    """Per-class weight n_c^-power, normalised to mean 1 over the present classes (0.5: square-root balance)."""
    counts = np.bincount(np.asarray(targets), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1) ** -power, 0.0)
    return weights / weights[counts > 0].mean()


class WeightedDistributedSampler(DistributedSampler):
    """A DistributedSampler that draws (with replacement) by per-sample weights; each rank takes its share."""

    def __init__(self, weights: Sequence[float], num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        self.weights = torch.as_tensor(np.asarray(weights), dtype=torch.double)
        super().__init__(
            range(len(self.weights)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False
        )

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = torch.multinomial(self.weights, self.total_size, replacement=True, generator=generator)
        return iter(drawn[self.rank : self.total_size : self.num_replicas].tolist())


def make_sampler(
    targets: Sequence[int], num_classes: int, balance: str, *, seed: int, rank: int = 0, world: int = 1
) -> Sampler:
    """`sampler`: weighted draws (square-root class balance); else a plain (distributed) shuffle."""
    if balance == "sampler":
        per_class = class_weights(targets, num_classes)
        return WeightedDistributedSampler(per_class[np.asarray(targets)], num_replicas=world, rank=rank, seed=seed)
    return DistributedSampler(range(len(targets)), num_replicas=world, rank=rank, shuffle=True, seed=seed)
