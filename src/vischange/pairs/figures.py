"""The pairs figure (PNG + PDF): per-layer change for every pair of networks."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from .. import plots

plt = plots.plt

Paths = Sequence[str | os.PathLike]


def _styles(pairs: Sequence[tuple[str, str, str]]) -> dict:
    """{(a, b): (colour, linestyle, marker)}: fine-tuning pairs (base against a fine-tuned
    network) solid, pairs of two fine-tuned networks dashed."""
    colours = plt.get_cmap("tab10").colors
    return {(a, b): (colours[i % 10], "-" if kind == "fine-tuning" else "--", "o" if kind == "fine-tuning" else "s")
            for i, (a, b, kind) in enumerate(pairs)}


def _pairs(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys(zip(frame.net_a, frame.net_b, frame.kind)))


def _interval(ax, x, y, low, high, colour, style, marker, label, offset):
    y, low, high = (np.asarray(v, dtype=float) for v in (y, low, high))
    err = np.vstack([np.clip(y - low, 0, None), np.clip(high - y, 0, None)])
    ax.errorbar(np.asarray(x) + offset, y, yerr=np.where(np.isfinite(err), err, 0), color=colour, linestyle=style,
                marker=marker, ms=4, capsize=2, label=label)


def pairs_figure(layers: pd.DataFrame, weights: pd.DataFrame, noise: pd.DataFrame, out: Paths) -> None:
    """Four panels over every pair of networks (fine-tuning pairs solid, pairs of two
    fine-tuned networks dashed): (a) linear CKA per render layer with its bootstrap
    interval; (b) the render test's changed share of channels per layer with its
    interval; (c) the relative kernel change of every module some network trained;
    (d) the paired test d = CKA(X, Y) - mean CKA(base, X|Y) per layer and pair of
    fine-tuned networks with its interval (above 0: the two fine-tunings agree more than
    either agrees with the base; filled: Holm-significant)."""
    names = list(dict.fromkeys(layers.layer))
    x = np.arange(len(names))
    pairs = _pairs(layers)
    styles = _styles(pairs)
    width = 0.5 / max(len(pairs), 1)
    fig, axes = plt.subplots(2, 2, figsize=(max(10.0, 2.2 * len(names) + 4), 8.0))
    (ax_cka, ax_share), (ax_w, ax_d) = axes

    for i, (a, b, _) in enumerate(pairs):
        part = layers[(layers.net_a == a) & (layers.net_b == b)].set_index("layer").reindex(names)
        colour, style, marker = styles[(a, b)]
        offset = (i - (len(pairs) - 1) / 2) * width
        _interval(ax_cka, x, part.cka, part.cka_low, part.cka_high, colour, style, marker, f"{a} vs {b}", offset)
        _interval(ax_share, x, part.changed_share, part.changed_share_low, part.changed_share_high, colour, style,
                  marker, f"{a} vs {b}", offset)
    for ax, label in ((ax_cka, "linear CKA of activations"), (ax_share, "changed share of rendered channels")):
        ax.set_xticks(x)
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    ax_share.set_ylim(-0.05, 1.05)
    # CKA near 1 in every pair is common: zoom to the data, 1 at the top
    low = np.nanmin(layers.cka_low.to_numpy(float)) if layers.cka_low.notna().any() else 0.0
    ax_cka.set_ylim(max(0.0, low - 0.1 * (1 - low) - 1e-3), 1.0 + 0.05 * (1 - low) + 1e-4)
    ax_cka.set_title("(a) activation similarity per layer (1 = unchanged)", fontsize=9)
    ax_share.set_title("(b) render test: share of channels changed", fontsize=9)
    ax_cka.legend(fontsize=7, loc="lower left")

    trained = weights[weights.fine_tuned.fillna(False).astype(bool) & ~weights.replaced.astype(bool)]
    modules = list(dict.fromkeys(trained.module))
    xm = np.arange(len(modules))
    for i, (a, b, _) in enumerate(pairs):
        part = trained[(trained.net_a == a) & (trained.net_b == b)].set_index("module").reindex(modules)
        colour, style, marker = styles[(a, b)]
        ax_w.plot(xm + (i - (len(pairs) - 1) / 2) * width, part.kernel_change, color=colour, linestyle=style,
                  marker=marker, ms=4, label=f"{a} vs {b}")
    ax_w.set_xticks(xm)
    ax_w.set_xticklabels(modules, fontsize=7, rotation=45, ha="right")
    ax_w.set_ylabel("relative kernel change ||W_b - W_a|| / ||W_a||")
    if (trained.kernel_change > 0).any():
        ax_w.set_yscale("log")  # a re-initialised head and a fine-tuned block differ by orders of magnitude
    ax_w.set_title("(c) weight change of the trained modules", fontsize=9)
    ax_w.grid(axis="y", alpha=0.3)

    noise_pairs = list(dict.fromkeys(zip(noise.net_x, noise.net_y)))
    for i, (nx, ny) in enumerate(noise_pairs):
        part = noise[(noise.net_x == nx) & (noise.net_y == ny)].set_index("layer").reindex(names)
        colour = styles.get((nx, ny), ("tab:gray",))[0]
        offset = (i - (len(noise_pairs) - 1) / 2) * width
        _interval(ax_d, x, part.d, part.d_low, part.d_high, colour, "--", "s", f"{nx} and {ny}", offset)
        sig = part.significant.fillna(False).astype(bool).to_numpy()
        ax_d.scatter((x + offset)[sig], part.d.to_numpy(float)[sig], s=60, facecolors=colour, edgecolors="black",
                     zorder=4)
    ax_d.axhline(0, color="black", lw=0.8)
    ax_d.set_xticks(x)
    ax_d.set_xticklabels(names, fontsize=8)
    ax_d.set_ylabel("d = CKA(X, Y) - mean CKA(base, X|Y)")
    ax_d.set_title("(d) change beyond fine-tuning noise (> 0; filled: Holm-significant)", fontsize=9)
    if noise_pairs:
        ax_d.legend(fontsize=7)
    else:
        ax_d.text(0.5, 0.5, "one fine-tuned network: no pair to test", ha="center", va="center",
                  transform=ax_d.transAxes)
    fig.suptitle("Change between every pair of networks", fontsize=11)
    fig.tight_layout()
    plots.save(fig, out)
