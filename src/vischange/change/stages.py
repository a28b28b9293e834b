"""The render-free change jobs, one function per rule.

Files (written where the caller says; the rule places them):

* ``layers.csv``: one row per layer: linear CKA of the two networks' activations on the
  same images, its bootstrap interval and shuffled-images reference, and a summary of the
  per-channel correlations.
* ``channels.csv``: one row per (layer, channel): correlation across images and the mean
  activation in each network.
* ``weights.csv``: one row per module: relative weight change (see
  :func:`.measures.weight_change`).
* ``tensors.csv`` (optional): one row per state-dict tensor (:func:`.measures.tensor_change`).

Activations are the spatial means of each layer's output, the same images (the eval view
of a manifest, at most ``max_images`` of them, chosen with the seed) through both networks
in the same batches, so a layer that nothing upstream of it changed gives bit-identical
activations, and CKA and correlations of exactly 1.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..runtime import derive_seed, seeded_subset, write_csv
from . import crosscheck as _crosscheck
from . import figures

if TYPE_CHECKING:
    import torch

# Only activation_change runs the networks; its imports are local, so that the figure and
# the crosscheck, which read tables, start without torch.

log = logging.getLogger(__name__)

__all__ = ["activation_change", "pairs_change", "activation_change_figure", "crosscheck", "LAYER_COLUMNS", "CHANNEL_COLUMNS"]

LAYER_COLUMNS = ["layer", "fine_tuned", "identical_upstream", "n_images", "n_channels", "cka", "cka_low", "cka_high",
                 "cka_null", "corr_median", "corr_q25", "corr_q75", "n_constant"]
CHANNEL_COLUMNS = ["layer", "channel", "correlation", "base_mean", "finetuned_mean"]


def _layer_rows(
    layers: Sequence[str], base: dict, finetuned: dict, *, settings: Mapping, seed: int,
    fine_tuned: Mapping[str, bool | None], upstream: Mapping[str, bool], means: Sequence[str] = CHANNEL_COLUMNS[3:],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer and per-channel rows of two networks' activations; `means` names the two
    channel-mean columns."""
    from . import measures

    rows, channel_parts = [], []
    for layer in tqdm(layers, desc="CKA per layer", leave=False):
        x, y = base[layer], finetuned[layer]
        low, high = measures.cka_interval(x, y, n_boot=settings["n_boot"], confidence=settings["confidence"],
                                          rng=derive_seed(seed, "change-bootstrap", layer))
        null = measures.cka_null(x, y, n_perm=settings["n_null"], rng=derive_seed(seed, "change-null", layer))
        r = measures.channel_correlation(x, y)
        finite = r[np.isfinite(r)]
        q25, median, q75 = np.percentile(finite, [25, 50, 75]) if len(finite) else (np.nan,) * 3
        rows.append({
            "layer": layer, "fine_tuned": fine_tuned[layer], "identical_upstream": upstream[layer],
            "n_images": len(x), "n_channels": x.shape[1],
            "cka": measures.linear_cka(x, y), "cka_low": low, "cka_high": high,
            "cka_null": float(np.mean(null)) if len(null) else np.nan,
            "corr_median": median, "corr_q25": q25, "corr_q75": q75, "n_constant": int(np.isnan(r).sum()),
        })
        channel_parts.append(pd.DataFrame({
            "layer": layer, "channel": np.arange(x.shape[1]), "correlation": r,
            means[0]: x.mean(axis=0, dtype=np.float64), means[1]: y.mean(axis=0, dtype=np.float64),
        }))
        log.info("%s: CKA %.4f [%.4f, %.4f], shuffled %.4f, median channel r %.4f, %d constant channels%s",
                 layer, rows[-1]["cka"], low, high, rows[-1]["cka_null"], median, rows[-1]["n_constant"],
                 " (identical upstream: a control)" if upstream[layer] else "")
    columns = [*CHANNEL_COLUMNS[:3], *means]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS), pd.concat(channel_parts, ignore_index=True)[columns]


@dataclass
class Activations:
    """Several checkpoints of one architecture run on the same images.

    acts: {net: {layer: (N, C) float array}}, the spatial-mean activations, N images in the
    same order for every net; states: {net: state dict on the CPU}; meta: {net: checkpoint
    metadata}; order: the model's dotted module names in definition order; head: the
    classifier's name; modules: the modules a weight table reports."""

    acts: dict
    states: dict
    meta: dict
    order: list
    head: str
    modules: list


def network_activations(
    checkpoints: Mapping[str, str | os.PathLike], manifest: str | os.PathLike, *, layers: Sequence[str],
    settings: Mapping, data: Mapping, seed: int, device: torch.device | str,
) -> Activations:
    """The spatial-mean activations of `layers` for every checkpoint ({net: path}, one
    architecture), on at most settings["max_images"] images of `manifest` (a subset
    seeded by `seed` alone) in the same batches, so that a layer that nothing upstream of
    it changed gives bit-identical activations. One forward pass per network."""
    from torch.utils.data import DataLoader, Subset

    from .. import models
    from ..activations import loader_activations, manifest_loader
    from . import measures

    dataset, _ = manifest_loader(manifest, data["image_size"], data["eval_crop"])
    picks = seeded_subset(len(dataset), int(settings["max_images"]), derive_seed(seed, "change-images"))
    loader = DataLoader(Subset(dataset, picks.tolist()), batch_size=int(settings["batch_size"]), shuffle=False)
    log.info("%d of %d images of %s, %d layers, %d networks", len(picks), len(dataset), manifest, len(layers),
             len(checkpoints))
    out = Activations({}, {}, {}, [], "", [])
    first = None
    for net, path in checkpoints.items():
        model, normalize, meta = models.load_network(path, device)
        if first is None:
            first = (net, path, meta)
            out.order, out.head = models.module_names(model), models.classifier_name(model)
            out.modules = measures.weight_modules(model)
        elif meta["arch"] != first[2]["arch"]:
            raise ValueError(f"{path} is a {meta['arch']}, {first[1]} a {first[2]['arch']}: nothing to compare")
        out.meta[net] = meta
        out.acts[net] = loader_activations(model, layers, loader, normalize=normalize, device=device, reduce="mean",
                                           desc=f"{net} activations")
        out.states[net] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        del model
    return out


def pair_change(
    run: Activations, a: str, b: str, *, layers: Sequence[str], settings: Mapping, seed: int,
    trainable: Sequence[str] | None, head_replaced: bool = True, means: Sequence[str] = CHANNEL_COLUMNS[3:],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(layers, channels, weights, tensors) of network `a` against network `b` (see
    :func:`activation_change` for the columns). trainable: the modules in which the two may
    differ (the head is added); head_replaced: the head of `b` was re-initialised, not
    trained from `a`'s, so its drift is not measured (base against a fine-tuned network)."""
    from . import measures

    trained = None if trainable is None else list(dict.fromkeys([*trainable, run.head]))
    fine_tuned = {layer: None if trained is None else measures.touches(layer, trained) for layer in layers}
    # Different input normalizations feed the networks different inputs: then no layer is a control.
    same_input = all(np.array_equal(run.meta[a][k], run.meta[b][k]) for k in ("mean", "std"))
    upstream = {layer: same_input and measures.identical_upstream(run.states[a], run.states[b], run.order, layer)
                for layer in layers}
    layer_table, channel_table = _layer_rows(layers, run.acts[a], run.acts[b], settings=settings, seed=seed,
                                             fine_tuned=fine_tuned, upstream=upstream, means=means)
    modules = run.modules + [t for t in (trained or []) if t not in run.modules]
    tensors = measures.tensor_change(run.states[a], run.states[b])
    weights = measures.weight_change(run.states[a], run.states[b], modules,
                                     replaced=[run.head] if head_replaced else [], tensors=tensors)
    weights.insert(1, "fine_tuned", [measures.touches(m, trained) if trained is not None else None for m in modules])
    exact = channel_table.groupby("layer", sort=False).correlation.apply(lambda r: bool((r.dropna() == 1).all()))
    broken = [row.layer for row in layer_table.itertuples()
              if row.identical_upstream and not (row.cka == 1 and exact[row.layer])]
    if broken:
        # Not an exception: the tables are the evidence. A frozen layer whose activations differ
        # means the two passes did not see the same inputs, or a kernel was nondeterministic.
        log.warning("%s vs %s: layers with identical weights upstream but CKA or a correlation != 1: %s",
                    a, b, broken)
    return layer_table, channel_table, weights, tensors


def activation_change(
    base_model: str | os.PathLike,
    finetuned_model: str | os.PathLike,
    manifest: str | os.PathLike,
    *,
    layers: Sequence[str],
    settings: Mapping,
    data: Mapping,
    seed: int,
    device: torch.device | str,
    trainable: Sequence[str] | None = None,
    out_layers: str | os.PathLike,
    out_channels: str | os.PathLike,
    out_weights: str | os.PathLike,
    out_tensors: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Activation-based and weight-based change of every layer and module, no renders.

    Args:
        base_model, finetuned_model: checkpoints (:func:`vischange.models.save_checkpoint`)
            of one architecture.
        manifest: the held-out images (``path,label`` CSV), read with the eval view.
        layers: modules (dotted names) with (N, C, h, w) outputs; each is reduced to its
            spatial mean, (N, C), all of them in one forward pass per network.
        settings: max_images (cap on the images, a seeded random subset), batch_size,
            n_boot (bootstrap resamples for the CKA interval), confidence (its level,
            e.g. 0.95), n_null (image shuffles for the CKA reference).
        data: image_size and eval_crop (the config's ``data`` section).
        seed: seeds the image subset, the bootstrap and the shuffles.
        trainable: the modules fine-tuning trained (the config's ``finetune.trainable``;
            the classifier head is added, as fine-tuning always trains it). None: unknown,
            and the ``fine_tuned`` columns stay empty.

    Writes and returns (layers, channels, weights); columns:

    * layers: layer, fine_tuned (some parameter of the layer trained, from `trainable`),
      identical_upstream (every weight and statistic of the layer and of every module
      defined before it is bit-identical in the two checkpoints: the control, whose CKA
      and correlations must be exactly 1), n_images, n_channels, cka (linear CKA),
      cka_low, cka_high (bootstrap interval over images), cka_null (mean CKA with the
      fine-tuned network's images shuffled: unrelated features at this N and C),
      corr_median, corr_q25, corr_q75 (quartiles of the channel correlations, constant
      channels left out), n_constant (channels constant over the images in either
      network: no correlation).
    * channels: layer, channel, correlation (Pearson, across images; NaN for a constant
      channel), base_mean, finetuned_mean (mean over images of the channel's spatial-mean
      activation, in the layer's units).
    * weights: :func:`.measures.weight_change` for every module of
      :func:`.measures.weight_modules` (and any trainable module not among them), with
      a fine_tuned column after the module; the classifier head is marked replaced
      (re-initialised by fine-tuning, nothing to measure).
    * tensors (only with `out_tensors`): :func:`.measures.tensor_change`, one row per
      state-dict tensor.
    """
    layers = list(dict.fromkeys(layers))
    run = network_activations({"base": base_model, "finetuned": finetuned_model}, manifest, layers=layers,
                              settings=settings, data=data, seed=seed, device=device)
    layer_table, channel_table, weights, tensors = pair_change(run, "base", "finetuned", layers=layers,
                                                               settings=settings, seed=seed, trainable=trainable)
    write_csv(out_layers, layer_table)
    write_csv(out_channels, channel_table)
    write_csv(out_weights, weights)
    if out_tensors is not None:
        write_csv(out_tensors, tensors)
    return layer_table, channel_table, weights


def pairs_change(
    checkpoints: Mapping[str, str | os.PathLike], manifest: str | os.PathLike, *, pairs: Sequence[Pair],
    trainable: Mapping[Pair, Sequence[str]], noise_pairs: Sequence[Pair], layers: Sequence[str],
    settings: Mapping[str, Any], alpha: float, data: Mapping[str, Any], seed: int, device: torch.device,
    out: Mapping[Pair, Mapping[str, str | os.PathLike]], out_noise: str | os.PathLike,
) -> pd.DataFrame:
    """The render-free change of every pair in `pairs`, and the paired test of fine-tuning
    change against fine-tuning noise (vischange.pairs.noise) for every pair of fine-tuned
    networks in `noise_pairs`, from one forward pass per network over the same images.

    checkpoints: {net: path}, the base network included; settings: the change section
    (max_images, batch_size, n_boot, confidence, n_null); out: {(a, b): {"layers",
    "channels", "weights": path}}, tables as change/'s (channel means as a_mean, b_mean).
    Returns the noise table."""
    from . import noise

    layers = list(dict.fromkeys(layers))
    run = network_activations(checkpoints, manifest, layers=layers, settings=settings, data=data, seed=seed,
                                     device=device)
    for a, b in pairs:
        layer_table, channel_table, weights, _ = pair_change(
            run, a, b, layers=layers, settings=settings, seed=seed, trainable=trainable[(a, b)],
            head_replaced=a == "base", means=("a_mean", "b_mean"))
        write_csv(out[(a, b)]["layers"], layer_table)
        write_csv(out[(a, b)]["channels"], channel_table)
        write_csv(out[(a, b)]["weights"], weights)
    table = noise.noise_table(run.acts, noise_pairs, layers, n_boot=settings["n_boot"],
                              confidence=settings["confidence"], alpha=alpha, seed=seed)
    write_csv(out_noise, table)
    for row in table.itertuples():
        log.info("%s and %s, %s: d = %.4g [%.4g, %.4g], q = %.3g (%s)", row.net_x, row.net_y, row.layer, row.d,
                 row.d_low, row.d_high, row.q_value, row.status)
    return table


def activation_change_figure(
    layers_csv: str | os.PathLike, channels_csv: str | os.PathLike, weights_csv: str | os.PathLike,
    out: Sequence[str | os.PathLike],
) -> None:
    """The figure of :func:`.figures.change_figure` from the three tables of
    :func:`activation_change`; `out`: its PNG and PDF paths."""
    figures.change_figure(pd.read_csv(layers_csv), pd.read_csv(channels_csv), pd.read_csv(weights_csv),
                          [Path(p) for p in out])


def crosscheck(
    render_channels_csv: str | os.PathLike, activation_channels_csv: str | os.PathLike, *, n_boot: int,
    confidence: float, seed: int, out_table: str | os.PathLike, out_figure: Sequence[str | os.PathLike],
) -> pd.DataFrame:
    """Render-based against activation-based change per layer (:mod:`.crosscheck`): writes
    the per-layer table and the scatter figure; returns the table."""
    joined = _crosscheck.joined_channels(pd.read_csv(render_channels_csv), pd.read_csv(activation_channels_csv))
    table = _crosscheck.crosscheck_table(joined, n_boot, confidence, derive_seed(seed, "crosscheck"))
    write_csv(out_table, table)
    figures.crosscheck_figure(joined, table, [Path(p) for p in out_figure])
    for row in table.itertuples():
        log.info("%s: Spearman %.3f [%.3f, %.3f] over %d channels", row.layer, row.spearman, row.spearman_low,
                 row.spearman_high, row.n_channels)
    return table
