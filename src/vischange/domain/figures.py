"""The domain-shift figures: confusion matrices, the detector on both domains, overlays, both networks."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import plots
from .shift import DOMAINS


def draw_confusions(confusions: Mapping[str, pd.DataFrame], names: Sequence[str], titles: Sequence[str], suptitle: str, out) -> None:
    """The source and the target confusion matrices side by side (row-normalized, one colour scale)."""
    side = min(12.0, 2.2 + 0.42 * len(names))
    fig, axes = plots.plt.subplots(1, len(confusions), figsize=(2 * side + 1.5, side), squeeze=False)
    shown = None
    for ax, (d, conf), title in zip(axes[0], confusions.items(), titles):
        shown = plots.confusion_axes(ax, conf, names, title)
    fig.colorbar(shown, ax=list(axes[0]), fraction=0.025, label="fraction of the true class")
    fig.suptitle(suptitle, fontsize=9)
    plots.save(fig, out)


def draw_detector(detector: pd.DataFrame, title: str, out) -> None:
    """Per class, on the target domain (filled) and the source test split (hollow, faint): the top-map
    detector's ROC AUC, precision and recall (threshold from source validation) beside the classifier's."""
    x = np.arange(len(detector))
    fig, panels = plots.detector_grid(list(detector["class"]), 3.6)
    axes = [ax for ax, _ in panels]
    for ax, metric in panels:
        ax.plot(x - 0.12, detector[f"source_{metric}"], "o", color="tab:green", ms=4, mfc="none", alpha=0.5,
                label="top maps, source")
        ax.plot(x - 0.12, detector[f"head_source_{metric}"], "s", color="tab:blue", ms=3.5, mfc="none", alpha=0.5,
                label="classifier, source")
        ax.plot(x + 0.12, detector[f"target_{metric}"], "o", color="tab:green", ms=4.5, label="top maps, target")
        ax.plot(x + 0.12, detector[f"head_target_{metric}"], "s", color="tab:blue", ms=4, label="classifier, target")
    axes[0].legend(fontsize=5.5, loc="lower left")
    fig.suptitle(f"{title}:\nsummed top maps as a one-vs-rest detector (threshold from source validation) "
                 "vs the classifier, source test split and target domain", fontsize=8)
    plots.save(fig, out)


def draw_overlays(panels, names: Sequence[str], title: str, out) -> None:
    """Per class two rows, source images over target images, its top map overlaid (the seed's mask
    overlay) on one brightness scale per class, so a map that goes quiet on the target shows dark."""
    if not panels:
        plots.draw_message(f"{title}: no shown class kept a top map of its own", out)
        return
    cols = max(1, max(len(g[2]) for _, _, by in panels for g in by.values()))
    # Square image panels with a one-line title each: ~1.25 in per row, plus the suptitle.
    fig, axes = plots.plt.subplots(2 * len(panels), cols, figsize=(1.05 * cols + 1.2, 2.5 * len(panels) + 0.7),
                                   squeeze=False, layout="constrained")
    for r, (k, the_map, by_domain) in enumerate(panels):
        vmax = plots.overlay_vmax([m.numpy() for _, maps, _ in by_domain.values() for m in maps])
        for j, d in enumerate(DOMAINS):
            images, maps, picks = by_domain[d]
            plots.overlay_row(axes[2 * r + j, :cols], images, maps, len(picks), vmax, fontsize=5.5)
            axes[2 * r + j, 0].set_ylabel(f"{names[k]}\nmap {the_map}\n{d}", fontsize=6)
    fig.suptitle(f"{title},\non images of its class: source (upper) and target domain (lower) rows, one brightness scale"
                 " per class;\nnumber: the map's mean activation", fontsize=7)
    plots.save(fig, out)


def draw_compare(table: pd.DataFrame, summary: pd.DataFrame, out) -> None:
    """Source (x) against target (y) per class: the classifier's recall and AUC, the detector's AUC; one colour per network."""
    colours = {"base": "tab:orange", "finetuned": "tab:purple"}
    # fine-tuning variants (vischange.pairs) in colours of their own
    others = [net for net in dict.fromkeys(table.net) if net not in colours]
    colours.update(zip(others, ["tab:green", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:blue", "tab:red"] * 10))
    fig, axes = plots.plt.subplots(1, 3, figsize=(10.5, 3.6))
    for ax, (what, label) in zip(axes, (("head_recall", "classifier recall"), ("head_auc", "classifier ROC AUC"),
                                        ("detector_auc", "top-map detector ROC AUC"))):
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="--")
        for net, part in table.groupby("net", sort=False):
            acc = summary[(summary["net"] == net)].set_index("domain")["accuracy"]
            ax.scatter(part[f"{what}_source"], part[f"{what}_target"], s=18, color=colours.get(net, "0.3"),
                       label=f"{net} (accuracy {acc['source']:.2f} -> {acc['target']:.2f})")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_xlabel("source test split", fontsize=7)
        ax.set_ylabel("target domain", fontsize=7)
        ax.set_title(f"{label}, per class", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, loc="upper left")
    fig.suptitle("Domain shift: per class, source against target (below the diagonal: worse on the target)", fontsize=9)
    plots.save(fig, out)
