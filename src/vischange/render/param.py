"""Image parameterizations for feature visualization.

Each parameterization is an ``nn.Module`` that owns the trainable parameters of
a batch of ``N`` images; ``forward()`` takes no input and returns the images as
a float tensor of shape ``(N, 3, H, W)`` with values in ``[0, 1]``.

* :class:`FourierImage` -- lucid's decorrelated Fourier parameterization.
* :class:`PixelImage` -- plain pixels through a sigmoid.
* :class:`MagnitudeConstrainedImage` -- MACO (Fel et al., 2023): the Fourier
  magnitude is fixed, only the phase is optimized.

:func:`param_arguments` derives a parameterization's dataset statistics (colour
matrix, mean spectrum) from a manifest's images (:func:`dataset_images`).

Randomness comes only from the ``generator`` argument: one CPU
``torch.Generator`` for the whole batch, or a sequence of ``N`` generators (one
per image, so an image's initialization does not depend on its batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ..datasets import eval_transform, read_manifest
from ..runtime import derive_seed
from ._rng import GeneratorArg, randn_per_image

__all__ = [
    "FourierImage",
    "PixelImage",
    "MagnitudeConstrainedImage",
    "color_matrix_from_images",
    "mean_magnitude_spectrum",
    "make_param",
    "PARAM_NAMES",
    "dataset_images",
    "param_arguments",
]

Size = Union[int, Tuple[int, int]]

# Images are processed in chunks in the dataset statistics so memory stays
# bounded for large image sets.
_CHUNK = 256


def _as_hw(size: Size) -> Tuple[int, int]:
    if isinstance(size, int):
        h = w = size
    else:
        h, w = (int(s) for s in size)
    if h < 2 or w < 2:
        raise ValueError(f"image size must be at least 2x2, got {size!r}")
    return h, w


def _frequencies(h: int, w: int) -> Tensor:
    """Radial spatial frequency, cycles per pixel, of each ``rfft2`` bin: (h, w//2+1)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def _normalized_color_matrix(color_matrix: Optional[Tensor]) -> Tensor:
    """(3, 3) colour-mixing matrix divided by its largest column norm.

    The normalization (as in lucid) keeps every output channel's amplitude at
    most that of the decorrelated input, so the sigmoid's range is not
    overshot by the mixing.
    """
    if color_matrix is None:
        return torch.eye(3)
    m = torch.as_tensor(color_matrix, dtype=torch.float32).detach().cpu()
    if m.shape != (3, 3):
        raise ValueError(f"color_matrix must have shape (3, 3), got {tuple(m.shape)}")
    norm = torch.linalg.vector_norm(m, dim=0).max()
    if not torch.isfinite(norm) or norm <= 0:
        raise ValueError("color_matrix must have a finite, non-zero column")
    return m / norm


def _mix_colors(x: Tensor, matrix: Tensor) -> Tensor:
    """Apply a (3, 3) matrix to the channel vector of every pixel of (N, 3, H, W)."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x.dtype), x)


def _check_images(images: Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (M, 3, H, W), got {tuple(images.shape)}")
    if images.shape[0] < 1:
        raise ValueError("need at least one image")


def color_matrix_from_images(images: Tensor) -> Tensor:
    """Square root of the RGB covariance of a set of images.

    Args:
        images: (M, 3, H, W) float, values in [0, 1].

    Returns:
        (3, 3) float32 matrix ``S = U diag(sqrt(lambda))`` from the eigen
        decomposition ``cov = U diag(lambda) U^T`` of the 3x3 pixel-colour
        covariance, so ``S @ S.T == cov``.  Columns are ordered by decreasing
        eigenvalue (first column: the dominant, usually luminance, direction)
        and each column's sign is chosen so its entries sum to >= 0; the
        result is therefore unique for a given covariance.  Mixing white noise
        with ``S`` gives noise with the images' colour correlations.  The
        parameterizations rescale it by its largest column norm.
    """
    _check_images(images)
    n = 0
    total = torch.zeros(3, dtype=torch.float64)
    outer = torch.zeros(3, 3, dtype=torch.float64)
    for chunk in images.split(_CHUNK):
        pix = chunk.detach().to("cpu", torch.float64).permute(1, 0, 2, 3).reshape(3, -1)
        n += pix.shape[1]
        total += pix.sum(dim=1)
        outer += pix @ pix.T
    if n < 2:
        raise ValueError("need at least two pixels to estimate a covariance")
    mean = total / n
    cov = (outer - n * torch.outer(mean, mean)) / (n - 1)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0).clamp_min(0.0), evecs.flip(1)
    signs = torch.where(evecs.sum(dim=0) < 0, -1.0, 1.0).to(evecs.dtype)
    return (evecs * signs * evals.sqrt()).to(torch.float32)


def mean_magnitude_spectrum(images: Tensor, color_matrix: Optional[Tensor] = None) -> Tensor:
    """Mean Fourier magnitude of a set of images, for :class:`MagnitudeConstrainedImage`.

    Args:
        images: (M, 3, H, W) float, values in [0, 1].
        color_matrix: the (3, 3) colour matrix that will be passed to the
            parameterization, or None.  When given, images are first mapped
            back through the inverse of the (normalized) matrix, because the
            parameterization constrains the magnitude *before* colour mixing.

    Returns:
        (3, H, W//2+1) float32: mean over images of ``|rfft2(image)|`` with
        orthonormal scaling (``norm="ortho"``), per channel.
    """
    _check_images(images)
    unmix = None
    if color_matrix is not None:
        unmix = torch.linalg.inv(_normalized_color_matrix(color_matrix).double())
    acc = None
    for chunk in images.split(_CHUNK):
        x = chunk.detach().to("cpu", torch.float64)
        if unmix is not None:
            x = _mix_colors(x, unmix)
        mag = torch.fft.rfft2(x, norm="ortho").abs().sum(dim=0)
        acc = mag if acc is None else acc + mag
    return (acc / images.shape[0]).to(torch.float32)


class FourierImage(nn.Module):
    """lucid-style decorrelated Fourier image parameterization.

    The trainable parameter is a complex spectrum (stored as real/imag pairs)
    of shape (N, 3, H, W//2+1, 2).  The image is ``sigmoid(C @ x)`` where
    ``x = irfft2(spectrum / f**decay_power) / 4`` (orthonormal FFT scaling, so
    ``init_std`` is the per-bin standard deviation) and ``C`` is the colour
    matrix normalized by its largest column norm.  Dividing by the frequency
    ``f`` (cycles/pixel, clamped below at 1/max(H, W) so the DC bin is finite)
    gives every frequency band roughly equal gradient energy, which is what
    makes this parameterization converge to low-noise images.  The factor 1/4
    is lucid's and keeps the initial image inside the sigmoid's linear range.

    Args:
        n: batch size N.
        size: H = W = size, or (H, W).
        decay_power: exponent of the 1/f spectrum scaling.
        color_matrix: (3, 3) colour correlation square root (see
            :func:`color_matrix_from_images`); identity if None.
        init_std: standard deviation of the initial spectrum coefficients.
        generator: CPU generator(s) for the initialization.

    ``forward()`` returns (N, 3, H, W) float in [0, 1].
    """

    def __init__(
        self,
        n: int,
        size: Size,
        decay_power: float = 1.0,
        color_matrix: Optional[Tensor] = None,
        init_std: float = 0.01,
        generator: GeneratorArg = None,
    ) -> None:
        super().__init__()
        self.n = int(n)
        self.height, self.width = _as_hw(size)
        h, w = self.height, self.width
        min_freq = 1.0 / max(h, w)
        scale = _frequencies(h, w).clamp_min(min_freq).pow(-float(decay_power))
        self.register_buffer("scale", scale.to(torch.float32))
        self.register_buffer("color_matrix", _normalized_color_matrix(color_matrix))
        init = randn_per_image(generator, self.n, (3, h, w // 2 + 1, 2)) * init_std
        self.spectrum = nn.Parameter(init)

    def spatial(self) -> Tensor:
        """Decorrelated-space image before colour mixing and sigmoid: (N, 3, H, W)."""
        spec = torch.view_as_complex(self.spectrum) * self.scale
        img = torch.fft.irfft2(spec, s=(self.height, self.width), norm="ortho")
        return img / 4.0

    def forward(self) -> Tensor:
        return torch.sigmoid(_mix_colors(self.spatial(), self.color_matrix))


class PixelImage(nn.Module):
    """Plain pixel parameterization: ``sigmoid(p)`` with ``p`` of shape (N, 3, H, W).

    Args:
        n: batch size N.
        size: H = W = size, or (H, W).
        init_std: standard deviation of the initial logits ``p`` (mean 0, so
            images start near gray).
        generator: CPU generator(s) for the initialization.

    ``forward()`` returns (N, 3, H, W) float in [0, 1].
    """

    def __init__(
        self, n: int, size: Size, init_std: float = 0.01, generator: GeneratorArg = None
    ) -> None:
        super().__init__()
        self.n = int(n)
        self.height, self.width = _as_hw(size)
        init = randn_per_image(generator, self.n, (3, self.height, self.width)) * init_std
        self.pixels = nn.Parameter(init)

    def forward(self) -> Tensor:
        return torch.sigmoid(self.pixels)


def _conjugate_columns(h: int, w: int) -> Tuple[Tensor, Tensor]:
    """Indices for Hermitian symmetry of an ``rfft2`` half-spectrum.

    In the half-spectrum of a real (h, w) image, the column kx = 0 (and kx =
    w/2 for even w) holds both ky and -ky, which must be complex conjugates.
    Returns ``(rows, mask)``: ``rows[ky] = (-ky) mod h`` and a bool mask of
    shape (w//2+1,) marking those self-conjugate columns.
    """
    rows = (-torch.arange(h)) % h
    mask = torch.zeros(w // 2 + 1, dtype=torch.bool)
    mask[0] = True
    if w % 2 == 0:
        mask[w // 2] = True
    return rows, mask


class MagnitudeConstrainedImage(nn.Module):
    """MACO parameterization (Fel et al., 2023): fixed magnitude, free phase.

    The image is built from a fixed magnitude spectrum ``M`` (a buffer, not
    trained) and a trainable phase ``phi`` of shape (N, 3, H, W//2+1):
    ``x = irfft2(M * exp(i phi))`` (orthonormal scaling), standardized per
    image over (C, H, W) to zero mean and unit variance, colour-mixed and
    passed through a sigmoid.  Standardizing keeps the images from collapsing
    to gray, whatever the overall scale of ``M``.

    The phase is made Hermitian-consistent in the columns kx = 0 and kx = W/2
    (``phi(-ky) = -phi(ky)``; zero at self-conjugate bins), and ``M`` is
    symmetrized there, so ``|rfft2(x)|`` equals ``M`` exactly (see
    :meth:`raw_spatial`) instead of being silently altered by ``irfft2``.

    Like the authors' reference code (Horama, ``maco_fv.maco_preconditioner``),
    the trainable phase is itself standardized (zero mean, unit variance per
    image, over (C, H, W//2+1)) before it enters the spectrum
    (``standardize_phase=True``), so the optimizer's step size acts on a
    phase of fixed spread; the spectrum is then built, inverted, standardized
    in space, colour-mixed and passed through a sigmoid, as there.  The
    differences from Horama: the magnitude comes from the studied dataset
    (not a downloaded ImageNet spectrum), the colour matrix too, the output is
    in [0, 1] (Horama scales the sigmoid to (-2.5, 2.5), the network's input
    range), and the Hermitian columns are made consistent (Horama leaves that
    to ``irfft2``).  The optimizer, crops and noise of their recipe live in
    :func:`vischange.render.engine.maco_recipe`: NAdam at learning rate 1.0
    on a canvas larger than the network's input.

    Args:
        n: batch size N.
        size: H = W = size, or (H, W).
        magnitude: (3, H, W//2+1) non-negative magnitude spectrum, e.g. from
            :func:`mean_magnitude_spectrum`; only its relative values matter.
        color_matrix: (3, 3) colour correlation square root applied after
            standardization; identity if None.
        generator: CPU generator(s); the initial phase is standard normal.
        standardize_phase: standardize the phase before use (the authors'
            recipe); False uses the raw phase.

    ``forward()`` returns (N, 3, H, W) float in [0, 1].
    """

    def __init__(
        self,
        n: int,
        size: Size,
        magnitude: Tensor,
        color_matrix: Optional[Tensor] = None,
        generator: GeneratorArg = None,
        standardize_phase: bool = True,
    ) -> None:
        super().__init__()
        self.n = int(n)
        self.standardize_phase = bool(standardize_phase)
        self.height, self.width = _as_hw(size)
        h, w = self.height, self.width
        magnitude = torch.as_tensor(magnitude, dtype=torch.float32).detach().cpu()
        if magnitude.shape != (3, h, w // 2 + 1):
            raise ValueError(
                f"magnitude must have shape (3, {h}, {w // 2 + 1}) for size {(h, w)}, "
                f"got {tuple(magnitude.shape)}"
            )
        if (magnitude < 0).any() or not torch.isfinite(magnitude).all():
            raise ValueError("magnitude must be finite and non-negative")
        rows, mask = _conjugate_columns(h, w)
        magnitude = torch.where(mask, 0.5 * (magnitude + magnitude[:, rows, :]), magnitude)
        self.register_buffer("magnitude", magnitude)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_mask", mask, persistent=False)
        self.register_buffer("color_matrix", _normalized_color_matrix(color_matrix))
        self.phase = nn.Parameter(randn_per_image(generator, self.n, (3, h, w // 2 + 1)))

    def _consistent_phase(self) -> Tensor:
        phase = self.phase
        if self.standardize_phase:
            mean = phase.mean(dim=(1, 2, 3), keepdim=True)
            std = phase.std(dim=(1, 2, 3), keepdim=True)
            phase = (phase - mean) / (std + 1e-4)
        # Made Hermitian-consistent after standardizing, so the shift by the mean
        # cannot break phi(-ky) = -phi(ky).
        antisym = 0.5 * (phase - phase[:, :, self._rows, :])
        return torch.where(self._mask, antisym, phase)

    def raw_spatial(self) -> Tensor:
        """Image before standardization: (N, 3, H, W); ``|rfft2(., norm="ortho")|`` of
        it equals the (symmetrized) ``magnitude`` buffer."""
        phi = self._consistent_phase()
        spec = torch.polar(self.magnitude.expand_as(phi), phi)
        return torch.fft.irfft2(spec, s=(self.height, self.width), norm="ortho")

    def spatial(self) -> Tensor:
        """Standardized image before colour mixing and sigmoid: (N, 3, H, W)."""
        x = self.raw_spatial()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + 1e-5)

    def forward(self) -> Tensor:
        return torch.sigmoid(_mix_colors(self.spatial(), self.color_matrix))


PARAM_NAMES = ("fourier", "pixel", "maco")


def make_param(name: str, n: int, size: Size, *, generator: GeneratorArg = None, **kwargs) -> nn.Module:
    """Build a parameterization by name.

    Args:
        name: one of ``"fourier"`` (:class:`FourierImage`), ``"pixel"``
            (:class:`PixelImage`), ``"maco"`` (:class:`MagnitudeConstrainedImage`,
            requires ``magnitude=``).
        n, size, generator: passed to the class.
        **kwargs: remaining keyword arguments of the class.
    """
    if name == "fourier":
        return FourierImage(n, size, generator=generator, **kwargs)
    if name == "pixel":
        return PixelImage(n, size, generator=generator, **kwargs)
    if name == "maco":
        if "magnitude" not in kwargs:
            raise TypeError(
                "param 'maco' needs magnitude= (a (3, H, W//2+1) tensor, "
                "e.g. from mean_magnitude_spectrum(images))"
            )
        return MagnitudeConstrainedImage(n, size, generator=generator, **kwargs)
    raise ValueError(f"unknown parameterization {name!r}; allowed: {', '.join(PARAM_NAMES)}")


def dataset_images(manifest: str | Path, size: int, n_images: int = 256, seed: int = 0) -> Tensor:
    """Up to `n_images` seeded random images of a manifest, (M, 3, size, size) in [0, 1].

    lucid uses ImageNet's colour matrix; estimating it (and MACO's spectrum) from these
    keeps the parameterization matched to whatever dataset is studied.
    """
    frame = read_manifest(manifest)
    rng = np.random.default_rng(derive_seed(seed, "color-matrix"))
    picks = rng.choice(len(frame), size=min(n_images, len(frame)), replace=False)
    transform = eval_transform(size, crop_fraction=1.0)
    images = []
    for path in frame["abspath"].iloc[np.sort(picks)]:
        with Image.open(path) as image:
            images.append(transform(image.convert("RGB")))
    return torch.stack(images)


def param_arguments(param: str, manifest: str | Path | None, size: int, seed: int) -> dict:
    """Dataset-derived keyword arguments of a parameterization, for :func:`make_param`.

    fourier and maco decorrelate colour with the dataset's colour matrix; maco also fixes
    its Fourier magnitude to the dataset's mean spectrum (no download, as MACO allows).
    None or "pixel": no arguments.
    """
    if manifest is None or param == "pixel":
        return {}
    images = dataset_images(manifest, size, seed=seed)
    matrix = color_matrix_from_images(images)
    if param == "maco":
        return {"color_matrix": matrix, "magnitude": mean_magnitude_spectrum(images, matrix)}
    return {"color_matrix": matrix}
