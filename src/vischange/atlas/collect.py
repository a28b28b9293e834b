"""Collection: one activation vector per image at a random spatial position, and its
attribution to every class.

As in the Activation Atlas article, each image contributes one activation vector (the
C channel values at one spatial position of the layer, drawn at random with a seed),
so the atlas samples the layer's activation space over the dataset rather than
averaging away where things are. Each vector also gets an attribution vector with one
entry per class of the network: ``attr[k] = a . d logit_k / d a`` (gradient x
activation at that position, summed over channels, as in Building Blocks), the
first-order effect of that activation on class k's logit.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import models
from ..activations import layer_shapes

__all__ = ["draw_positions", "draw_moment_positions", "activations_and_attributions", "collect"]

log = logging.getLogger(__name__)


def draw_positions(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """(n, 2) int64 random (row, column) positions in a height x width map, seeded.

    Drawn once per image set, independently of the network, so two networks with the
    same architecture are sampled at the same position of the same image."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(0, height, n), rng.integers(0, width, n)]).astype(np.int64)


def draw_moment_positions(n: int, height: int, width: int, k: int, seed: int) -> np.ndarray:
    """(n, min(k, height * width)) int64 flat positions (row * width + column) per image,
    distinct within an image, seeded: where the whitening's second moment is sampled.
    All positions of the map when ``k`` reaches its size."""
    size = height * width
    k = min(int(k), size)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n, size)), axis=1)[:, :k].astype(np.int64)


def _spatial_shape(model: nn.Module, layer: str, image: Tensor) -> tuple[int, int]:
    shape = layer_shapes(model, [layer], image[:1])[layer]
    if len(shape) != 4:
        raise ValueError(f"layer {layer!r} gives shape {shape}; atlases need (N, C, H, W) maps")
    return shape[2], shape[3]


def activations_and_attributions(
    model: nn.Module, layer: str, images: Tensor, positions: Tensor, moment_positions: Tensor | None = None
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Activation vectors at given positions and their gradient x activation attributions.

    One forward pass in forward-mode AD: the layer's output gets the tangent that equals
    the activation at the chosen position (zero elsewhere), so the tangent of the logits
    is ``J a`` -- for every class at once -- where J is the Jacobian of the logits with
    respect to the activation at that position. That is exactly ``a . grad_a logit_k``
    for all K classes, without K backward passes (ImageNet has 1000 classes).

    Args:
        model: classifier in eval mode; ``layer`` a dotted module name with (N, C, H, W) output.
        images: (N, 3, H', W') normalized network input.
        positions: (N, 2) int64 (row, column) in the layer's map.
        moment_positions: optional (N, k) int64 flat positions whose activations are
            also returned (for the whitening's second moment; no attribution).

    Returns:
        ``(acts, attr)``: (N, C) and (N, K) float32 on the CPU; with
        ``moment_positions`` also (N * k, C) float32, image-major.

    The hook is registered here rather than through :mod:`vischange.activations`:
    it must *replace* the layer's output with a dual tensor, which a capture cannot.
    """
    module = models.get_module(model, layer)
    n = images.shape[0]
    positions = positions.to(images.device)
    index = torch.arange(n, device=images.device)
    store: dict[str, Tensor] = {}

    def hook(_m, _i, out):
        ys, xs = positions[:, 0], positions[:, 1]
        acts = out[index, :, ys, xs]  # (N, C)
        tangent = torch.zeros_like(out)
        tangent[index, :, ys, xs] = acts
        store["acts"] = acts.detach().float().cpu()
        if moment_positions is not None:
            flat = out.detach().flatten(2)  # (N, C, H*W)
            idx = moment_positions.to(out.device)[:, None, :].expand(-1, flat.shape[1], -1)
            store["moment"] = flat.gather(2, idx).transpose(1, 2).reshape(-1, flat.shape[1]).float().cpu()
        return fwAD.make_dual(out, tangent)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad(), fwAD.dual_level():
            logits = model(images)
            attr = fwAD.unpack_dual(logits).tangent
    finally:
        handle.remove()
    if attr is None:
        raise RuntimeError(f"the logits do not depend on {layer!r}")
    if moment_positions is not None:
        return store["acts"], attr.float().cpu(), store["moment"]
    return store["acts"], attr.float().cpu()


def collect(
    model: nn.Module,
    layer: str,
    batches: Iterable[tuple[Tensor, Sequence[int]]],
    n_images: int,
    seed: int,
    device: torch.device,
    progress: bool = True,
    moment_positions: int = 0,
) -> dict[str, np.ndarray]:
    """Run ``n_images`` images through ``model`` and collect one sample per image.

    Args:
        batches: yields (normalized images (B, 3, H, W), their sample indices 0..n-1 in order).
        n_images: total number of images the batches hold.
        seed: seeds the positions (see :func:`draw_positions`).
        moment_positions: k > 0 also collects the activations at k random positions of
            every image (all positions when k reaches the map size; see
            :func:`draw_moment_positions`) as ``"moment_acts"`` (N * k, C), from which the
            whitening's second moment is estimated: more samples per dimension than the
            one vector per image that the layout uses.

    Returns:
        ``{"acts": (N, C) float32, "attributions": (N, K) float32, "positions": (N, 2)
        int64, "map_shape": (2,) int64}``, and when asked ``"moment_acts"`` with
        ``"moment_positions"`` ((N, k) int64 flat positions, row * width + column).
    """
    model.eval().to(device)
    acts, attrs, moments = [], [], []
    positions = moment = None
    for images, indices in tqdm(batches, desc=f"collect {layer}", disable=not progress):
        images = images.to(device)
        if positions is None:
            height, width = _spatial_shape(model, layer, images)
            positions = draw_positions(n_images, height, width, seed)
            if moment_positions > 0:
                moment = draw_moment_positions(n_images, height, width, moment_positions, seed + 1)
        idx = np.asarray(indices)
        if moment is not None:
            a, r, m = activations_and_attributions(
                model, layer, images, torch.from_numpy(positions[idx]), torch.from_numpy(moment[idx])
            )
            moments.append(m)
        else:
            a, r = activations_and_attributions(model, layer, images, torch.from_numpy(positions[idx]))
        acts.append(a)
        attrs.append(r)
    if positions is None:
        raise ValueError("no images to collect from")
    out = {
        "acts": torch.cat(acts).numpy(),
        "attributions": torch.cat(attrs).numpy(),
        "positions": positions,
        "map_shape": np.array([height, width], dtype=np.int64),
    }
    if moments:
        out["moment_acts"] = torch.cat(moments).numpy()
        out["moment_positions"] = moment
    if len(out["acts"]) != n_images:
        raise RuntimeError(f"collected {len(out['acts'])} samples for {n_images} images")
    log.info("collected %d samples of %s (%d channels, map %dx%d)", n_images, layer, out["acts"].shape[1], height, width)
    return out
