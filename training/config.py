"""What `inspector train` fits, as dataclasses; each field that is a command-line option declares it here.

Torch-free: `training.cli` derives its options from these classes (training.options) without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError
from training.options import option

METHODS = ("patchcore", "padim")
BALANCES = ("sampler", "loss", "none")
SYNTHETIC_DEFECTS = 60
MAX_FIT_VIEWS = 6144
"""Views (tiles, or whole images) of good images the heads fit on, at most: their features stay in memory
(3.8 GB at Lite0's 152 channels of 32x32 patches). Beyond it a seeded sample of the training goods fits
(training.samples.fit_sample), so the fit's memory and time are bounded whatever the dataset's size: 300
training images of 1024x1024 (25 tiles each) peaked at 19.3 GB of RAM before. PatchCore's coreset chooses
from 256k patches (250 views) anyway."""
MAX_DEFECT_VIEWS = 3072
"""Views of validation defects that judge the candidates, at most (1.9 GB of Lite0 features): beyond it a
seeded sample of the defects judges (training.samples.judging_sample), so 500 defective camera frames of 30
tiles each cost what 102 do. The validation goods share MAX_FIT_VIEWS with the training goods' floor."""


@dataclass
class TrainConfig:
    """Options every task shares."""

    data: Path = option("dataset folder (split.csv, MVTec layout or class folders)")
    out: Path = option("run folder to write")
    weights: str | None = option("local weights file (safetensors) for the backbone", None)
    target_frr: float = option("target false-reject rate for the threshold", 0.01)
    seed: int = option("random seed (splits, coreset, augmentation)", 0)
    progress: bool = option("hide progress bars", True)

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if not 0 < self.target_frr < 1:
            raise InspectorError(f"--target-frr {self.target_frr} must be between 0 and 1", "e.g. --target-frr 0.01")


@dataclass
class AnomalyConfig(TrainConfig):
    """Task `anomaly`: learn good parts only (training.anomaly)."""

    backbone: str = option("timm model name", "tf_efficientnet_lite0")
    image_size: int | tuple[int, int] = option(  # a base side (geometry from the data) or an exact (H, W)
        "anomaly: a base side N (the geometry keeps the images' aspect ratio at about N*N pixels, default 256) "
        "or an exact HxW; classify: the square side (default 224)",
        256,
        type=str,
        cli_default=None,
    )
    tile: str | None = option(
        "anomaly tiling: auto (default: tile when one view would shrink parts more than 2x), "
        "none, or a tile side / HxW",
        None,
    )
    method: str = option(
        "auto: fit each and keep the best by detection at its calibrated threshold on validation defects "
        "(synthetic ones where there are none)",
        "auto",
        choices=("auto", *METHODS),
    )
    coreset_size: int = option("PatchCore memory bank size (upper bound)", 2048)
    add_reviewed: Path | None = option(
        "a review queue folder from the GUI: its false rejects join the good training images, its escapes the "
        "validation defects (in memory; run.json records them; docs/improvement-loop.md)",
        None,
        metavar="QUEUE",
    )
    batch_size: int = 16  # feature extraction batch (not an option: --batch-size is the classifier's)
    synthetic_defects: int = SYNTHETIC_DEFECTS
    max_fit_views: int = MAX_FIT_VIEWS  # the fit's memory bound (not an option)
    max_defect_views: int = MAX_DEFECT_VIEWS  # the judging's memory bound (not an option)


@dataclass
class ClassifyConfig(TrainConfig):
    """Task `classify`: learn every labelled class (training.classify)."""

    arch: str = option(
        "timm CNN (CAM maps), a timm ViT (e.g. vit_tiny_patch16_224, from scratch unless --weights), "
        "or CNN+attention (e.g. tf_efficientnet_lite0+attention: a Transformer over the pretrained "
        "CNN's patch features)",
        "tf_efficientnet_lite0",
    )
    image_size: int = 224
    epochs: int = option("training epochs", 10)
    batch_size: int = option("global batch size (split across processes)", 32)
    lr: float = option("AdamW peak learning rate (cosine, warm-up 1 epoch)", 1e-3)
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    label_smoothing: float = option("label smoothing of the cross-entropy", 0.1)
    patience: int = option("early stopping: epochs without val macro-F1 gain", 4)
    balance: str = option(
        "class imbalance: weighted sampling or weighted loss (square-root inverse frequency)",
        "sampler",
        choices=BALANCES,
    )
    freeze_stages: int = option("freeze the pretrained CNN's stem and first N feature stages (0: train all)", 2)
    augment: str | None = option(
        "default, none, or a JSON file (augmentation knobs or an albumentations A.to_dict)", None
    )
    flips: bool = option("no flips (parts with a handedness)", True, flag="--no-flip")
    rot90: bool = option("no 90-degree rotations (parts with an orientation)", True)
    resume: Path | None = option(
        "continue from a run folder or its checkpoint.safetensors (pickle files are refused)", None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InspectorError(
                    f"--{name.replace('_', '-')} must be at least 1", "e.g. --epochs 10 --batch-size 32"
                )
