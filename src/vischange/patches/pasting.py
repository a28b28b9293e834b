"""Pasting: a square patch, sized as a fraction of the image side, over one of the four corners."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that use it: the patch geometry here is read
# while Snakemake parses the workflow (candidates.py), which does without torch.

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")



def patch_pixels(fraction: float, side: int) -> int:
    """Side in pixels of a patch ``fraction`` of the image side (rounded, at least 1)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"patch size {fraction} is not a fraction in (0, 1]")
    return max(1, min(side, int(round(fraction * side))))


def corner_origin(corner: str, height: int, width: int, pixels: int) -> tuple[int, int]:
    """(top, left) pixel of a ``pixels``-square patch flush with ``corner`` of an image."""
    if corner not in CORNERS:
        raise ValueError(f"corner {corner!r} is not one of {CORNERS}")
    top = 0 if corner.startswith("top") else height - pixels
    left = 0 if corner.endswith("left") else width - pixels
    return top, left


def paste(images: torch.Tensor, patch: torch.Tensor, corner: str) -> torch.Tensor:
    """A copy of ``images`` (N, 3, H, W) with ``patch`` (3, p, p) pasted over ``corner``;
    every other pixel is unchanged."""
    _, _, height, width = images.shape
    p = patch.shape[-1]
    if patch.shape[-2] != p or p > min(height, width):
        raise ValueError(f"patch {tuple(patch.shape)} is not a square that fits {height}x{width} images")
    top, left = corner_origin(corner, height, width, p)
    out = images.clone()
    out[:, :, top : top + p, left : left + p] = patch.to(out.dtype)
    return out


def resize_patch(patch: torch.Tensor, pixels: int) -> torch.Tensor:
    """(3, R, R) in [0, 1] -> (3, pixels, pixels), antialiased when shrinking."""
    import torch.nn.functional as F

    if patch.shape[-1] == pixels:
        return patch.clone()
    out = F.interpolate(patch[None].float(), size=(pixels, pixels), mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp(0, 1)
