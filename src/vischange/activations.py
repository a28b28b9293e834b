"""The one way to read a layer's activations: batches, a tensor of images, a manifest, or shapes only.

Every reader is built on :func:`vischange.render.hooks.capture`, so keys are the
capture's: ``"layer4"`` (a module's output), ``"layer4:pre"`` (its pre-ReLU),
``"fc:in"`` (a module's input; :func:`head_input` names the classifier head's, the
penultimate features) and ``"logits"``. The model runs in eval mode without gradients,
and the forward pass stops as soon as every key is captured, so later layers cost
nothing.

``reduce`` says what is kept of each key, inside the hook (so a full map never
outlives its module): ``"none"`` (the tensor as captured, e.g. (N, C, h, w) maps),
``"mean"`` (the spatial mean, (N, C, h, w) -> (N, C)), or a function of the tensor.
One value applies to every key; a mapping gives one per key ("none" for keys it omits).
Results are float32; images are (N, 3, H, W) in [0, 1], normalized by ``normalize``.

Not here, on purpose: the render engine's loop and the upscaling render (they need
gradients through the capture, :mod:`vischange.render`), Captum's Grad-CAM (its own
hooks), and the atlas collection's forward-mode AD hook (it replaces a module's output,
:mod:`vischange.atlas.collect`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import models
from .datasets import ManifestDataset, eval_transform
from .render import IN_SUFFIX, capture

Reduce = Union[str, Callable[[Tensor], Tensor]]
Layers = Union[str, Sequence[str]]

__all__ = [
    "Reduce", "spatial_mean", "head_input", "manifest_loader", "iter_activations", "image_activations",
    "loader_activations", "manifest_activations", "layer_shapes", "module_channels", "layer_channels",
]


def spatial_mean(t: Tensor) -> Tensor:
    """(N, C, h, w) -> (N, C) float32: the mean over positions."""
    return t.float().mean((2, 3))


def head_input(model: nn.Module) -> str:
    """The key of the classifier head's input (``"fc:in"`` for a ResNet): the penultimate features."""
    return f"{models.classifier_name(model)}{IN_SUFFIX}"


def manifest_loader(
    manifest: str | Path, image_size: int, crop_fraction: float, batch_size: int = 64, workers: int = 0
) -> tuple[ManifestDataset, DataLoader]:
    """(dataset, loader) of a manifest with the evaluation view: items (image (3, S, S) in [0, 1],
    label), in manifest order."""
    dataset = ManifestDataset(manifest, eval_transform(image_size, crop_fraction=crop_fraction))
    return dataset, DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


def _reducers(keys: Sequence[str], reduce: Reduce | Mapping[str, Reduce]) -> dict[str, Callable[[Tensor], Tensor]]:
    per_key = reduce if isinstance(reduce, Mapping) else {k: reduce for k in keys}
    stray = sorted(set(per_key) - set(keys))
    if stray:
        raise ValueError(f"reduce names keys that are not read: {stray}")
    out = {}
    for key in keys:
        how = per_key.get(key, "none")
        if callable(how):
            out[key] = how
        elif how == "mean":
            out[key] = spatial_mean
        elif how != "none":
            raise ValueError(f"reduce must be 'none', 'mean' or a function, got {how!r}")
    return out


@torch.no_grad()
def iter_activations(
    model: nn.Module,
    layers: Layers,
    batches: Iterable[tuple[Tensor, Any]],
    *,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str | None = None,
    reduce: Reduce | Mapping[str, Reduce] = "none",
    channels: Sequence[int] | Tensor | None = None,
    cpu: bool = True,
    progress: bool = False,
    desc: str = "",
) -> Iterator[tuple[Tensor | dict[str, Tensor], Any]]:
    """Stream the activations of `layers` over `batches` of (images, anything).

    Yields, per batch, (activations, the batch's second item, e.g. its labels or
    dataset indices). Activations: for a single key (a str) a float32 tensor, for a
    list of keys ``{key: tensor}`` in the order the forward pass reached them; (N, C,
    h, w) maps, (N, C) with reduce "mean". `channels` keeps only those channels (dim 1).
    `cpu`: move the results to the CPU (else they stay on the model's device).
    The capture's hooks stay on the model while the generator is suspended.
    """
    keys = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    index = None if channels is None else torch.as_tensor(channels, dtype=torch.long)
    model.eval()
    with capture(model, keys, reduce=_reducers(keys, reduce)) as cap:
        for images, extra in tqdm(batches, desc=desc, disable=not progress, leave=False):
            x = images.to(device) if device is not None else images
            if normalize is not None:
                x = normalize(x)
            out = {}
            for key, t in cap(x).items():
                t = t.float()
                if index is not None:
                    t = t[:, index.to(t.device)]
                out[key] = t.cpu() if cpu else t
            yield (out[layers] if isinstance(layers, str) else out), extra


def _concat(parts: list) -> Tensor | dict[str, Tensor]:
    if isinstance(parts[0], Tensor):
        return parts[0] if len(parts) == 1 else torch.cat(parts)
    return {k: parts[0][k] if len(parts) == 1 else torch.cat([p[k] for p in parts]) for k in parts[0]}


def image_activations(
    model: nn.Module,
    layers: Layers,
    images: Tensor,
    *,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str | None = None,
    reduce: Reduce | Mapping[str, Reduce] = "none",
    batch_size: int | None = None,
    channels: Sequence[int] | Tensor | None = None,
    cpu: bool = True,
) -> Tensor | dict[str, Tensor]:
    """Activations of `layers` for images (N, 3, H, W) in [0, 1], in batches of `batch_size`
    (None: one batch). A str key gives a tensor, a list ``{key: tensor}`` (see
    :func:`iter_activations`); (N, C, h, w) float32, (N, C) with reduce "mean"."""
    if len(images) == 0:
        raise ValueError("no images")
    chunks = images.split(batch_size) if batch_size else (images,)
    parts = [acts for acts, _ in iter_activations(
        model, layers, ((chunk, None) for chunk in chunks), normalize=normalize, device=device, reduce=reduce,
        channels=channels, cpu=cpu)]
    return _concat(parts)


def loader_activations(
    model: nn.Module,
    layers: Layers,
    loader: Iterable[tuple[Tensor, Any]],
    *,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str | None = None,
    reduce: Reduce | Mapping[str, Reduce] = "mean",
    progress: bool = True,
    desc: str = "",
) -> np.ndarray | dict[str, np.ndarray]:
    """Activations of `layers` over a whole loader, concatenated in its order, as float32
    numpy arrays: (N, C) for reduce "mean" (the default), (N, D) for a head input."""
    parts = [acts for acts, _ in iter_activations(
        model, layers, loader, normalize=normalize, device=device, reduce=reduce, progress=progress, desc=desc)]
    if not parts:
        raise ValueError("no images")
    out = _concat(parts)
    return out.numpy() if isinstance(out, Tensor) else {k: v.numpy() for k, v in out.items()}


def manifest_activations(
    model: nn.Module,
    layers: Layers,
    manifest: str | Path,
    *,
    image_size: int,
    crop_fraction: float,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str | None = None,
    reduce: Reduce | Mapping[str, Reduce] = "mean",
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
    desc: str = "",
) -> tuple[np.ndarray | dict[str, np.ndarray], np.ndarray]:
    """(activations as :func:`loader_activations`, labels (N,) int64) of every image of a
    manifest, in manifest order, with the evaluation view (:func:`manifest_loader`)."""
    dataset, loader = manifest_loader(manifest, image_size, crop_fraction, batch_size=batch_size, workers=workers)
    acts = loader_activations(model, layers, loader, normalize=normalize, device=device, reduce=reduce,
                              progress=progress, desc=desc)
    return acts, np.asarray(dataset.labels, dtype=np.int64)


@torch.no_grad()
def layer_shapes(model: nn.Module, layers: Sequence[str], example: Tensor | int) -> dict[str, tuple[int, ...]]:
    """Shape of each key for one input: `example` is an input batch, or an image side S
    for an empty (1, 3, S, S) input on the model's device (shapes without compute on a
    meta-device model from :func:`vischange.models.build_meta`).

    RuntimeError when a module never runs in the forward pass; KeyError for unknown names.
    """
    if isinstance(example, int):
        device = next(model.parameters()).device
        example = torch.empty(1, 3, example, example, device=device)
    model.eval()
    with capture(model, list(layers)) as cap:
        got = cap(example)
    return {key: tuple(got[key].shape) for key in layers}


def module_channels(model: nn.Module, layers: Sequence[str], image_size: int = 224) -> dict[str, int]:
    """Output channels (dim 1) of each named module, from :func:`layer_shapes`."""
    return {key: shape[1] for key, shape in layer_shapes(model, layers, image_size).items()}


def layer_channels(arch: str, layers: Sequence[str], image_size: int = 224) -> dict[str, int]:
    """Output channels of each named module of torchvision `arch`, by a shape-only forward
    pass on the meta device."""
    return module_channels(models.build_meta(arch), layers, image_size)
