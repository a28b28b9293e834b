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

from ._rng import GeneratorArg, draw_per_image, randint_per_image

__all__ = [
    "Transform",
    "Pad",
    "Jitter",
    "RandomScale",
    "RandomRotate",
    "Resize",
    "Compose",
    "RandomCrops",
    "standard_transforms",
    "atlas_transforms",
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


def atlas_transforms(size: Union[int, Tuple[int, int]]) -> Compose:
    """lucid's activation-atlas icon chain (``lucid/recipes/activation_atlas/render.py``,
    ``render_icons``, commented "holy mother of transforms"), scaled to the icon size.

    Pad 16 (constant 0.5), jitter 4, 4, 8, 8, 8, random scale from
    ``0.998 ** n`` for n = 20..39 (0.961 down to 0.925: a slow shrink), random
    rotation from ``range(-20, 20) + range(-10, 10) + range(-5, 5) + 5 x [0]``
    degrees (so small angles weigh more), jitter 2, and back to ``size``.  Pixel
    amounts are lucid's at its default icon size of 80 px, multiplied by
    min(H, W)/80 and rounded (at least 1 px).  lucid ends with a centre
    ``crop_or_pad_to(size)``; here a bilinear :class:`Resize` to ``size`` does
    that job, so the network sees the same field of view at every icon size
    (the jitters remove 34 px at 80 px, which a centre crop would leave as an
    uncropped border of 0.5 gray).

    Args:
        size: the icon's side, int or (H, W).
    """
    hw = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    factor = min(hw) / 80.0

    def px(v: float) -> int:
        return max(1, int(round(v * factor)))

    scales = [0.998 ** n for n in range(20, 40)]
    degrees = list(range(-20, 20)) + list(range(-10, 10)) + list(range(-5, 5)) + [0] * 5
    return Compose(
        [
            Pad(px(16), mode="constant", value=0.5),
            Jitter(px(4)),
            Jitter(px(4)),
            Jitter(px(8)),
            Jitter(px(8)),
            Jitter(px(8)),
            RandomScale(scales),
            RandomRotate(degrees),
            Jitter(px(2)),
            Resize(hw),
        ]
    )


class RandomCrops:
    """MACO's robustness: several random square crops of a large canvas per step.

    Matches the recipe of the MACO authors' library (Horama,
    ``common.optimization_step``): for each image, ``n_crops`` boxes are drawn,
    each centred at ``0.5 + 0.15 z`` (z standard normal, per axis, as a fraction
    of the canvas) with a side drawn uniformly from ``box`` (fraction of the
    canvas side); every box is sampled bilinearly at twice the output size and
    shrunk to ``out_size`` with antialiased bicubic interpolation, then Gaussian
    noise (standard deviation ``noise``) and uniform noise (width ``noise``) are
    added.  Horama's arguments ``box_size=(0.20, 0.25)`` give sides uniform in
    [0.25, 0.30] through its formula ``U * (hi - lo) + hi``; ``box`` here is the
    range actually drawn, (0.25, 0.30) by default.  Its ``noise=0.05`` is in
    units of the network input, whose range it sets to 5 (-2.5..2.5); on the
    [0, 1] images here that is ``noise=0.01``.  Where a box leaves the canvas,
    Horama's ``roi_align`` reads zeros (its mid-range); here the canvas is
    reflected.

    (N, C, H, W) -> (n_crops * N, C, out_size, out_size), crop-major: rows
    ``j * N .. j * N + N - 1`` hold crop j of every image, which is how
    :func:`vischange.render.engine.render` averages the objective over an
    image's crops.

    Args:
        n_crops: crops per image and step (Horama: 6).
        out_size: side of each crop as the network sees it.
        box: (low, high) crop side as a fraction of the canvas side.
        center_std: standard deviation of the box centre (fraction of the canvas).
        noise: noise level on [0, 1] images.
    """

    def __init__(
        self,
        n_crops: int,
        out_size: int,
        box: Sequence[float] = (0.25, 0.30),
        center_std: float = 0.15,
        noise: float = 0.01,
    ) -> None:
        if n_crops < 1:
            raise ValueError("n_crops must be >= 1")
        lo, hi = float(box[0]), float(box[1])
        if not 0 < lo <= hi:
            raise ValueError(f"box must satisfy 0 < low <= high, got {tuple(box)}")
        self.n_crops, self.out_size = int(n_crops), int(out_size)
        self.box, self.center_std, self.noise = (lo, hi), float(center_std), float(noise)

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        _check(images)
        n, c, h, w = images.shape
        k = self.n_crops
        # Per image: k centres (x, y), k sides, and the noise of its k crops.
        draws = draw_per_image(
            generator, n,
            lambda g, m, dev: torch.cat(
                [torch.randn((m, k, 2), generator=g, device=dev, dtype=torch.float64),
                 torch.rand((m, k, 1), generator=g, device=dev, dtype=torch.float64)], dim=2),
        ).cpu()
        centres = (draws[..., :2] * self.center_std)  # offset from the canvas centre, fraction of side
        sides = self.box[0] + draws[..., 2] * (self.box[1] - self.box[0])
        # affine_grid: output [-1, 1] -> input [-1, 1]; scale = side, shift = 2 * offset.
        theta = torch.zeros(k, n, 2, 3, dtype=torch.float64)
        theta[..., 0, 0] = sides.T
        theta[..., 1, 1] = sides.T
        theta[..., 0, 2] = 2.0 * centres[..., 0].T
        theta[..., 1, 2] = 2.0 * centres[..., 1].T
        theta = theta.reshape(k * n, 2, 3).to(images.device, images.dtype)
        big = 2 * self.out_size
        grid = F.affine_grid(theta, [k * n, c, big, big], align_corners=False)
        src = images.repeat(k, 1, 1, 1)
        crops = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        crops = F.interpolate(crops, size=(self.out_size, self.out_size), mode="bicubic",
                              align_corners=False, antialias=True)
        if self.noise > 0:
            eps = draw_per_image(
                generator, n,
                lambda g, m, dev: torch.cat(
                    [torch.randn((m, k, c, self.out_size, self.out_size), generator=g, device=dev),
                     torch.rand((m, k, c, self.out_size, self.out_size), generator=g, device=dev) - 0.5], dim=2),
            ).to(images.device, images.dtype)
            eps = eps[:, :, :c] + eps[:, :, c:]  # (N, k, C, S, S)
            crops = crops + self.noise * eps.transpose(0, 1).reshape(k * n, c, self.out_size, self.out_size)
        return crops

    def __repr__(self) -> str:
        return f"RandomCrops({self.n_crops}, {self.out_size}, box={self.box}, noise={self.noise:g})"
