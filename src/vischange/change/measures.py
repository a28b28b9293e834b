"""Render-free measures of change between a base and a fine-tuned network.

* Linear CKA (Kornblith et al. 2019) between two feature matrices of the same images,
  with a bootstrap interval over images and a shuffled-images reference value.
* Per-channel Pearson correlation of the two networks' activations across images.
* Relative weight change ``||W_ft - W_base||_F / ||W_base||_F`` per module (Neyshabur
  et al. 2020), from two state dicts.

Feature matrices are (N, C): one row per image, one column per channel (for a conv layer,
its spatial mean). Everything is computed in float64.

Exactness is part of the contract: a frozen layer (bit-identical activations in both
networks) gives CKA 1.0 and correlation 1.0 exactly, and a frozen module a weight change
of exactly 0.0, so the tables double as a control of the pipeline. Where a library
routine would lose that (scipy's ``pearsonr`` returns 1 - 1 ulp for about a third of
identical inputs), the formula is written out as ``s_xy / sqrt(s_xx * s_yy)``, whose
value is exactly 1 for identical inputs because ``sqrt(a * a) == a`` in IEEE arithmetic.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats
import torch
from torch import Tensor, nn

__all__ = [
    "linear_cka", "cka_interval", "cka_null", "channel_correlation",
    "weight_change", "tensor_change", "weight_modules", "touches", "identical_upstream",
]

# State-dict entries that are statistics, not weights (BatchNorm's running estimates),
# and a counter that is neither.
STATS = ("running_mean", "running_var")
COUNTERS = ("num_batches_tracked",)


# CKA ----------------------------------------------------------------------------------


def _centred(x: np.ndarray | Tensor, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} must be (N, C) with N >= 2 images, got shape {x.shape}")
    return x - x.mean(axis=0)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """aᵀb. numpy may send a product of one buffer with itself to BLAS syrk, whose rounding
    can differ from the gemm that two buffers take; a copy keeps every product on gemm, so
    identical inputs give identical products (and CKA exactly 1)."""
    if np.shares_memory(a, b):
        b = b.copy()
    return a.T @ b


def _hsic(a: np.ndarray, b: np.ndarray) -> float:
    """||aᵀb||²_F for centred a (N, C1), b (N, C2): HSIC with linear kernels, up to (N-1)²."""
    return float(np.sum(np.square(_cross(a, b))))


def _ratio(xy: float, xx: float, yy: float) -> float:
    # xy / sqrt(xx * yy): exactly 1.0 when all three are equal (sqrt(a * a) == a).
    if xx == 0 or yy == 0:
        return float("nan")
    return float(xy / np.sqrt(xx * yy))


def _constant(x: np.ndarray) -> np.ndarray:
    """(C,) bool: columns with one value over all rows. Tested on the raw values: the
    centred values of a constant column need not be exactly 0 (the mean rounds)."""
    return np.ptp(x, axis=0) == 0


def linear_cka(x: np.ndarray | Tensor, y: np.ndarray | Tensor) -> float:
    """Linear CKA between features x (N, C1) and y (N, C2) of the same N images, in [0, 1].

    The feature-space form of Kornblith et al. (2019), eq. 5, on column-centred features:
    ``||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F)``. Invariant to orthogonal transforms and
    isotropic scaling of either side, not to arbitrary invertible ones. Bit-identical
    inputs give exactly 1.0. NaN when either side is constant over the images.

    Linear CKA is biased upward when channels are many and images few: independent
    features give a value well above 0 (see :func:`cka_null` for the reference).
    """
    x_raw, y_raw = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xc, yc = _centred(x_raw, "x"), _centred(y_raw, "y")
    if len(xc) != len(yc):
        raise ValueError(f"x and y hold different numbers of images: {len(xc)} and {len(yc)}")
    if _constant(x_raw).all() or _constant(y_raw).all():
        return float("nan")
    return _ratio(_hsic(yc, xc), _hsic(xc, xc), _hsic(yc, yc))


def _double_centre(gram: np.ndarray) -> np.ndarray:
    """H K H (H = I - 11ᵀ/N) of a Gram matrix K (N, N): what centring the features does."""
    return gram - gram.mean(axis=0) - gram.mean(axis=1, keepdims=True) + gram.mean()


def centred_grams(*features: np.ndarray | Tensor) -> tuple[np.ndarray, ...]:
    """(N, N) Gram matrix of each column-centred feature array (N, C_i) of the same N
    images, for :func:`cka_of_subsample`."""
    centred = [_centred(f, name) for f, name in zip(features, "xyzw" * len(features))]
    if len({len(c) for c in centred}) > 1:
        raise ValueError(f"the features hold different numbers of images: {[len(c) for c in centred]}")
    return tuple(c @ c.T for c in centred)


def cka_of_subsample(kx: np.ndarray, ky: np.ndarray, rows: np.ndarray) -> float:
    """Linear CKA of the images `rows` (repeats allowed), from the full sample's Gram
    matrices: the same value as linear_cka(x[rows], y[rows]) up to rounding, at O(N²)
    instead of O(N C²) per call (the kernel form, tr(K H L H) = ||YᵀHX||²_F)."""
    k = _double_centre(kx[np.ix_(rows, rows)])
    l = _double_centre(ky[np.ix_(rows, rows)])
    return _ratio(float(np.sum(k * l)), float(np.sum(k * k)), float(np.sum(l * l)))


def cka_interval(
    x: np.ndarray | Tensor, y: np.ndarray | Tensor, *, n_boot: int, confidence: float = 0.95,
    rng: np.random.Generator | int = 0,
) -> tuple[float, float]:
    """Bootstrap interval (low, high) over images of :func:`linear_cka`, in [0, 1].

    Images are resampled with replacement, pairs kept together (row i of x with row i of
    y), by ``scipy.stats.bootstrap`` with `n_boot` resamples drawn from the seeded `rng`.
    The interval is the normal bootstrap interval, CKA ± z · (standard deviation of the
    resampled values), clipped to [0, 1]; bit-identical inputs give (1.0, 1.0).

    Why not the percentile interval: resampling repeats images, and linear CKA rises as
    the distinct images get fewer (strongly when channels outnumber images), so the
    resampled values sit above the estimate and a percentile interval can miss it
    altogether (N=1000, C=512: CKA 0.868, percentile interval 0.899-0.904). Their spread
    still tracks how much CKA moves with another draw of N images (checked in the tests
    against fresh draws), and that is what this interval reports. It says nothing about
    training noise (another fine-tuning seed).
    """
    estimate = linear_cka(x, y)
    if not np.isfinite(estimate):
        return float("nan"), float("nan")
    kx, ky = centred_grams(x, y)
    result = scipy.stats.bootstrap(
        (np.arange(len(kx)),), lambda rows: cka_of_subsample(kx, ky, rows), n_resamples=int(n_boot),
        method="percentile", vectorized=False, rng=np.random.default_rng(rng),
    )
    half = scipy.stats.norm.ppf(0.5 + confidence / 2) * result.standard_error
    return float(max(estimate - half, 0.0)), float(min(estimate + half, 1.0))


def cka_null(
    x: np.ndarray | Tensor, y: np.ndarray | Tensor, *, n_perm: int, rng: np.random.Generator | int = 0
) -> np.ndarray:
    """(n_perm,) linear CKA between x and y with y's images shuffled (seeded permutations):
    what unrelated features with these spectra, image and channel counts give. Linear CKA
    is far from 0 for unrelated features when channels are many and images few, so a value
    is read against this reference, not against 0."""
    k, l = (_double_centre(g) for g in centred_grams(x, y))
    xx, yy = float(np.sum(k * k)), float(np.sum(l * l))
    rng = np.random.default_rng(rng)
    # A permutation keeps all N images on both sides: only the cross term changes.
    return np.array([_ratio(float(np.sum(k * l[np.ix_(p, p)])), xx, yy)
                     for p in (rng.permutation(len(k)) for _ in range(int(n_perm)))])


# Per-channel correlation ----------------------------------------------------------------


def channel_correlation(x: np.ndarray | Tensor, y: np.ndarray | Tensor) -> np.ndarray:
    """(C,) Pearson correlation across images of each channel: column c of x (N, C) with
    column c of y (N, C).

    NaN for a channel that is constant over the images in either network (a dead channel,
    e.g. always 0 after a ReLU): it has no correlation. Bit-identical non-constant columns
    give exactly 1.0 (``s_xy / sqrt(s_xx s_yy)``; scipy.stats.pearsonr, which agrees to
    rounding, does not guarantee that).
    """
    x_raw, y_raw = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x_raw.shape != y_raw.shape:
        raise ValueError(f"x and y must have the same shape (N, C), got {x_raw.shape} and {y_raw.shape}")
    xc, yc = _centred(x_raw, "x"), _centred(y_raw, "y")
    sxy, sxx, syy = (np.sum(a * b, axis=0) for a, b in ((xc, yc), (xc, xc), (yc, yc)))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r[_constant(x_raw) | _constant(y_raw)] = np.nan
    # Rounding can step past ±1 by an ulp for (anti)proportional columns.
    return np.clip(r, -1.0, 1.0)


# Weights ------------------------------------------------------------------------------


def _kind(key: str, tensor: Tensor) -> str | None:
    """kernel (a conv or linear weight, >= 2 dims), other (a bias, a norm layer's affine
    weight), stat (a running mean or variance) or None (a counter)."""
    leaf = key.rpartition(".")[2]
    if leaf in COUNTERS:
        return None
    if leaf in STATS:
        return "stat"
    return "kernel" if leaf == "weight" and tensor.ndim >= 2 else "other"


def _inside(key: str, module: str) -> bool:
    return key.startswith(module + ".")


def tensor_change(base_state: Mapping[str, Tensor], ft_state: Mapping[str, Tensor]) -> pd.DataFrame:
    """One row per entry of the base state dict, in its order.

    Columns: tensor (state-dict key), kind (kernel, other, stat, counter), shape
    ("64x3x7x7"), base_norm ||T_base||_F, diff_norm ||T_ft - T_base||_F, relative
    (diff_norm / base_norm: NaN when base_norm is 0 or the shapes differ), identical
    (bit-identical in both state dicts). Norms in float64.
    """
    missing = [k for k in base_state if k not in ft_state]
    if missing:
        raise KeyError(f"the fine-tuned state dict lacks {missing[:3]} ({len(missing)} keys)")
    rows = []
    for key, base in base_state.items():
        ft = ft_state[key]
        same_shape = tuple(base.shape) == tuple(ft.shape)
        b = base.detach().cpu().double()
        base_norm = float(torch.linalg.vector_norm(b))
        diff = float(torch.linalg.vector_norm(ft.detach().cpu().double() - b)) if same_shape else np.nan
        rows.append({
            "tensor": key,
            "kind": _kind(key, base) or "counter",
            "shape": "x".join(str(s) for s in base.shape),
            "base_norm": base_norm,
            "diff_norm": diff,
            "relative": diff / base_norm if same_shape and base_norm > 0 else np.nan,
            "identical": same_shape and torch.equal(base.cpu(), ft.cpu()),
        })
    return pd.DataFrame(rows, columns=["tensor", "kind", "shape", "base_norm", "diff_norm", "relative", "identical"])


def weight_change(
    base_state: Mapping[str, Tensor],
    ft_state: Mapping[str, Tensor],
    modules: Sequence[str],
    *,
    replaced: Iterable[str] = (),
    tensors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Relative change ``||W_ft - W_base||_F / ||W_base||_F`` of each module (dotted name),
    one row per module in the given order.

    A module's W is all its state-dict tensors of one kind, flattened and joined, so the
    change of a block is that of its weights taken together, not a mean of ratios:

    * kernel_change: conv and linear weights (the `weight` tensors with >= 2 dims), the
      measure of Neyshabur et al. (2020);
    * other_change: every other parameter (biases, BatchNorm's affine weight and bias);
    * stat_change: BatchNorm's running mean and variance. They are statistics, not
      weights, but a fine-tuned BatchNorm updates them and they change the activations;
      kept apart so they never inflate the weight change. ``num_batches_tracked`` (a
      counter) is left out of every norm.

    Columns: module, n_kernel (kernel parameters), kernel_norm (||W_base||_F of the
    kernels), kernel_change, other_change, stat_change (NaN where the module has none of
    that kind), identical (every tensor of the module, counters included, is bit-identical:
    a frozen module; its changes are exactly 0.0), replaced.

    A module in `replaced` (re-initialised by fine-tuning, e.g. the classifier head), or
    one whose tensors changed shape, has no drift from the base to measure: its changes
    are NaN and `replaced` is True. `tensors`: :func:`tensor_change` of the same state
    dicts, when the caller has it already.
    """
    replaced = set(replaced)
    tensors = tensor_change(base_state, ft_state) if tensors is None else tensors
    rows = []
    for module in modules:
        part = tensors[[_inside(k, module) for k in tensors.tensor]]
        if part.empty:
            raise KeyError(f"no state-dict entry lies inside module {module!r}")
        gone = module in replaced or part.diff_norm.isna().any()
        row = {"module": module}
        for kind in ("kernel", "other", "stat"):
            sub = part[part.kind == kind]
            base_norm = float(np.sqrt(np.sum(np.square(sub.base_norm))))
            diff_norm = float(np.sqrt(np.sum(np.square(sub.diff_norm))))
            if kind == "kernel":
                row["n_kernel"] = int(sum(base_state[k].numel() for k in sub.tensor))
                row["kernel_norm"] = base_norm
            row[f"{kind}_change"] = np.nan if gone or sub.empty or base_norm == 0 else diff_norm / base_norm
        row["identical"] = bool(part.identical.all())
        row["replaced"] = gone
        rows.append(row)
    return pd.DataFrame(rows, columns=["module", "n_kernel", "kernel_norm", "kernel_change", "other_change",
                                       "stat_change", "identical", "replaced"])


# Which modules, and which layers are controls -----------------------------------------


def weight_modules(model: nn.Module) -> list[str]:
    """The modules a weight table reports, in definition order: the model's children,
    with each nn.Sequential child replaced by its own children (a ResNet: conv1, bn1,
    layer1.0, ..., layer4.1, fc; a VGG: features.0, ..., classifier.6), keeping only
    those that hold state."""
    names = []
    for name, child in model.named_children():
        parts = child.named_children() if isinstance(child, nn.Sequential) else [("", child)]
        for sub, module in parts:
            if next(iter(module.state_dict()), None) is not None:
                names.append(f"{name}.{sub}" if sub else name)
    return names


def touches(module: str, trainable: Iterable[str]) -> bool:
    """Whether some parameter of `module` trains: it is, lies inside or holds one of the
    `trainable` modules (dotted names)."""
    return any(module == t or module.startswith(t + ".") or t.startswith(module + ".") for t in trainable)


def identical_upstream(
    base_state: Mapping[str, Tensor], ft_state: Mapping[str, Tensor], module_order: Sequence[str], layer: str
) -> bool:
    """Whether every state-dict tensor of `layer` and of every module defined before it is
    bit-identical in the two networks: then the layer's activations must be identical too,
    and its CKA and correlations exactly 1 (the control).

    `module_order`: the model's dotted module names in definition order
    (:func:`vischange.models.module_names`). Definition order stands in for the order of
    the forward pass, which it is for torchvision's ResNets, VGGs and the like; for a
    model that calls modules out of definition order this is not a guarantee.
    """
    inside = [i for i, name in enumerate(module_order) if name == layer or name.startswith(layer + ".")]
    if not inside:
        raise KeyError(f"{layer!r} is not a module of the model")
    upstream = set(module_order[: inside[-1] + 1])
    for key, base in base_state.items():
        if key.rpartition(".")[0] in upstream:
            ft = ft_state[key]
            if tuple(base.shape) != tuple(ft.shape) or not torch.equal(base.cpu(), ft.cpu()):
                return False
    return True
