"""Activation capture with early stopping, and lucid's redirected ReLU.

Layer keys
----------
* ``"name"``: output of the module ``name`` from ``model.named_modules()``
  (e.g. ``"layer4.1"``; ``""`` is the model itself).
* ``"name:pre"``: pre-activation of ``name``: the input of the last
  ``nn.ReLU`` call made while ``name`` runs.  This is defined only for modules
  whose output *is* that ReLU's output -- e.g. a torchvision ResNet block or
  stage (``relu(bn(...) + identity)``), or a ReLU module itself -- and is
  checked on the first forward pass (ValueError otherwise).  ReLUs applied
  functionally (``F.relu``/``torch.relu``) are invisible; torchvision ResNets
  use ``nn.ReLU`` modules throughout.
* ``"name:in"``: the input of ``name`` (its first positional argument),
  captured by a forward-pre-hook before the module runs; e.g. ``"fc:in"`` is
  the penultimate feature vector (N, D) of a torchvision classifier.  With
  early stopping the module itself never runs.
* ``"logits"``: the model's output (disables early stopping).

A ``reduce`` function per key may shrink a capture inside its hook (e.g. a
spatial mean or a Gram matrix), so a key's full map never outlives its
module even when the forward pass goes on to later keys.

Outputs and inputs captured while the forward pass continues are cloned, so later
in-place ops (``ReLU(inplace=True)``) cannot alter them.  A module called
several times in one forward pass (torchvision reuses a block's ``relu``)
yields the value of its latest call before capture finished; use
``"block:pre"`` rather than hooking a shared ReLU.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Set

import torch
from torch import Tensor, nn

__all__ = ["capture", "Capture", "redirected_relu", "LOGITS", "PRE_SUFFIX", "IN_SUFFIX"]

LOGITS = "logits"
PRE_SUFFIX = ":pre"
IN_SUFFIX = ":in"
_SUFFIXES = (PRE_SUFFIX, IN_SUFFIX)


def _module_name(key: str) -> str:
    """The module a key reads: the key without its ``:pre``/``:in`` suffix."""
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


class _StopForward(Exception):
    """Raised inside a hook to abandon the rest of the forward pass."""


def _unknown(name: str, known: List[str]) -> KeyError:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return KeyError(f"no module named {name!r} in the model{hint}")


class Capture:
    """Registered hooks for one set of layer keys; call it to run the model.

    Created by :func:`capture`; ``cap(x)`` runs ``forward(x)`` (by default
    the model) and returns ``{key: tensor}`` for every requested key, in the
    order the keys were captured during the forward pass.  The tensors keep
    their autograd graph.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Iterable[str],
        early_stop: bool = True,
        forward: Optional[Callable[[Tensor], Tensor]] = None,
        reduce: Optional[Mapping[str, Callable[[Tensor], Tensor]]] = None,
    ) -> None:
        self.model = model
        self.keys: Set[str] = set(layers)
        self.need_logits = LOGITS in self.keys
        self.early_stop = early_stop and not self.need_logits
        self.forward = forward if forward is not None else model
        self.reduce: Dict[str, Callable[[Tensor], Tensor]] = dict(reduce or {})
        stray = sorted(set(self.reduce) - self.keys)
        if stray:
            raise ValueError(f"reduce names keys that are not captured: {stray}")
        self.acts: Dict[str, Tensor] = {}
        self._pending: Set[str] = set()
        self._handles: list = []
        self._pre_last: Dict[str, Optional[Tensor]] = {}
        self._pre_active: Dict[str, bool] = {}
        self._pre_checked: Set[str] = set()

        modules = dict(model.named_modules())
        known = sorted(modules) + [LOGITS]
        for key in sorted(self.keys - {LOGITS}):
            if _module_name(key) not in modules:
                raise _unknown(key, known)
        try:
            for key in sorted(self.keys - {LOGITS}):
                module = modules[_module_name(key)]
                if key.endswith(PRE_SUFFIX):
                    self._hook_pre(key, module)
                elif key.endswith(IN_SUFFIX):
                    self._handles.append(module.register_forward_pre_hook(self._input_hook(key)))
                else:
                    self._handles.append(module.register_forward_hook(self._output_hook(key)))
        except BaseException:
            self.remove()
            raise

    # Hook factories --------------------------------------------------------

    def _keep(self, key: str, value: Tensor, fresh: bool = False) -> None:
        """Store ``value`` (reduced, if the key has a reducer) for ``key``; stop
        the forward pass when it was the last pending key.  ``fresh``: the value
        is already a private copy."""
        self._pending.discard(key)
        stop = self.early_stop and not self._pending
        reduce = self.reduce.get(key)
        if reduce is not None:
            value = reduce(value)
        elif not stop and not fresh:
            # The forward pass goes on and may modify this tensor in place
            # (e.g. a following ReLU(inplace=True)); keep a copy.
            value = value.clone()
        self.acts[key] = value
        if stop:
            raise _StopForward

    def _output_hook(self, key: str):
        def hook(module, inputs, output):
            if not isinstance(output, Tensor):
                raise TypeError(f"module {key!r} returned {type(output).__name__}, not a Tensor")
            self._keep(key, output)

        return hook

    def _input_hook(self, key: str):
        def hook(module, inputs):
            if not inputs or not isinstance(inputs[0], Tensor):
                raise TypeError(f"{key!r}: the module's first input is not a Tensor")
            self._keep(key, inputs[0])

        return hook

    def _hook_pre(self, key: str, module: nn.Module) -> None:
        relus = {id(m): m for m in module.modules() if isinstance(m, nn.ReLU)}
        if not relus:
            raise ValueError(f"{key!r}: module has no nn.ReLU inside, so it has no pre-activation")

        def start(mod, inputs):
            self._pre_active[key] = True
            self._pre_last[key] = None

        def record(relu, inputs):
            if self._pre_active.get(key):
                # Clone: torchvision's ReLUs are inplace and would overwrite it.
                self._pre_last[key] = inputs[0].clone()

        def finish(mod, inputs, output):
            self._pre_active[key] = False
            pre = self._pre_last.get(key)
            if pre is None:
                raise RuntimeError(f"{key!r}: no nn.ReLU ran inside the module")
            if key not in self._pre_checked:
                with torch.no_grad():
                    ok = (
                        isinstance(output, Tensor)
                        and output.shape == pre.shape
                        and torch.equal(torch.relu(pre), output)
                    )
                if not ok:
                    raise ValueError(
                        f"{key!r}: the module's output is not the output of its last ReLU, "
                        "so ':pre' is undefined for it"
                    )
                self._pre_checked.add(key)
            self._keep(key, pre, fresh=True)

        self._handles.append(module.register_forward_pre_hook(start))
        for relu in relus.values():
            self._handles.append(relu.register_forward_pre_hook(record))
        self._handles.append(module.register_forward_hook(finish))

    # Running ---------------------------------------------------------------

    def __call__(self, x: Tensor) -> Dict[str, Tensor]:
        """Run the model on ``x`` and return the captured activations."""
        self.acts = {}
        self._pending = set(self.keys - {LOGITS})
        self._pre_active = {}
        self._pre_last = {}
        try:
            out = self.forward(x)
        except _StopForward:
            out = None
        if self._pending:
            raise RuntimeError(f"modules never ran during the forward pass: {sorted(self._pending)}")
        if self.need_logits:
            reduce = self.reduce.get(LOGITS)
            self.acts[LOGITS] = reduce(out) if reduce is not None else out
        return dict(self.acts)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


@contextmanager
def capture(
    model: nn.Module,
    layers: Iterable[str],
    *,
    early_stop: bool = True,
    forward: Optional[Callable[[Tensor], Tensor]] = None,
    reduce: Optional[Mapping[str, Callable[[Tensor], Tensor]]] = None,
) -> Iterator[Capture]:
    """Hook the modules named by ``layers`` for the duration of the block.

    Usage::

        with capture(model, {"layer3", "layer4:pre"}) as cap:
            acts = cap(images)   # {"layer3": (N,C,H,W), "layer4:pre": ...}

    With ``early_stop`` (default) the forward pass is abandoned, by an
    exception raised from the hook and caught inside ``cap(x)``, as soon as
    every requested key has been captured, so later layers cost nothing.
    ``"logits"`` in ``layers`` runs the whole model.  ``forward`` replaces
    the function called on ``x`` (e.g. a compiled wrapper of ``model``).
    ``reduce`` maps keys to functions applied to their tensor inside the hook;
    the result is stored as returned, so it must not be a view that later
    in-place ops could alter.  Hooks are removed on exit, also on error.
    Unknown module names raise KeyError naming close matches.
    """
    cap = Capture(model, layers, early_stop=early_stop, forward=forward, reduce=reduce)
    try:
        yield cap
    finally:
        cap.remove()


class _RedirectedReLUFn(torch.autograd.Function):
    """ReLU whose backward lets a signal reach inputs that are all inactive.

    Backward receives ``g = dL/dy`` for a loss L being *minimized*.  Per
    example (first dim), if the ordinary ReLU gradient is non-zero anywhere,
    it is used unchanged.  Otherwise (the unit is dead for this example) the
    gradient is passed through everywhere except where it would push an
    already non-positive input further down (x <= 0 and g > 0), so gradient
    descent can revive the unit.  This is lucid's redirected ReLU gradient.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        zero = torch.zeros((), dtype=g.dtype, device=g.device)
        relu_grad = torch.where(x > 0, g, zero)
        redirected = torch.where((x <= 0) & (g > 0), zero, g)
        if g.dim() == 0:
            return relu_grad if bool(relu_grad != 0) else redirected
        alive = (relu_grad != 0).reshape(g.shape[0], -1).any(dim=1)
        alive = alive.view(-1, *([1] * (g.dim() - 1)))
        return torch.where(alive, relu_grad, redirected)


def _redirected_forward(x: Tensor) -> Tensor:
    return _RedirectedReLUFn.apply(x)


_MISSING = object()


@contextmanager
def redirected_relu(model: nn.Module) -> Iterator[nn.Module]:
    """Use the redirected-ReLU gradient in every ``nn.ReLU`` of ``model``.

    Each ReLU module's ``forward`` is replaced by an instance attribute for
    the duration of the block (so a module reused several times, as in
    torchvision blocks, is covered at every call, and its hooks still fire).
    The forward values are unchanged (out-of-place even for ``inplace=True``
    modules); only the backward differs (see :class:`_RedirectedReLUFn`).
    Functional ReLUs (``F.relu``/``torch.relu``) are not affected; torchvision
    ResNets use modules only.  The previous state is restored exactly on exit,
    also on error.
    """
    relus = {id(m): m for m in model.modules() if isinstance(m, nn.ReLU)}
    saved = [(m, m.__dict__.get("forward", _MISSING)) for m in relus.values()]
    try:
        for m, _ in saved:
            m.forward = _redirected_forward
        yield model
    finally:
        for m, old in saved:
            if old is _MISSING:
                m.__dict__.pop("forward", None)
            else:
                m.forward = old
