"""A class's top feature maps as its score, and which classes and images per-class views show.

Shared by the top-map stage (:mod:`vischange.topmaps`, on the task's own test split) and
the domain-shift stage (:mod:`vischange.domain`, on another domain): both sum each
class's kept top maps into a one-vs-rest score (:func:`class_sums`), tabulate and plot
those sums, and draw the same seeded choice of classes (:func:`shown_classes`) and of
images (:func:`select_images`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .runtime import derive_seed

__all__ = ["class_sums", "sums_table", "shown_classes", "select_images", "draw_sums"]


def class_sums(acts: np.ndarray, top: Mapping[int, Sequence[int]]) -> np.ndarray:
    """Summed activation of each class's top maps on each image: (N, C) -> (N, K) float64.

    Column k is the sum over `top[k]` of the maps' mean activations; NaN where class k
    kept no top map (an empty sum would fake a score of 0).
    """
    acts = np.asarray(acts, dtype=np.float64)
    out = np.full((acts.shape[0], len(top)), np.nan)
    for k, maps in top.items():
        if len(maps):
            out[:, k] = acts[:, list(maps)].sum(1)
    return out


def sums_table(paths: Sequence[str], labels: np.ndarray, sums: np.ndarray, split: str, class_names: Sequence[str]) -> pd.DataFrame:
    """Long table, N * K rows: split, index, path, label, maps_of (label whose top maps are summed), sum."""
    n, k = sums.shape
    return pd.DataFrame(
        {
            "split": split,
            "index": np.repeat(np.arange(n), k),
            "path": np.repeat(list(paths), k),
            "label": np.repeat(labels, k),
            "maps_of": np.tile(np.arange(k), n),
            "sum": sums.ravel(),
        }
    )


def shown_classes(names: Sequence[str], wanted: Sequence[str] | None, max_classes: int) -> list[int]:
    """Labels of the classes the per-class figures show: topmaps.classes, else the first max_classes."""
    if wanted:
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise ValueError(f"config key topmaps.classes: {unknown} are not classes of the dataset ({', '.join(names[:10])}, ...)")
        return [list(names).index(w) for w in wanted]
    return list(range(min(max_classes, len(names))))


def select_images(labels: np.ndarray, label: int, n: int, same: bool, seed: int) -> np.ndarray:
    """Up to n seeded random rows of class `label` (same) or of any other class, sorted."""
    rows = np.flatnonzero((np.asarray(labels) == label) == same)
    rng = np.random.default_rng(derive_seed(seed, "topmaps-images", int(label), int(same)))
    return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False)) if len(rows) else rows


def draw_sums(sums: np.ndarray, labels: np.ndarray, detector: pd.DataFrame, names, shown, title: str, out,
              images: str = "test image", auc_label: str = "test AUC") -> None:
    """The seed's Q5 plots: per shown class, the summed activation of its top maps on every
    image (ordered by true class), coloured by true class, with the validation threshold.

    sums (N, K), labels (N,); detector: one row per class with n_maps, threshold and
    test_auc (:func:`vischange.metrics.one_vs_rest_table`). `images` and `auc_label` name
    the images and the AUC in the panels (another split or domain).
    """
    from . import plots

    colours = plots.class_colours(len(names))
    order = np.argsort(labels, kind="stable")
    cols = min(3, len(shown))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plots.plt.subplots(rows, cols, figsize=(3.3 * cols + 1.5, 2.3 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), shown):
        ax.axis("on")
        row = detector.iloc[k]
        if row["n_maps"] == 0:
            ax.text(0.5, 0.5, "no top map of its own", ha="center", va="center", fontsize=7, transform=ax.transAxes)
        else:
            ax.scatter(np.arange(len(order)), sums[order, k], s=6, c=[colours[int(l)] for l in labels[order]])
            ax.axhline(row["threshold"], color="black", linestyle="--", linewidth=0.8)
        ax.set_title(f"top maps of {names[k]} ({int(row['n_maps'])} maps); {auc_label} {row['test_auc']:.2f}", fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"{images} (by true class)", fontsize=6)
        ax.set_ylabel("summed activation", fontsize=6)
    handles = [plots.plt.Line2D([], [], marker="o", linestyle="", color=colours[k], label=names[k]) for k in range(len(names))][:20]
    fig.legend(handles=handles, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), title="true class", title_fontsize=6)
    fig.suptitle(f"{title}: are top maps unique to their class? (dashed: threshold chosen on validation)", fontsize=8)
    plots.save(fig, out)
