"""Transformation robustness for feature visualization.

Every transform is a callable ``t(images, generator=None) -> images`` mapping a
float batch (N, C, H, W) to (N, C, H', W'); every random quantity is drawn once
*per image* (never one draw shared by the batch), from ``generator``: ``None``
(torch's global RNG), one CPU ``torch.Generator`` for the whole batch, or a
sequence of N generators (image i draws only from the i-th, so its draws do
not depend on the rest of the batch).  All transforms are differentiable with
respect to the images.

:class:`Compose` fuses runs of consecutive affine transforms
(:class:`RandomScale`, :class:`RandomRotate`) into one ``grid_sample`` call so
the image is interpolated once per run.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ._rng import GeneratorArg, randint_per_image

__all__ = [
    "Transform",
    "Pad",
    "Jitter",
    "RandomScale",
    "RandomRotate",
    "Resize",
    "Compose",
    "standard_transforms",
]

Transform = Callable[..., Tensor]


def _check(images: Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")


class Pad:
    """Pad every side by ``px`` pixels: (N, C, H, W) -> (N, C, H+2px, W+2px).

    Args:
        px: padding width in pixels (>= 0).
        mode: ``"constant"`` (fill with ``value``; lucid pads with 0.5 gray)
            or ``"reflect"`` (mirror, requires px < H and px < W).
        value: fill value for ``"constant"``.

    Deterministic; ``generator`` is accepted for a uniform interface.
    """

    def __init__(self, px: int, mode: str = "constant", value: float = 0.5) -> None:
        if px < 0:
            raise ValueError("px must be >= 0")
        if mode not in ("constant", "reflect"):
            raise ValueError(f"mode must be 'constant' or 'reflect', got {mode!r}")
        self.px, self.mode, self.value = int(px), mode, float(value)

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        if self.px == 0:
            return images
        pad = (self.px,) * 4
        if self.mode == "reflect":
            return F.pad(images, pad, mode="reflect")
        return F.pad(images, pad, mode="constant", value=self.value)

    def __repr__(self) -> str:
        return f"Pad({self.px}, mode={self.mode!r})"


class Jitter:
    """Random per-image integer translation by cropping (lucid's jitter).

    Each image is cropped to (H-px, W-px) at its own offset (dy, dx), each
    uniform in {0, ..., px}: (N, C, H, W) -> (N, C, H-px, W-px).  Pixel values
    are copied exactly (no interpolation).

    Args:
        px: maximum translation in pixels (>= 0, < H and < W).
    """

    def __init__(self, px: int) -> None:
        if px < 0:
            raise ValueError("px must be >= 0")
        self.px = int(px)

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        n, _, h, w = images.shape
        if self.px == 0:
            return images
        if self.px >= min(h, w):
            raise ValueError(f"jitter {self.px} px too large for {h}x{w} images")
        offsets = randint_per_image(generator, n, self.px + 1, (2,)).to(images.device)
        hc, wc = h - self.px, w - self.px
        rows = offsets[:, 0, None] + torch.arange(hc, device=images.device)  # (N, hc)
        cols = offsets[:, 1, None] + torch.arange(wc, device=images.device)  # (N, wc)
        batch = torch.arange(n, device=images.device)[:, None, None]
        # Advanced indexing puts the indexed dims first: (N, hc, wc, C).
        out = images[batch, :, rows[:, :, None], cols[:, None, :]]
        return out.permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return f"Jitter({self.px})"


class _Affine:
    """Size-preserving random affine warp, sampled bilinearly.

    Subclasses return per-image 2x3 matrices in ``F.affine_grid``'s normalized
    coordinates, mapping output positions to input positions.  Areas sampled
    from outside the image are filled by reflection, so no artificial border
    appears.
    """

    def matrices(self, n: int, h: int, w: int, generator: GeneratorArg) -> Tensor:
        """(N, 3, 3) float64 homogeneous matrices on CPU."""
        raise NotImplementedError

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        n, _, h, w = images.shape
        return _warp(images, self.matrices(n, h, w, generator))


def _warp(images: Tensor, mats: Tensor) -> Tensor:
    theta = mats[:, :2, :].to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _pick(generator: GeneratorArg, n: int, choices: Tensor) -> Tensor:
    """One element of ``choices`` (1-D) per image, uniformly: (N,)."""
    idx = randint_per_image(generator, n, len(choices))[:, 0]
    return choices[idx.cpu()]


class RandomScale(_Affine):
    """Per-image random zoom about the image centre; output size unchanged.

    Each image draws a factor uniformly from ``scales``; factor s > 1 enlarges
    the content (its border leaves the frame), s < 1 shrinks it (the frame is
    filled by reflection).  (N, C, H, W) -> (N, C, H, W).

    Args:
        scales: candidate scale factors (> 0).
    """

    def __init__(self, scales: Sequence[float]) -> None:
        self.scales = torch.tensor([float(s) for s in scales], dtype=torch.float64)
        if self.scales.numel() == 0 or (self.scales <= 0).any():
            raise ValueError("scales must be a non-empty sequence of positive numbers")

    def matrices(self, n: int, h: int, w: int, generator: GeneratorArg) -> Tensor:
        s = _pick(generator, n, self.scales)
        mats = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        mats[:, 0, 0] = 1.0 / s
        mats[:, 1, 1] = 1.0 / s
        return mats

    def __repr__(self) -> str:
        return f"RandomScale({self.scales.tolist()})"


class RandomRotate(_Affine):
    """Per-image random rotation about the image centre; output size unchanged.

    Each image draws an angle (degrees) uniformly from ``degrees`` (repeat an
    entry to weight it).  The rotation is done in pixel units, so it is a true
    rotation for non-square images.  (N, C, H, W) -> (N, C, H, W).

    Args:
        degrees: candidate angles in degrees.
    """

    def __init__(self, degrees: Sequence[float]) -> None:
        self.degrees = torch.tensor([float(d) for d in degrees], dtype=torch.float64)
        if self.degrees.numel() == 0:
            raise ValueError("degrees must be a non-empty sequence")

    def matrices(self, n: int, h: int, w: int, generator: GeneratorArg) -> Tensor:
        rad = _pick(generator, n, self.degrees) * (math.pi / 180.0)
        cos, sin = torch.cos(rad), torch.sin(rad)
        # Normalized coords are (x * 2/W, y * 2/H) of pixel coords; rotate in
        # pixel coords: theta = D^-1 R D with D = diag(W/2, H/2).
        mats = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        mats[:, 0, 0] = cos
        mats[:, 0, 1] = -sin * (h / w)
        mats[:, 1, 0] = sin * (w / h)
        mats[:, 1, 1] = cos
        return mats

    def __repr__(self) -> str:
        return f"RandomRotate({self.degrees.tolist()})"


class Resize:
    """Bilinear resize to a fixed size: (N, C, H, W) -> (N, C, *size).

    Identity when the input already has that size.  No antialiasing (the
    size changes involved are small and the op stays cheap to differentiate).

    Args:
        size: int (square) or (H, W).
    """

    def __init__(self, size: Union[int, Tuple[int, int]]) -> None:
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        if tuple(images.shape[-2:]) == self.size:
            return images
        return F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class Compose:
    """Apply transforms in order, fusing consecutive affine ones.

    A run of consecutive :class:`RandomScale` / :class:`RandomRotate` is
    applied as a single warp whose per-image matrix is the product of the
    run's matrices; random draws are made in the same order as applying them
    one by one.
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms: List[Transform] = list(transforms)

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        pending: Optional[Tensor] = None  # accumulated (N, 3, 3) matrices
        for t in self.transforms:
            if isinstance(t, _Affine):
                n, _, h, w = images.shape
                m = t.matrices(n, h, w, generator)
                # Output->input maps compose as first-applied @ later-applied.
                pending = m if pending is None else pending @ m
                continue
            if pending is not None:
                images, pending = _warp(images, pending), None
            images = t(images, generator)
        if pending is not None:
            images = _warp(images, pending)
        return images

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


# lucid's default candidate sets (at 224 px): scales 0.90..1.10 in steps of
# 0.02, integer angles -10..10 with extra weight on 0.
_LUCID_SCALES = [1.0 + (i - 5) / 50.0 for i in range(11)]
_LUCID_DEGREES = list(range(-10, 11)) + [0] * 5


def standard_transforms(size: Union[int, Tuple[int, int]]) -> Compose:
    """lucid's standard robustness chain, scaled to the image size.

    Pad 12 (constant 0.5), jitter 8, random scale 0.90-1.10, random rotation
    -10..10 degrees, jitter 4 -- pixel amounts multiplied by min(H, W)/224 and
    rounded, at least 1 px -- followed by a bilinear :class:`Resize` back to
    ``size``, so the network always sees (N, C, *size) for inputs of ``size``.

    Args:
        size: the parameterization's image size, int or (H, W).
    """
    hw = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    factor = min(hw) / 224.0

    def px(v: float) -> int:
        return max(1, int(round(v * factor)))

    return Compose(
        [
            Pad(px(12), mode="constant", value=0.5),
            Jitter(px(8)),
            RandomScale(_LUCID_SCALES),
            RandomRotate(_LUCID_DEGREES),
            Jitter(px(4)),
            Resize(hw),
        ]
    )
