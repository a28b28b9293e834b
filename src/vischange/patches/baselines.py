"""Baselines: patches that carry no concept, uniform noise and crops of random training images.

Every draw is seeded from the config seed, the kind, the direction and the draw, never
from the network, so both networks of a shared pair see the very same baseline patches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..datasets import read_classes, read_manifest
from ..runtime import derive_seed
from .images import load_images
from .pasting import patch_pixels


def baseline_seed(seed: int, kind: str, source: str, target: str, draw: int, *extra) -> int:
    """Seed of one baseline draw; independent of the network, so the base and the
    fine-tuned network of a shared pair see the very same baseline patches."""
    return derive_seed(seed, "patch-baseline", kind, source, target, int(draw), *[str(e) for e in extra])


def noise_patch(pixels: int, seed: int) -> torch.Tensor:
    """Uniform random noise in [0, 1], (3, pixels, pixels)."""
    return torch.rand(3, pixels, pixels, generator=torch.Generator().manual_seed(seed))


def crop_box(height: int, width: int, pixels: int, seed: int) -> tuple[int, int]:
    """Seeded (top, left) of a ``pixels``-square crop inside an image."""
    rng = np.random.default_rng(seed)
    return int(rng.integers(0, height - pixels + 1)), int(rng.integers(0, width - pixels + 1))


def crop_patch(image: torch.Tensor, pixels: int, seed: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """A ``pixels``-square cut at native scale from ``image`` (3, H, W) at a seeded
    position; returns (patch (3, pixels, pixels), (top, left))."""
    top, left = crop_box(image.shape[1], image.shape[2], pixels, seed)
    return image[:, top : top + pixels, left : left + pixels].clone(), (top, left)


def pick_crop_image(labels: np.ndarray, exclude: int, seed: int) -> int:
    """Index of a seeded random image whose label is not ``exclude`` (the target)."""
    allowed = np.flatnonzero(np.asarray(labels) != exclude)
    if len(allowed) == 0:
        raise ValueError("every image of the manifest is of the target class: no image to cut a baseline from")
    return int(np.random.default_rng(seed).choice(allowed))


def baseline_patches(
    train_manifest: str | Path, classes: str | Path, *, source: str, target: str, sizes: Sequence[float],
    draws: int, image_size: int, crop_fraction: float, seed: int,
) -> list[dict]:
    """The baseline patches at every size: ``draws`` uniform-noise patches and ``draws``
    squares cut from random training images not of the target class. Each item: kind,
    patch (``draw{j}``), size, pixels, tensor (3, p, p), origin (what it was cut from)."""
    frame = read_manifest(train_manifest)
    target_label = read_classes(classes).index(target)
    out = []
    for j in range(draws):
        k = pick_crop_image(frame["label"].to_numpy(), target_label, baseline_seed(seed, "image", source, target, j))
        picture = load_images([frame["abspath"].iloc[k]], image_size, crop_fraction)[0]
        for size in sizes:
            p = patch_pixels(size, image_size)
            noise = noise_patch(p, baseline_seed(seed, "noise", source, target, j, f"{size:g}"))
            out.append({"kind": "noise", "patch": f"draw{j}", "size": size, "pixels": p, "tensor": noise,
                        "origin": "uniform noise in [0, 1]"})
            crop, (top, left) = crop_patch(picture, p, baseline_seed(seed, "image", source, target, j, f"{size:g}"))
            out.append({"kind": "image", "patch": f"draw{j}", "size": size, "pixels": p, "tensor": crop,
                        "origin": f"{frame['path'].iloc[k]} at (top {top}, left {left})"})
    return out
