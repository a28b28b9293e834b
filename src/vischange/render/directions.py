"""Renders of activation directions: one image per direction of a layer's activation space.

Each image maximizes ``dot x cos^n`` (:func:`.objectives.direction_cossim`) between the
layer's activation and its direction, both whitened (:func:`whitened_direction_cossim`),
at the centre neuron of the layer's map as lucid's activation-atlas recipe does
(``lucid/recipes/activation_atlas/render.py``, ``render_icons`` with
``direction_neuron_cossim_S``), or averaged over space (``objective="mean"``); under
lucid's atlas transforms (:func:`.transforms.atlas_transforms`: pad 16, jitters 4, 4, 8,
8, 8, scales 0.998^20..0.998^39, rotations within 20 degrees, jitter 2) or the channel
renders' standard chain. lucid renders 1,024 steps in ``aligned_activation_atlas`` (128
by default in ``render_icons``) with Adam at 0.05; steps, learning rate and
parameterization come from the caller's config. Not matched: lucid also adds
``penalize_boundary_complexity`` (w = 5) and, when ``num_attempts`` > 1, keeps the best
of several attempts. Images are rendered in batches (one direction per image of the batch), each with its own
seeded random streams (from its seed alone, so a direction renders the same whatever
else shares its batch). The atlas renders its cells' icons with it, and the patch
experiment the same cells at patch resolution.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..runtime import derive_seed
from .engine import auto_batch_size, render
from .objectives import Objective, at_position, direction_cossim
from .param import make_param
from .transforms import atlas_transforms, standard_transforms

__all__ = ["whitened_direction_cossim", "render_directions"]


def whitened_direction_cossim(
    layer: str, whitening: Tensor, vectors: Tensor, cossim_pow: float, position: str = "center"
) -> Objective:
    """``dot x cos^n`` of whitened activations ``W a`` with whitened directions
    ``u = W v / |W v|``, at the centre position (``position="center"``, lucid's) or at
    every position, averaged over space (``"mean"``).

    The dot product is ``a . W^2 v = a . S^-1 v``, lucid's whitened direction objective
    (its ``vec @ S`` with ``S`` the inverse covariance). The cosine is taken in the
    whitened space too: against the raw activation, the direction ``S^-1 v`` has a cosine
    near zero for every natural activation (the inverse amplifies rare directions), so
    the cosine factor would sit at its clamp and do nothing; in whitened space it
    measures, as intended, whether the activation points the way the cell's mean does.

    Args:
        layer: layer key; whitening: (C, C) ``W``; vectors: (N, C) whitened unit
            directions ``u``, one per image; cossim_pow: n; position: ``"center"`` or
            ``"mean"``.
    """
    inner = direction_cossim(layer, vectors, cossim_pow, position=position)
    w = torch.as_tensor(whitening, dtype=torch.float32)

    def fn(acts):
        # The centre is selected before whitening: the objective reads nothing else.
        a = at_position(acts[layer], position, "whitened_direction_cossim")
        return inner({layer: torch.einsum("dc,nc...->nd...", w.to(a.device, a.dtype), a)})

    return Objective(fn, {layer}, f"whitened_direction_cossim({layer}, pow={cossim_pow:g}, {position})")


def _generators(seeds: np.ndarray, stream: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(derive_seed(int(s), stream)) for s in seeds]


def render_directions(
    model: nn.Module,
    layer: str,
    directions: np.ndarray,
    seeds: np.ndarray,
    *,
    whitening: Optional[np.ndarray] = None,
    size: int,
    steps: int,
    lr: float,
    param: str,
    cossim_pow: float,
    redirect_steps: int,
    batch_size: Optional[int],
    device: torch.device,
    normalize: Optional[Callable[[Tensor], Tensor]] = None,
    param_kwargs: Optional[dict] = None,
    progress: bool = True,
    objective: str = "center",
    transforms: str = "atlas",
) -> tuple[Tensor, np.ndarray]:
    """Render one image per direction (an atlas icon, an atlas patch).

    Args:
        model: the network whose layer the directions live in.
        layer: dotted module name.
        directions: (M, C) unit directions in whitened space (``W v / |W v|``, see
            :func:`vischange.atlas.grid.whiten_directions`).
        whitening: (C, C) whitening matrix ``W``; None for none (identity).
        seeds: (M,) one seed per direction (e.g. :func:`vischange.atlas.icons.icon_seed`):
            its initial image and transform draws.
        size, steps, lr, param, redirect_steps: as for channel renders.
        cossim_pow: exponent n of the cosine factor.
        batch_size: images per optimization batch; None renders all at once on the CPU
            and picks the largest batch that fits on CUDA.
        objective: ``"center"`` (lucid's centre neuron) or ``"mean"`` (over space).
        transforms: ``"atlas"`` (lucid's atlas chain) or ``"standard"`` (its
            feature-visualization chain, as the channel renders use).

    Returns:
        ``(images, objective)``: (M, 3, size, size) float in [0, 1] on the CPU and (M,)
        final objective values.
    """
    directions = np.asarray(directions, dtype=np.float32)
    m = len(directions)
    if m == 0:
        return torch.zeros(0, 3, size, size), np.zeros(0)
    param_kwargs = dict(param_kwargs or {})
    if transforms not in ("atlas", "standard"):
        raise ValueError(f"transforms must be 'atlas' or 'standard', got {transforms!r}")
    chain = atlas_transforms(size) if transforms == "atlas" else standard_transforms(size)

    def run(index: np.ndarray, n_steps: int, show: bool):
        p = make_param(param, len(index), size, generator=_generators(seeds[index], 0), **param_kwargs)
        vectors = torch.from_numpy(directions[index])
        if whitening is None:
            target = direction_cossim(layer, vectors, cossim_pow, position=objective)
        else:
            target = whitened_direction_cossim(layer, torch.from_numpy(whitening), vectors, cossim_pow, objective)
        return render(
            model, target, p, steps=n_steps, lr=lr, transforms=chain,
            redirect_steps=redirect_steps, generator=_generators(seeds[index], 1),
            device=device, progress=show, normalize=normalize,
        )

    if batch_size is None:
        if device.type == "cuda":
            batch_size = auto_batch_size(lambda k: run(np.zeros(k, dtype=np.int64), 1, False), device, m)
        else:
            batch_size = m
    images, values = [], []
    starts = range(0, m, batch_size)
    for start in tqdm(starts, desc=f"directions {layer}", disable=not progress or len(starts) == 1):
        index = np.arange(start, min(start + batch_size, m))
        result = run(index, steps, progress and len(starts) == 1)
        images.append(result.images)
        values.append(result.objective.numpy())
    return torch.cat(images), np.concatenate(values)
