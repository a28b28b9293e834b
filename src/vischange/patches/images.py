"""Images as the network sees them before normalization, rendered patches, and the source class's test images."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..datasets import eval_transform, read_classes, read_manifest
from ..runtime import derive_seed


def load_images(paths: Sequence[str], size: int, crop_fraction: float) -> torch.Tensor:
    """Images as the network sees them before normalization: (N, 3, size, size) in [0, 1]."""
    transform = eval_transform(size, crop_fraction=crop_fraction)
    out = []
    for path in paths:
        with Image.open(path) as image:
            out.append(transform(image.convert("RGB")))
    return torch.stack(out)


def load_png(path: str | Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def source_images(manifest: str | Path, classes: str | Path, name: str, max_images: int | None,
                  seed: int) -> tuple[list[str], list[str]]:
    """The test images of class ``name``, a seeded subset of at most ``max_images`` kept
    in manifest order: (paths as the manifest writes them, absolute paths)."""
    frame = read_manifest(manifest)
    names = read_classes(classes)
    if name not in names:
        raise ValueError(f"{name!r} is not a class of {classes}")
    part = frame[frame["label"] == names.index(name)]
    if max_images is not None and len(part) > max_images:
        picks = np.random.default_rng(derive_seed(seed, "patch-images", name)).choice(len(part), max_images, replace=False)
        part = part.iloc[np.sort(picks)]
    return [str(p) for p in part["path"]], [str(p) for p in part["abspath"]]
