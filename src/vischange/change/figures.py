"""The figure of the render-free change measures (PNG + PDF), from the tables of
:func:`vischange.change.stages.activation_change`."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from .. import plots

plt = plots.plt

__all__ = ["change_figure", "crosscheck_figure"]

Paths = Sequence[str | os.PathLike]
COLOURS = {True: "tab:orange", False: "tab:gray", None: "tab:blue"}


def _flag(value) -> bool | None:
    """A fine_tuned cell as read back from CSV: True, False or None (unknown, an empty cell)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return bool(value)


def _label(row) -> str:
    # A control is frozen, and so is everything before it.
    tag = "control" if row.identical_upstream else {True: "fine-tuned", False: "frozen", None: ""}[_flag(row.fine_tuned)]
    return f"{row.layer}\n({tag})" if tag else row.layer


def change_figure(layers: pd.DataFrame, channels: pd.DataFrame, weights: pd.DataFrame, out: Paths) -> None:
    """Three panels: (a) linear CKA of base vs fine-tuned activations per layer, with its
    bootstrap interval and the shuffled-images reference; (b) the per-channel correlations
    of each layer (box and points); (c) the relative change of each module's conv and
    linear weights. Layers whose weights are identical upstream are marked "control"
    (CKA and correlations must be exactly 1)."""
    names = list(layers.layer)
    n_modules = len(weights)
    fig = plt.figure(figsize=(max(8.0, 2.0 * len(names) + 2, 0.3 * n_modules + 2), 7.0))
    grid = fig.add_gridspec(2, 2, hspace=0.6, wspace=0.25)
    x = np.arange(len(names))
    labels = [_label(row) for row in layers.itertuples()]

    ax = fig.add_subplot(grid[0, 0])
    colours = [COLOURS[_flag(v)] for v in layers.fine_tuned]
    below = (layers.cka - layers.cka_low).clip(lower=0).to_numpy(float)
    above = (layers.cka_high - layers.cka).clip(lower=0).to_numpy(float)
    for xi, cka, lo, hi, colour in zip(x, layers.cka, below, above, colours):
        ax.errorbar(xi, cka, yerr=[[lo], [hi]], fmt="o", color=colour, capsize=3, ms=5, zorder=3)
        ax.annotate(f"{cka:.3f}", (xi, cka), xytext=(6, -3), textcoords="offset points", fontsize=6)
    ax.scatter(x, layers.cka_null, marker="x", color="black", s=18, zorder=3, label="images shuffled (reference)")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("linear CKA, base vs fine-tuned")
    n_images = ", ".join(sorted({str(n) for n in layers.n_images}))
    ax.set_title(f"(a) CKA per layer ({n_images} images, bootstrap interval)", fontsize=8)
    ax.legend(fontsize=6, loc="lower left")
    ax.grid(axis="y", alpha=0.3)

    ax = fig.add_subplot(grid[0, 1])
    data = [channels.loc[channels.layer == layer, "correlation"].dropna().to_numpy() for layer in names]
    boxes = ax.boxplot([d if len(d) else [np.nan] for d in data], positions=x, widths=0.5, patch_artist=True,
                       showfliers=False)
    rng = np.random.default_rng(0)  # jitter only
    for xi, values, patch, colour in zip(x, data, boxes["boxes"], colours):
        patch.set_facecolor(colour)
        patch.set_alpha(0.4)
        ax.scatter(xi + rng.uniform(-0.15, 0.15, len(values)), values, s=4, color=colour, alpha=0.7, zorder=3)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("Pearson r across images")
    ax.set_title("(b) per-channel correlation of base and fine-tuned activations", fontsize=8)
    ax.grid(axis="y", alpha=0.3)

    ax = fig.add_subplot(grid[1, :])
    xm = np.arange(n_modules)
    change = weights.kernel_change.to_numpy(float)
    ax.bar(xm, np.nan_to_num(change), color=[COLOURS[_flag(v)] for v in weights.get("fine_tuned", [None] * n_modules)])
    top = np.nanmax(change) if np.isfinite(change).any() else 1.0
    for xi, row in zip(xm, weights.itertuples()):
        if row.replaced:
            ax.text(xi, 0.02 * top, "replaced", rotation=90, ha="center", va="bottom", fontsize=6)
        elif row.identical:
            ax.text(xi, 0, "0", ha="center", va="bottom", fontsize=6)
    ax.set_ylim(0, 1.15 * top if top > 0 else 1.0)
    ax.set_xticks(xm)
    ax.set_xticklabels(weights.module, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("||W_ft - W_base|| / ||W_base||")
    ax.set_title("(c) relative change of each module's conv and linear weights", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[k], alpha=0.8) for k in (True, False)]
    ax.legend(handles, ["fine-tuned", "frozen"], fontsize=6, loc="upper left")
    fig.suptitle("Change without renders: activations on the same held-out images, and weights\n"
                 "(control: no weight up to this layer changed, so CKA and every r must be exactly 1)", fontsize=9)
    plots.save(fig, out)


def crosscheck_figure(joined: pd.DataFrame, table: pd.DataFrame, out: Paths) -> None:
    """One panel per layer: render-based change (effect size) against activation-based
    change (1 - r) of each channel, titled with Spearman's rho and its interval."""
    layers = list(dict.fromkeys(table.layer)) or ["(none)"]
    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers) + 0.6, 3.4), squeeze=False)
    for ax, layer in zip(axes[0], layers):
        part = joined[joined.layer == layer]
        ax.scatter(part.activation_change, part.render_change, s=14, color="tab:orange", alpha=0.8)
        row = table[table.layer == layer]
        if len(row) and np.isfinite(row.spearman.iloc[0]):
            r = row.iloc[0]
            interval = f" [{r.spearman_low:.2f}, {r.spearman_high:.2f}]" if np.isfinite(r.spearman_low) else ""
            title = f"{layer}: rho {r.spearman:.2f}{interval}, n={int(r.n_channels)}"
        else:
            title = f"{layer}: n={len(part)}, no correlation"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("activation change, 1 - r", fontsize=8)
        ax.set_ylabel("render change, effect size", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Does feature visualization see what the activations show? One point per rendered channel", fontsize=9)
    fig.tight_layout()
    plots.save(fig, out)
