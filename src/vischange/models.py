"""Networks: torchvision architectures by name, heads, freezing, and checkpoint files.

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` accepts:
``{"arch", "num_classes", "class_names", "mean", "std", "state_dict"}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from . import names
from .runtime import atomic_path


def available_architectures() -> list[str]:
    """Names of torchvision's image-classification models."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_architecture(arch: str) -> None:
    """Raise ValueError naming close matches if `arch` is not a torchvision classifier."""
    names.check_architecture(arch, available_architectures())


def build(arch: str, num_classes: int = 1000) -> nn.Module:
    """A randomly initialised torchvision `arch` with a `num_classes`-way head."""
    check_architecture(arch)
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def torchvision_state_dict(arch: str, weights: str, progress: bool = False) -> dict:
    """Download (or read from TORCH_HOME) torchvision's `weights` for `arch`, hash-checked.

    torch checks the SHA-256 prefix in the file name (resnet50-0676ba61.pth) only when
    it downloads; a file already in the cache is checked here, so a truncated or
    replaced cache file stops the run instead of loading.
    """
    enum = torchvision.models.get_model_weights(arch)
    try:
        member = enum[weights]
    except KeyError:
        raise ValueError(
            f"{arch} has no torchvision weights {weights!r}; choose from {[w.name for w in enum]}"
        ) from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(member.url).path)
    if cached.is_file():
        check_hub_hash(cached)
    return member.get_state_dict(progress=progress, check_hash=True)


def check_hub_hash(path: str | os.PathLike) -> None:
    """Check a torch hub file against the SHA-256 prefix in its name (name-<hex>.ext); ValueError naming both."""
    import hashlib

    path = Path(path)
    match = torch.hub.HASH_REGEX.search(path.name)
    if not match or not match.group(1):
        return
    prefix = match.group(1)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if not actual.startswith(prefix):
        raise ValueError(
            f"checksum mismatch for cached weights {path} ({path.stat().st_size} bytes):\n"
            f"  expected sha256 starting {prefix} (from the file name)\n"
            f"  actual   sha256:{actual}\n"
            "The file is truncated or corrupt: delete it and rerun to download it again."
        )


def module_names(model: nn.Module) -> list[str]:
    """Dotted names of every submodule, in definition order (the root excluded)."""
    return [name for name, _ in model.named_modules() if name]


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`; KeyError with close matches otherwise."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        raise KeyError(f"model has no module {name!r}{names.did_you_mean(name, [n for n in modules if n])}")
    return modules[name]


def classifier_name(model: nn.Module) -> str:
    """Dotted name of the final nn.Linear, the head that fine-tuning replaces."""
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError("model has no nn.Linear classifier head")
    return linear[-1]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = get_module(model, parent_name) if parent_name else model
    setattr(parent, child, new)


def replace_head(model: nn.Module, num_classes: int, generator: torch.Generator | None = None) -> str:
    """Swap the final Linear for a fresh `num_classes`-way one; returns its name."""
    name = classifier_name(model)
    old = get_module(model, name)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    if generator is not None:
        # Seeded head initialisation, same scheme as nn.Linear's default.
        bound = 1.0 / old.in_features**0.5
        with torch.no_grad():
            new.weight.uniform_(-bound, bound, generator=generator)
            if new.bias is not None:
                new.bias.uniform_(-bound, bound, generator=generator)
    _set_module(model, name, new)
    return name


def freeze_except(model: nn.Module, trainable: Iterable[str]) -> list[nn.Module]:
    """Freeze all parameters but those inside the `trainable` modules; returns those modules."""
    modules = [get_module(model, name) for name in trainable]
    model.requires_grad_(False)
    for module in modules:
        module.requires_grad_(True)
    return modules


def set_train_mode(model: nn.Module, trainable_modules: Sequence[nn.Module] | None) -> None:
    """Train mode only where parameters train: frozen BatchNorms keep their running statistics.

    Without this, a "frozen" layer would still drift through BatchNorm statistics
    and the comparison would attribute that drift to fine-tuning.
    """
    if trainable_modules is None:
        model.train()
        return
    model.eval()
    for module in trainable_modules:
        module.train()


def build_meta(arch: str) -> nn.Module:
    """`arch` on the meta device: module names and shapes without memory or compute."""
    check_architecture(arch)
    with torch.device("meta"):
        return torchvision.models.get_model(arch, weights=None)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    arch: str,
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
) -> None:
    """Write the model's state_dict and what is needed to rebuild and feed it."""
    payload = {
        "arch": arch,
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_network(
    path: str | os.PathLike, device: torch.device | str = "cpu", class_names: Sequence[str] | None = None
) -> tuple[nn.Module, "Normalize", dict]:
    """Rebuild the network saved by `save_checkpoint`, the one way every stage loads one.

    Returns (model in eval mode on `device`, its input normalization (a :class:`Normalize`
    on `device`: images in [0, 1] -> network input), metadata: arch, num_classes,
    class_names, mean, std). With `class_names`, ValueError naming the file unless the
    network's classes are exactly those, in that order.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    if class_names is not None and list(meta["class_names"]) != list(class_names):
        ours, theirs = list(meta["class_names"]), list(class_names)
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        raise ValueError(
            f"{path}: the network's {len(ours)} classes differ from the task's {len(theirs)} "
            f"(first difference at position {first}: {ours[first:first + 1]} vs {theirs[first:first + 1]})"
        )
    model = build(payload["arch"], payload["num_classes"])
    model.load_state_dict(payload["state_dict"])
    normalize = Normalize(meta["mean"], meta["std"]).to(device)
    return model.to(device).eval(), normalize, meta


def for_inference(model: nn.Module) -> nn.Module:
    """`model` (eval mode) with channels-last weights, in place, for many forward passes
    without gradients: oneDNN's convolutions then run about 1.2x faster on the CPU
    (ResNet-18, 64 px, 50 images, one thread); convolution outputs follow the weights'
    layout, so inputs need no conversion. Results change only by float rounding."""
    return model.to(memory_format=torch.channels_last)


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """A local weights file: a bare state_dict or a vischange checkpoint, loaded weights-only."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(payload, dict) and "state_dict" in payload:
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise ValueError(f"{path} holds no state_dict")
    return payload


def check_state_dict(arch: str, state: dict, num_classes: int | None = None, what: str = "the weights") -> int:
    """Raise ValueError unless `state` is a state dict of `arch` that loads strictly, naming
    missing keys, unexpected keys and shape mismatches (at most five of each), or a head
    whose output count differs from `num_classes` (None: not checked). Returns the head's
    output count. Builds the network on the meta device: no memory, no compute."""
    head = f"{classifier_name(build_meta(arch))}.weight"
    if head not in state:
        raise ValueError(f"{what} have no {head!r}: not a {arch} state dict (keys start {sorted(state)[:3]})")
    outputs = int(state[head].shape[0])
    if num_classes is not None and outputs != num_classes:
        raise ValueError(f"the head of {what} ({head}) has {outputs} outputs, but the data has {num_classes} classes")
    with torch.device("meta"):
        ours = torchvision.models.get_model(arch, weights=None, num_classes=outputs).state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(ours[k].shape)})" for k in sorted(set(ours) & set(state))
              if tuple(ours[k].shape) != tuple(state[k].shape)]
    found = [f"{label}: {items[:5]}" + (f" and {len(items) - 5} more" if len(items) > 5 else "")
             for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
             if items]
    if found:
        raise ValueError(f"{what} do not load into {arch}: " + "; ".join(found))
    return outputs


def changed_outside(base: nn.Module, other: nn.Module, trainable: Sequence[str]) -> list[str]:
    """Modules (the owners of state-dict entries) outside `trainable` whose parameters or
    buffers differ, bit for bit, between two networks of one architecture: what a
    fine-tuning that trained only `trainable` must have left alone. Sorted, unique."""
    base_state, other_state = base.state_dict(), other.state_dict()
    inside = tuple(f"{name}." for name in trainable)
    return sorted({key.rpartition(".")[0] for key, value in base_state.items()
                   if not key.startswith(inside) and not torch.equal(value, other_state[key])})


class Normalize(nn.Module):
    """Per-channel (x - mean) / std for images in [0, 1]; shape (N, 3, H, W) in and out."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def write_base_from_weights(out: str | os.PathLike, *, arch: str, base: dict, normalize: dict) -> None:
    """Write models/base.pt from torchvision weights (hash-checked) or a local weights file."""
    if base["source"] == "torchvision":
        import torchvision

        member = torchvision.models.get_model_weights(arch)[base["weights"]]
        state = torchvision_state_dict(arch, base["weights"])
        class_names = list(member.meta.get("categories") or [])
    elif base["source"] == "file":
        if base.get("checksum"):
            from .datasets.download import verify

            verify(base["path"], base["checksum"], key="model.base")
        state = load_state_dict_file(base["path"])
        class_names = []
    else:
        raise ValueError(f"model.base.source {base['source']!r} is not a weights source")
    head = [k for k in state if k.endswith(".weight") and state[k].ndim == 2][-1]
    num_classes = state[head].shape[0]
    model = build(arch, num_classes)
    model.load_state_dict(state)
    if len(class_names) != num_classes:
        class_names = [f"class{i}" for i in range(num_classes)]
    save_checkpoint(out, model, arch=arch, class_names=class_names, mean=normalize["mean"], std=normalize["std"])


def default_gram_layers(model: nn.Module) -> list[str]:
    """`conv1` and every residual block (modules named layerN.M) of a torchvision ResNet
    (:func:`vischange.names.default_gram_layers` of its module names)."""
    return names.default_gram_layers([name for name, _ in model.named_modules()])


def embedding_input_size(arch: str, weights: str) -> int:
    """The crop size a torchvision network's weights were evaluated at (224 for most)."""
    try:
        transforms = torchvision.models.get_model_weights(arch)[weights].transforms()
        return int(transforms.crop_size[0])
    except (KeyError, AttributeError):
        return 224  # a local weights file under an unknown name: the ImageNet convention
