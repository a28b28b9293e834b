"""The seed's feature visualization by repeated upscaling (FeatureMapVisualizer, fast.ai's
filter visualizer): a second, deliberately simple optimization loop beside :mod:`.engine`,
kept to compare the two methods.

It reads the layer through :func:`.hooks.capture` directly rather than through
:mod:`vischange.activations`: the capture is the objective here, and gradients must flow
through it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .hooks import capture

__all__ = ["upscale_sizes", "upscale_render", "upscale_render_many"]


def upscale_sizes(init_size: int, upscaling_steps: int, factor: float) -> list[int]:
    """Image side at each upscaling step: init_size, then int(factor * previous) (the seed's rule)."""
    sizes = [int(init_size)]
    for _ in range(upscaling_steps - 1):
        sizes.append(int(factor * sizes[-1]))
    return sizes


def upscale_render(
    model: nn.Module,
    layer: str,
    channel: int,
    *,
    normalize: Callable[[Tensor], Tensor],
    init_size: int = 33,
    steps: int = 20,
    upscaling_steps: int = 12,
    factor: float = 1.2,
    lr: float = 0.1,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, float]:
    """Feature visualization by repeated upscaling (FeatureMapVisualizer / fast.ai's filter visualizer).

    Start from a small random image (pixels drawn uniformly in [150, 180] / 255, as the seed
    does), optimize the channel's spatial-mean activation with Adam for `steps` steps on
    logit-space pixels (sigmoid keeps the image in [0, 1]), upscale the logits bicubically
    by `factor`, and repeat `upscaling_steps` times (sizes from :func:`upscale_sizes`).
    The model is in eval mode with frozen parameters; no transformations, no
    decorrelation: the point is to compare this simple method with the render engine.

    Returns (image (3, S, S) float in [0, 1] on the CPU with S the last size, final
    activation of the channel on that image). One channel of :func:`upscale_render_many`.
    """
    return upscale_render_many(
        model, layer, [channel], normalize=normalize, init_size=init_size, steps=steps,
        upscaling_steps=upscaling_steps, factor=factor, lr=lr, generators=[generator], device=device,
    )[0]


def upscale_render_many(
    model: nn.Module,
    layer: str,
    channels: Sequence[int],
    *,
    normalize: Callable[[Tensor], Tensor],
    init_size: int = 33,
    steps: int = 20,
    upscaling_steps: int = 12,
    factor: float = 1.2,
    lr: float = 0.1,
    generators: Sequence[torch.Generator | None] | None = None,
    device: torch.device | str = "cpu",
) -> list[tuple[Tensor, float]]:
    """:func:`upscale_render` of several channels at once, one image each, in one batch.

    The images do not interact: in eval mode each image's activations depend on it alone,
    the loss is the sum of the per-image objectives (so each image gets its own gradient),
    and Adam updates every pixel on its own. So each result is the single-channel
    render's, up to float rounding of batched kernels, at a fraction of the time on
    small images. `generators[i]` draws image i's start (None: the global generator).
    Returns [(image (3, S, S) in [0, 1] on the CPU, final activation)], one per channel.
    """
    device = torch.device(device)
    n = len(channels)
    if n == 0:
        return []
    generators = list(generators) if generators is not None else [None] * n
    if len(generators) != n:
        raise ValueError(f"{len(generators)} generators for {n} channels")
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval().requires_grad_(False)
    sizes = upscale_sizes(init_size, upscaling_steps, factor)
    start = torch.cat([torch.rand((1, 3, sizes[0], sizes[0]), generator=g) for g in generators]) * (30 / 255) + 150 / 255
    logits = torch.logit(start).to(device)
    rows = torch.arange(n, device=device)
    index = torch.as_tensor([int(c) for c in channels], device=device)

    def objective(images: Tensor) -> Tensor:  # (n,): each image's own channel, spatial mean
        return cap(normalize(images))[layer][rows, index].float().reshape(n, -1).mean(1)

    try:
        with capture(model, [layer]) as cap:
            for i, size in enumerate(sizes):
                if i:
                    logits = F.interpolate(logits.detach(), size=(size, size), mode="bicubic", align_corners=False)
                logits = logits.detach().requires_grad_(True)
                opt = torch.optim.Adam([logits], lr=lr, weight_decay=1e-6)
                for _ in range(steps):
                    opt.zero_grad(set_to_none=True)
                    (-objective(torch.sigmoid(logits)).sum()).backward()
                    opt.step()
            with torch.no_grad():
                images = torch.sigmoid(logits)
                values = objective(images)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    images = images.detach().cpu()
    return [(images[i], float(values[i])) for i in range(n)]
