"""Images as lossless PNG files: the one writer for renders, icons, patches and atlas canvases."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..runtime import atomic_path

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["to_uint8", "save_png"]


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) float image in [0, 1] -> (H, W, 3) uint8 numpy array (for PNGs).
    Values are clamped to [0, 1] and rounded to the nearest level."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got {tuple(image.shape)}")
    import torch

    arr = (image.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return arr.permute(1, 2, 0).contiguous().numpy()


def save_png(image: Tensor | np.ndarray, path: str | os.PathLike) -> None:
    """Write an 8-bit lossless PNG atomically, without metadata.

    image: a (3, H, W) float tensor in [0, 1] (a render; see :func:`to_uint8`) or an
    (H, W, 3) uint8 array (e.g. an atlas canvas), written as is.
    """
    torch = sys.modules.get("torch")  # a tensor implies torch is loaded; arrays need no torch
    if torch is not None and isinstance(image, torch.Tensor):
        image = to_uint8(image)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
