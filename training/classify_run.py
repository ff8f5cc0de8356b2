"""Building classifiers, safetensors checkpoints (--resume) and the classify run folder.

A run holds run.json (spec, metrics, threshold), model.safetensors (best weights), augment.json
(the albumentations pipeline, A.to_dict) and checkpoint.safetensors (last epoch, for --resume).
Nothing is pickled: a pickle checkpoint is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from inspector.errors import InspectorError
from training.backbone import create_backbone, normalisation
from training.classify_model import (
    HYBRID_SUFFIX,
    AttentionClassifier,
    CnnClassifier,
    VitClassifier,
    arch_kind,
)
from training.run_summary import RunSummary, load_summary

WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
AUGMENT_FILE = "augment.json"
CHECKPOINT_TAG = "inspector.classify.checkpoint"
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


def _stage_for(feature_info: list[dict]) -> int:
    """The last stage of stride 16 (patch tokens), else the deepest one."""
    strides = [info["reduction"] for info in feature_info]
    return max(i for i, s in enumerate(strides) if s == 16) if 16 in strides else len(strides) - 1


def build_classifier(arch: str, weights: str | None, num_classes: int, size: int) -> tuple[nn.Module, dict]:
    """A classifier with offline pretrained weights, and the spec that rebuilds it without them."""
    kind = arch_kind(arch)
    if kind == "vit":
        vit = create_backbone(arch, weights or "random", img_size=size)
        vit.reset_classifier(num_classes)
        mean, std = normalisation(vit)
        model: nn.Module = VitClassifier(vit, mean, std)
        spec = {"backbone": arch}
    elif kind == "attention":
        name = arch[: -len(HYBRID_SUFFIX)]
        backbone = create_backbone(name, weights)
        mean, std = normalisation(backbone)
        stage = _stage_for(backbone.feature_info)
        channels = backbone.feature_info[stage]["num_chs"]
        stride = backbone.feature_info[stage]["reduction"]
        backbone.prune_intermediate_layers(indices=[stage], prune_head=True)
        grid = (size // stride, size // stride)
        spec = {
            "backbone": name,
            "stage": stage,
            "channels": channels,
            "grid": list(grid),
            "dim": 192,
            "depth": 2,
            "heads": 4,
        }
        model = AttentionClassifier(
            backbone,
            stage,
            channels,
            grid,
            num_classes,
            mean,
            std,
            dim=spec["dim"],
            depth=spec["depth"],
            heads=spec["heads"],
        )
    else:
        backbone = create_backbone(arch, weights)
        backbone.reset_classifier(num_classes)
        mean, std = normalisation(backbone)
        model = CnnClassifier(backbone, mean, std)
        model.check_cam(min(size, 64))
        spec = {"backbone": arch}
    spec.update({"arch": arch, "kind": kind, "num_classes": num_classes, "mean": list(mean), "std": list(std)})
    return model, spec


def rebuild_classifier(spec: dict, size: int) -> nn.Module:
    """The same module as build_classifier, with no pretrained-weight lookup (weights come from the run)."""
    k = spec["num_classes"]
    if spec["kind"] == "vit":
        return VitClassifier(
            timm.create_model(spec["backbone"], pretrained=False, img_size=size, num_classes=k),
            spec["mean"],
            spec["std"],
        )
    if spec["kind"] == "attention":
        backbone = timm.create_model(spec["backbone"], pretrained=False)
        backbone.prune_intermediate_layers(indices=[spec["stage"]], prune_head=True)
        return AttentionClassifier(
            backbone,
            spec["stage"],
            spec["channels"],
            tuple(spec["grid"]),
            k,
            spec["mean"],
            spec["std"],
            dim=spec["dim"],
            depth=spec["depth"],
            heads=spec["heads"],
        )
    return CnnClassifier(
        timm.create_model(spec["backbone"], pretrained=False, num_classes=k), spec["mean"], spec["std"]
    )


def freeze_early(model: nn.Module, stages: int) -> list[nn.Module]:
    """Freeze the CNN's stem and the blocks before feature stage `stages` (0: none); returns the frozen
    BatchNorm layers, which the trainer keeps in eval mode so their statistics stay pretrained."""
    backbone = model.backbone
    info = getattr(backbone, "feature_info", None)
    if stages <= 0 or model.kind == "vit" or not info:
        return []
    info = info.get_dicts() if hasattr(info, "get_dicts") else info
    stop = info[min(stages, len(info) - 1)]["module"] + "."
    for name, param in backbone.named_parameters():
        if name.startswith(stop):
            break
        param.requires_grad_(False)
    return [
        m
        for m in backbone.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and any(True for _ in m.parameters(recurse=False))
        and not any(p.requires_grad for p in m.parameters(recurse=False))
    ]


# ---- checkpoints ---------------------------------------------------------------------------------------------


def save_checkpoint(
    path: Path, model: nn.Module, best: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: dict
) -> None:
    """Model, best weights, optimizer moments and the loop state (JSON metadata) in one safetensors file."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    meta = {CHECKPOINT_TAG: "1", "state": json.dumps(state), "param_groups": json.dumps(opt["param_groups"])}
    tmp = Path(path).with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def _refuse(path: Path, why: str) -> InspectorError:
    return InspectorError(
        f"--resume {path}: {why}",
        f"resume from the {CHECKPOINT_FILE} (or the run folder) written by `inspector train "
        "--task classify`; pickle checkpoints (.pt/.pth) are never loaded",
    )


def resolve_checkpoint(path: Path) -> Path:
    """The checkpoint file for --resume PATH (a file or a run folder); pickle files are refused."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise _refuse(path, f"a {path.suffix} file is a pickle checkpoint, which can run arbitrary code")
    if not path.is_file():
        raise _refuse(path, "no such checkpoint file")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise _refuse(path, "the file is a pickle/zip (torch.save) checkpoint")
    return path


def load_checkpoint(path: Path) -> tuple[dict, dict, dict, dict]:
    """(model state, best state, optimizer state dict, loop state) from a safetensors checkpoint."""
    path = resolve_checkpoint(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _refuse(path, f"not a safetensors file ({exc})") from exc
    if meta.get(CHECKPOINT_TAG) != "1":
        raise _refuse(path, "a safetensors file but not an Inspector classify checkpoint")
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    optimizer = {"state": slots, "param_groups": json.loads(meta["param_groups"])}
    return model, best, optimizer, json.loads(meta["state"])


# ---- the run folder ------------------------------------------------------------------------------------------


def save_classify_run(out: Path, summary: RunSummary, model: nn.Module) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS_FILE))
    summary.write(out)
    (out / "metrics.json").write_text(json.dumps(summary.metrics, indent=2, sort_keys=True))


def load_classify_run(run_dir: Path) -> tuple[RunSummary, nn.Module]:
    """The run's summary and its torch classifier (best weights), in eval mode."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    if summary.task != "classify" or summary.model is None:
        raise InspectorError(f"{run_dir} is a {summary.task!r} run, not classify", "export it with its own task")
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise InspectorError(f"{run_dir}: {WEIGHTS_FILE} is missing", "re-run `inspector train --task classify`")
    model = rebuild_classifier(summary.model, summary.image_size[0])
    model.load_state_dict(load_file(str(weights)))
    return summary, model.eval()
