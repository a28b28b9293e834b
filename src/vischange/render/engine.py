"""Optimization loop for feature visualization.

:func:`render` optimizes one parameterized batch of images against an
objective; :func:`render_channels` renders many (channel, seed) pairs of one
layer in batches, reproducibly.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._rng import GeneratorArg
from .hooks import capture, redirected_relu
from .objectives import Objective, channel
from .param import make_param, param_arguments
from .transforms import RandomCrops, standard_transforms

__all__ = ["RenderResult", "render", "render_channels", "pair_seed", "auto_batch_size", "maco_recipe", "engine_arguments", "OPTIMIZERS"]

OPTIMIZERS = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}

ImageFn = Callable[..., Tensor]


@dataclass
class RenderResult:
    """Outcome of :func:`render`.

    Attributes:
        images: (N, 3, H, W) float32 in [0, 1], on CPU.
        objective: (N,) float32 on CPU, per-image objective of the final,
            untransformed images (no redirected ReLU, no grad).
        steps: optimization steps taken.
        seconds: wall time of the optimization and final evaluation.
    """

    images: Tensor
    objective: Tensor
    steps: int
    seconds: float


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@contextlib.contextmanager
def _frozen_eval(model: nn.Module):
    """Eval mode and no parameter gradients for the block; each module's
    ``training`` flag and each parameter's ``requires_grad`` are restored."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def _channels_last(model: nn.Module, enabled: bool):
    """Channels-last weights for the block (faster cuDNN convs); restored after.

    A model that already has channels-last 4-D weights is left as it is."""
    already = any(
        p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
    )
    if not enabled or already:
        yield
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


def render(
    model: nn.Module,
    objective: Objective,
    param: nn.Module,
    *,
    steps: int = 256,
    lr: float = 0.05,
    transforms: Optional[ImageFn] = None,
    redirect_steps: int = 16,
    generator: GeneratorArg = None,
    device: Union[str, torch.device, None] = None,
    progress: bool = False,
    normalize: Optional[Callable[[Tensor], Tensor]] = None,
    compile: bool = False,
    optimizer: str = "adam",
    output_size: Optional[int] = None,
) -> RenderResult:
    """Optimize a parameterized image batch to maximize ``objective``.

    Each step: ``images = param()`` (N, 3, H, W) in [0, 1]; ``x =
    transforms(images, generator)``; ``x = normalize(x)``; forward through
    ``model`` (stopped after the deepest layer the objective needs); loss
    ``-objective(acts).sum()``; one Adam (or NAdam) step on ``param``'s
    parameters only.  When ``transforms`` returns ``k * N`` images (several
    crops per image, crop-major as :class:`~vischange.render.transforms.RandomCrops`
    orders them), the objective is evaluated on each of the k groups of N and
    averaged, so each image's value is the mean over its crops.
    The redirected ReLU gradient is active for the first ``redirect_steps``
    steps.  The model is put in eval mode with gradients off for its
    parameters during the call; both are restored afterwards.  ``model`` and
    ``param`` are moved to ``device`` in place (default: the model's device).

    On CUDA the model runs channels-last under bf16 autocast (activations
    are cast to float32 before the objective); ``compile=True`` wraps the
    model with ``torch.compile`` (early stopping is then disabled, since it
    relies on an exception raised inside the forward pass).

    Args:
        model: network mapping normalized (N, 3, H', W') images to its output.
        objective: per-image objective; must return shape (N,).
        param: image parameterization (see :mod:`vischange.render.param`).
        steps: number of optimization steps.
        lr: Adam learning rate.
        transforms: ``t(images, generator) -> images``; None for none.
        redirect_steps: steps using the redirected ReLU gradient (0: never).
        generator: passed to ``transforms`` (one generator, or one per image).
        device: where to run.
        progress: show a tqdm progress bar.
        normalize: applied to images in [0, 1] before the model (e.g.
            ImageNet mean/std standardization).
        compile: use ``torch.compile`` for the model.
        optimizer: ``"adam"`` or ``"nadam"`` (MACO's).
        output_size: resize the final images to this side (antialiased
            bilinear) before the final evaluation and return; for
            parameterizations optimized on a larger canvas (MACO).

    Returns:
        :class:`RenderResult`.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    param.to(device)
    cuda = device.type == "cuda"
    layers = objective.layers
    params = [p for p in param.parameters() if p.requires_grad]
    if not params:
        raise ValueError("param has no trainable parameters")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    opt = OPTIMIZERS[optimizer](params, lr=lr)

    def evaluate(cap, images: Tensor, n: Optional[int] = None) -> Tensor:
        n = images.shape[0] if n is None else n
        if images.shape[0] % n:
            raise ValueError(f"transforms returned {images.shape[0]} images for a batch of {n}")
        x = normalize(images) if normalize is not None else images
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            acts = cap(x)
        acts = {k: v.float() for k, v in acts.items()}
        values = []
        for j in range(images.shape[0] // n):  # one group of n per crop (usually one)
            value = objective({k: v[j * n : (j + 1) * n] for k, v in acts.items()})
            if value.shape != (n,):
                raise ValueError(
                    f"objective {objective.name} returned shape {tuple(value.shape)} for {n} images"
                )
            values.append(value)
        return values[0] if len(values) == 1 else torch.stack(values).mean(dim=0)

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_frozen_eval(model))
        stack.enter_context(_channels_last(model, cuda))
        forward = torch.compile(model) if compile else None
        # The capture itself, not vischange.activations: the objective needs gradients through it.
        cap = stack.enter_context(capture(model, layers, early_stop=not compile, forward=forward))
        redirect = contextlib.ExitStack()
        stack.enter_context(redirect)  # closes the redirection on any exit
        if redirect_steps > 0:
            redirect.enter_context(redirected_relu(model))
        bar = tqdm(range(steps), disable=not progress, desc="render", leave=False)
        for step in bar:
            if step == redirect_steps:
                redirect.close()
            opt.zero_grad(set_to_none=True)
            images = param()
            x = transforms(images, generator) if transforms is not None else images
            value = evaluate(cap, x, images.shape[0])
            (-value.sum()).backward()
            opt.step()
            if progress and (step % 10 == 0 or step == steps - 1):
                bar.set_postfix(objective=f"{value.detach().mean().item():.4g}")
        redirect.close()
        with torch.no_grad():
            images = param()
            if output_size is not None and tuple(images.shape[-2:]) != (output_size, output_size):
                images = torch.nn.functional.interpolate(
                    images, size=(output_size, output_size), mode="bilinear", align_corners=False, antialias=True
                ).clamp(0, 1)
            value = evaluate(cap, images)
        images = images.detach().float().cpu()
        value = value.detach().float().cpu()
    return RenderResult(images=images, objective=value, steps=steps, seconds=time.perf_counter() - start)


def maco_recipe(size: int, settings: dict) -> dict:
    """Engine arguments of MACO as its authors render it (their library, Horama:
    ``maco_fv.maco`` and ``common.optimization_step``).

    What is matched: NAdam at learning rate 1.0 (``lr``) for about 1,000 steps
    (``steps``) on the phase of a canvas larger than the network's input (Horama:
    1280 px for 224, ``canvas_scale`` = 1280/224); every step, ``crops`` random
    crops of the canvas (side ``box`` of the canvas, centre 0.5 + 0.15 z) are
    resized to the render size and given Gaussian and uniform noise (see
    :class:`~vischange.render.transforms.RandomCrops`); the objective is
    averaged over the crops; no redirected ReLU (``redirect_steps``: 0).  What
    differs: the saved render is the whole canvas shrunk to ``size`` (Horama
    returns the canvas at full size), so the file is the same size as the other
    parameterizations' and the final objective is measured on it.

    Args:
        size: render side in pixels (what the network sees per crop).
        settings: the config's ``render.maco`` section (steps, lr, canvas_scale,
            crops, box, center_std, noise, redirect_steps).

    Returns:
        keyword arguments for :func:`render_channels`: steps, lr, optimizer,
        transforms, canvas, redirect_steps.
    """
    canvas = max(int(size), int(round(size * float(settings["canvas_scale"]))))
    return {
        "steps": int(settings["steps"]),
        "lr": float(settings["lr"]),
        "optimizer": "nadam",
        "transforms": RandomCrops(
            int(settings["crops"]), int(size), box=tuple(settings["box"]),
            center_std=float(settings["center_std"]), noise=float(settings["noise"]),
        ),
        "canvas": canvas,
        "redirect_steps": int(settings["redirect_steps"]),
    }


def pair_seed(seed: int, channel_index: int, stream: int) -> int:
    """Seed for one (seed, channel) render's random stream.

    ``stream`` 0 seeds the image initialization and 1 the transform draws, so
    the two are independent.  Derived with numpy's SeedSequence (a hash of
    the three integers), so nearby seeds give unrelated streams.
    """
    if seed < 0 or channel_index < 0:
        raise ValueError("seeds and channels must be non-negative")
    state = np.random.SeedSequence([int(seed), int(channel_index), int(stream)]).generate_state(1, np.uint64)
    return int(state[0])


def _generators(pairs: Sequence[tuple], stream: int) -> List[torch.Generator]:
    return [torch.Generator().manual_seed(pair_seed(s, c, stream)) for c, s in pairs]


def auto_batch_size(probe: Callable[[int], None], device: torch.device, total: int) -> int:
    """Largest batch (at most `total`) that fits in ~60 % of free CUDA memory.

    `probe(n)` runs one step of the work on a batch of n; its peak memory at n = 2
    and n = 4 gives the per-item cost (their difference, independent of the model's
    weights). CUDA only."""
    peaks = []
    for n in (2, 4):
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        probe(n)
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    per_image = max((peaks[1] - peaks[0]) / 2.0, 1.0)
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    fixed = max(peaks[0] - 2 * per_image, 0.0)
    fits = int((0.6 * free - fixed) // per_image)
    return max(1, min(total, fits))


def render_channels(
    model: nn.Module,
    layer: str,
    channels: Sequence[int],
    seeds: Sequence[int],
    *,
    size: int,
    steps: int,
    lr: float,
    param: str = "fourier",
    param_kwargs: Optional[dict] = None,
    transforms: Union[str, ImageFn, None] = "standard",
    batch_size: Optional[int] = None,
    redirect_steps: int = 16,
    device: Union[str, torch.device, None] = None,
    normalize: Optional[Callable[[Tensor], Tensor]] = None,
    progress: bool = False,
    compile: bool = False,
    optimizer: str = "adam",
    canvas: Optional[int] = None,
) -> List[Dict]:
    """Render the channel objective for every (channel, seed) pair.

    Pairs are ordered channel-major (``for c in channels for s in seeds``)
    and rendered in batches of ``batch_size`` (default: all at once on CPU;
    on CUDA the largest batch estimated to fit in 60 % of free memory).
    Each pair gets two private generators seeded by :func:`pair_seed`: one
    for its initial image and one for its transform draws.  A pair's random
    inputs therefore depend only on (seed, channel): not on the layer, the
    model, the batch size or the other pairs, so two models rendered with the
    same arguments start from the same images and see the same transform
    sequence.  On CPU, repeated calls are bit-identical.

    Args:
        model: network; ``layer`` is a key as in :mod:`vischange.render.hooks`.
        layer: layer key, e.g. ``"layer4.1"`` or ``"layer4:pre"``.
        channels: channel indices.
        seeds: non-negative integer seeds.
        size: image side in pixels.
        steps, lr, redirect_steps, device, normalize, progress, compile: as in :func:`render`.
        param: parameterization name for :func:`~vischange.render.param.make_param`.
        param_kwargs: extra keyword arguments for it (``magnitude=`` for "maco").
        transforms: ``"standard"`` (:func:`standard_transforms` of ``size``),
            None, or a callable ``t(images, generator)``.
        batch_size: pairs per batch.
        optimizer: as in :func:`render`.
        canvas: side of the optimized image when larger than ``size`` (MACO's
            canvas, see :func:`maco_recipe`); the returned images are shrunk to
            ``size``.  ``param_kwargs`` must then fit the canvas.

    Returns:
        One dict per pair, in pair order: ``{"channel": int, "seed": int,
        "image": Tensor (3, size, size) float in [0, 1] on CPU, "objective":
        float (final channel mean activation), "steps": int, "seconds": float
        (the batch's wall time divided by its size)}``.
    """
    pairs = [(int(c), int(s)) for c in channels for s in seeds]
    if not pairs:
        return []
    param_kwargs = dict(param_kwargs or {})
    tf = standard_transforms(size) if transforms == "standard" else transforms
    if isinstance(tf, str):
        raise ValueError(f"transforms must be 'standard', None or a callable, got {tf!r}")
    device = torch.device(device) if device is not None else _model_device(model)

    def run(batch: Sequence[tuple], n_steps: int, show: bool) -> RenderResult:
        p = make_param(param, len(batch), canvas or size, generator=_generators(batch, 0), **param_kwargs)
        obj = channel(layer, [c for c, _ in batch])
        return render(
            model, obj, p, steps=n_steps, lr=lr, transforms=tf,
            redirect_steps=redirect_steps, generator=_generators(batch, 1),
            device=device, progress=show, normalize=normalize, compile=compile,
            optimizer=optimizer, output_size=size if canvas else None,
        )

    if batch_size is None:
        if device.type == "cuda":
            batch_size = auto_batch_size(lambda n: run(pairs[:1] * n, 1, False), device, len(pairs))
        else:
            batch_size = len(pairs)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")

    out: List[Dict] = []
    starts = range(0, len(pairs), batch_size)
    for i in tqdm(starts, disable=not progress or len(starts) == 1, desc=f"render {layer}"):
        batch = pairs[i : i + batch_size]
        res = run(batch, steps, progress)
        for j, (c, s) in enumerate(batch):
            out.append(
                {
                    "channel": c,
                    "seed": s,
                    "image": res.images[j],
                    "objective": float(res.objective[j]),
                    "steps": res.steps,
                    "seconds": res.seconds / len(batch),
                }
            )
    return out


def engine_arguments(settings: dict, manifest: str | Path | None, seed: int) -> dict:
    """Keyword arguments of :func:`render_channels` for the config's ``render`` section:
    the shared steps, lr, redirect_steps and lucid's transforms, or, for ``param: maco``,
    MACO's own recipe from ``render.maco`` (:func:`~vischange.render.engine.maco_recipe`),
    with the parameterization's dataset arguments at the canvas size."""
    if settings["param"] == "maco":
        kwargs = maco_recipe(settings["size"], settings["maco"])
        side = kwargs["canvas"]
    else:
        kwargs = {"steps": settings["steps"], "lr": settings["lr"], "redirect_steps": settings["redirect_steps"]}
        side = settings["size"]
    kwargs["param_kwargs"] = param_arguments(settings["param"], manifest, side, seed)
    return kwargs
