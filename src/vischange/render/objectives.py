"""Composable feature-visualization objectives.

An :class:`Objective` wraps ``f(acts) -> Tensor (N,)``: given the captured
activations (a dict from layer key to tensor) it returns one value *to
maximize* per image, so a single batch can target a different channel in each
image.  Objectives combine with ``+``, ``-``, unary ``-``, ``*`` (by a scalar
or another objective, elementwise per image) and ``/`` by a scalar, and
``sum([...])`` works.  ``.layers`` is the set of layer keys the objective
reads, which is what the engine hooks.

Layer keys (see :mod:`vischange.render.hooks`): a dotted module name from
``model.named_modules()`` such as ``"layer4.1"``; the same with the suffix
``":pre"`` for the input of the module's final ReLU (pre-activation); or
``"logits"`` for the model output.

Activations are (N, C, H, W) for conv layers or (N, C) for vector layers
(e.g. logits); "mean over space" is the identity for (N, C).
"""

from __future__ import annotations

import numbers
from typing import Callable, Dict, FrozenSet, Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Objective",
    "channel",
    "neuron",
    "layer_l2",
    "class_logit",
    "class_prob",
    "direction",
    "direction_cossim",
    "diversity",
]

Acts = Dict[str, Tensor]
IndexArg = Union[int, Sequence[int], Tensor]


class Objective:
    """A per-image objective to maximize.

    Args:
        fn: ``fn(acts) -> Tensor (N,)``.
        layers: layer keys ``fn`` reads.
        name: human-readable description.
    """

    def __init__(self, fn: Callable[[Acts], Tensor], layers: Iterable[str], name: str = "objective") -> None:
        self.fn = fn
        self.layers: FrozenSet[str] = frozenset(layers)
        self.name = name

    def __call__(self, acts: Acts) -> Tensor:
        value = self.fn(acts)
        if value.dim() != 1:
            raise ValueError(f"objective {self.name} returned shape {tuple(value.shape)}, expected (N,)")
        return value

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    # Arithmetic -----------------------------------------------------------

    def __add__(self, other):
        if isinstance(other, Objective):
            return Objective(lambda a: self(a) + other(a), self.layers | other.layers, f"({self.name} + {other.name})")
        if isinstance(other, numbers.Real):
            c = float(other)
            return Objective(lambda a: self(a) + c, self.layers, f"({self.name} + {c:g})")
        return NotImplemented

    def __radd__(self, other):
        # sum() starts from 0; scalar + objective is commutative anyway.
        return self.__add__(other)

    def __neg__(self):
        return Objective(lambda a: -self(a), self.layers, f"-{self.name}")

    def __sub__(self, other):
        if isinstance(other, (Objective, numbers.Real)):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other):
        if isinstance(other, numbers.Real):
            return (-self) + other
        return NotImplemented

    def __mul__(self, other):
        if isinstance(other, Objective):
            return Objective(lambda a: self(a) * other(a), self.layers | other.layers, f"({self.name} * {other.name})")
        if isinstance(other, numbers.Real):
            c = float(other)
            return Objective(lambda a: self(a) * c, self.layers, f"{c:g}*{self.name}")
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, numbers.Real):
            return self * (1.0 / float(other))
        return NotImplemented


# Helpers -----------------------------------------------------------------------


def _get(acts: Acts, layer: str) -> Tensor:
    try:
        return acts[layer]
    except KeyError:
        raise KeyError(f"activations for {layer!r} were not captured; have {sorted(acts)}") from None


def _per_image(index: IndexArg, n: int, device: torch.device, what: str) -> Tensor:
    """An int or a length-N sequence -> (N,) int64 tensor."""
    if isinstance(index, numbers.Integral):
        return torch.full((n,), int(index), dtype=torch.long, device=device)
    t = torch.as_tensor(index, dtype=torch.long, device=device).reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{what}: got {t.numel()} values for a batch of {n} images")
    return t


def _mean_space(t: Tensor) -> Tensor:
    """(N, ...) -> (N,) mean over all non-batch dims; (N,) unchanged."""
    return t if t.dim() == 1 else t.flatten(1).mean(dim=1)


def _describe(index: IndexArg) -> str:
    if isinstance(index, numbers.Integral):
        return str(int(index))
    return "[" + ",".join(str(int(i)) for i in torch.as_tensor(index).reshape(-1).tolist()) + "]"


def _vectors(vectors: Tensor, n: int, c: int, like: Tensor) -> Tensor:
    """(N or 1, C) or (C,) direction(s) -> (N, C) on ``like``'s device/dtype."""
    v = torch.as_tensor(vectors).to(like.device, like.dtype)
    if v.dim() == 1:
        v = v[None]
    if v.dim() != 2 or v.shape[1] != c or v.shape[0] not in (1, n):
        raise ValueError(f"vectors must have shape (1 or {n}, {c}), got {tuple(v.shape)}")
    return v.expand(n, c)


def _dot_map(a: Tensor, v: Tensor) -> Tensor:
    """Per-position dot product of (N, C, ...) activations with (N, C): (N, ...)."""
    return torch.einsum("nc...,nc->n...", a, v)


# Objectives ---------------------------------------------------------------------


def channel(layer: str, channels: IndexArg) -> Objective:
    """Mean over space of one channel's activation.

    Args:
        layer: layer key.
        channels: one channel for all images, or N channels (image i uses
            ``channels[i]``).
    """

    def fn(acts: Acts) -> Tensor:
        a = _get(acts, layer)
        n = a.shape[0]
        idx = _per_image(channels, n, a.device, "channel")
        return _mean_space(a[torch.arange(n, device=a.device), idx])

    return Objective(fn, {layer}, f"channel({layer}, {_describe(channels)})")


def neuron(layer: str, channels: IndexArg, x: Optional[int] = None, y: Optional[int] = None) -> Objective:
    """Activation of one channel at one spatial position (default: the centre,
    ``(H // 2, W // 2)``) of a (N, C, H, W) layer.

    Args:
        layer: layer key.
        channels: int or N ints, as in :func:`channel`.
        x, y: column and row index.
    """

    def fn(acts: Acts) -> Tensor:
        a = _get(acts, layer)
        if a.dim() != 4:
            raise ValueError(f"neuron() needs (N, C, H, W) activations, {layer!r} has {tuple(a.shape)}")
        n, _, h, w = a.shape
        yy = h // 2 if y is None else y
        xx = w // 2 if x is None else x
        idx = _per_image(channels, n, a.device, "neuron")
        return a[torch.arange(n, device=a.device), idx, yy, xx]

    return Objective(fn, {layer}, f"neuron({layer}, {_describe(channels)}, x={x}, y={y})")


def layer_l2(layer: str) -> Objective:
    """DeepDream objective: mean of the squared activations of the whole layer."""

    def fn(acts: Acts) -> Tensor:
        return _mean_space(_get(acts, layer).pow(2))

    return Objective(fn, {layer}, f"layer_l2({layer})")


def class_logit(classes: IndexArg) -> Objective:
    """Pre-softmax logit of a class (int, or one class per image)."""

    def fn(acts: Acts) -> Tensor:
        z = _get(acts, "logits")
        n = z.shape[0]
        idx = _per_image(classes, n, z.device, "class_logit")
        return z[torch.arange(n, device=z.device), idx]

    return Objective(fn, {"logits"}, f"class_logit({_describe(classes)})")


def class_prob(classes: IndexArg) -> Objective:
    """Softmax probability of a class (int, or one class per image)."""

    def fn(acts: Acts) -> Tensor:
        z = _get(acts, "logits")
        n = z.shape[0]
        idx = _per_image(classes, n, z.device, "class_prob")
        return F.softmax(z, dim=1)[torch.arange(n, device=z.device), idx]

    return Objective(fn, {"logits"}, f"class_prob({_describe(classes)})")


def direction(layer: str, vectors: Tensor) -> Objective:
    """Mean over space of the dot product of the activation vector with a direction.

    Args:
        layer: layer key.
        vectors: (1, C) or (C,) shared direction, or (N, C) one per image.
    """

    def fn(acts: Acts) -> Tensor:
        a = _get(acts, layer)
        v = _vectors(vectors, a.shape[0], a.shape[1], a)
        return _mean_space(_dot_map(a, v))

    return Objective(fn, {layer}, f"direction({layer})")


def at_position(t: Tensor, position: str, what: str) -> Tensor:
    """(N, C, H, W) -> (N, C) at the centre position (H // 2, W // 2) for
    ``position="center"``; unchanged for ``"mean"`` (reduced later) or for (N, C)."""
    if position == "mean" or t.dim() == 2:
        return t
    if position != "center":
        raise ValueError(f"{what}: position must be 'center' or 'mean', got {position!r}")
    if t.dim() != 4:
        raise ValueError(f"{what}: needs (N, C, H, W) activations, got {tuple(t.shape)}")
    return t[:, :, t.shape[2] // 2, t.shape[3] // 2]


def direction_cossim(layer: str, vectors: Tensor, cossim_pow: float = 2.0, position: str = "mean") -> Objective:
    """Activation-atlas objective: ``dot * max(cos, 0.1) ** cossim_pow``.

    ``dot`` is the dot product of the activation vector with the direction
    and ``cos`` their cosine similarity, both at the centre position
    (``position="center"``, lucid's choice) or at every position, averaged over
    space (``"mean"``).  The cosine factor rewards pointing *along* the
    direction rather than merely being large; clamping it at 0.1 (as lucid
    does) keeps a gradient when the activation starts out pointing away.

    What lucid does (``recipes/activation_atlas/render.py``,
    ``direction_neuron_cossim_S``): it reads only the centre neuron
    ``layer[n, H // 2, W // 2]``; its ``dot`` is the channel *mean* of
    ``acts * vec`` (the dot product divided by C) and its "cosine" is that
    mean divided by ``|acts|`` alone, i.e. ``cos * |vec| / C``: not a true
    cosine (it ignores the direction's length and carries the 1/C).  Here
    ``dot`` is the plain dot product and ``cos`` the true cosine, so the
    clamp at 0.1 means the same thing for every layer width and direction
    length.

    Args:
        layer: layer key.
        vectors: (1, C) or (C,) shared direction, or (N, C) one per image.
        cossim_pow: exponent of the cosine factor.
        position: ``"center"`` or ``"mean"``.
    """
    if position not in ("center", "mean"):
        raise ValueError(f"position must be 'center' or 'mean', got {position!r}")

    def fn(acts: Acts) -> Tensor:
        a = at_position(_get(acts, layer), position, "direction_cossim")
        v = _vectors(vectors, a.shape[0], a.shape[1], a)
        dot = _dot_map(a, v)
        norms = torch.linalg.vector_norm(a, dim=1) * torch.linalg.vector_norm(v, dim=1).view(
            -1, *([1] * (dot.dim() - 1))
        )
        cos = (dot / (norms + 1e-6)).clamp_min(0.1)
        return _mean_space(dot * cos.pow(cossim_pow))

    return Objective(fn, {layer}, f"direction_cossim({layer}, pow={cossim_pow:g}, {position})")


def diversity(layer: str) -> Objective:
    """lucid's diversity term: minus the mean pairwise cosine similarity of the
    images' Gram matrices at ``layer``.

    For (N, C, H, W) activations the Gram matrix of image i is ``A_i A_i^T``
    with ``A_i`` of shape (C, H*W).  The value is the same for every image,
    shape (N,); the engine sums over images, so the total is N times the
    batch mean (lucid's sum over ordered pairs divided by N is (N-1) times
    it).  Zero for N = 1.  Add it with a weight, e.g.
    ``channel(...) + 10 * diversity(layer)``.
    """

    def fn(acts: Acts) -> Tensor:
        a = _get(acts, layer)
        n, c = a.shape[:2]
        if n < 2:
            return a.new_zeros(n)
        f = a.reshape(n, c, -1)
        grams = torch.bmm(f, f.transpose(1, 2)).reshape(n, -1)
        grams = grams / torch.linalg.vector_norm(grams, dim=1, keepdim=True).clamp_min(1e-10)
        sim = grams @ grams.T
        mean_offdiag = (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
        return (-mean_offdiag).expand(n)

    return Objective(fn, {layer}, f"diversity({layer})")
