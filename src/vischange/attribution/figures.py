"""The attribution figures: filters, feature maps, saliency and Grad-CAM, embedding, confusion."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import Tensor

from .. import plots
from .embedding import decision_regions


def _grid_shape(n: int, max_cols: int = 16) -> tuple[int, int]:
    cols = min(max_cols, max(1, int(np.ceil(np.sqrt(n)))))
    return int(np.ceil(n / cols)), cols


def draw_filters(tiles: np.ndarray, title: str, out) -> None:
    """Filter tiles (C, k, k, 3) as a grid."""
    rows, cols = _grid_shape(len(tiles))
    fig, axes = plots.plt.subplots(rows, cols, figsize=(0.55 * cols + 0.5, 0.55 * rows + 0.7), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(tiles):
            ax.imshow(tiles[i], interpolation="nearest")
    fig.suptitle(title + "\n(0.5 gray = zero weight, one scale for all)", fontsize=8)
    plots.save(fig, out)


def draw_feature_maps(image: Tensor, rows: Sequence[tuple[str, list]], title: str, out) -> None:
    """The image, then per layer its maps (each scaled to its own maximum), channel and mean in the title."""
    cols = 1 + max(len(items) for _, items in rows)
    fig, axes = plots.plt.subplots(len(rows), cols, figsize=(1.1 * cols, 1.25 * len(rows) + 0.5), squeeze=False)
    for r, (name, items) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.imshow(image.permute(1, 2, 0).numpy())
                ax.set_ylabel(name, fontsize=7)
            elif c - 1 < len(items):
                channel, fmap = items[c - 1]
                ax.imshow(fmap, cmap="magma", vmin=0, vmax=max(float(fmap.max()), 1e-9))
                ax.set_title(f"c{channel} {fmap.mean():.2g}", fontsize=6)
            else:
                ax.axis("off")
    fig.suptitle(title, fontsize=8)
    plots.save(fig, out)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """image (H, W, 3) in [0, 1] blended with a jet colouring of heat (H, W) scaled to its max: -> (H, W, 3) in [0, 1]."""
    from matplotlib import colormaps

    scale = float(heat.max()) if heat.max() > 0 else 1.0
    coloured = colormaps["jet"](np.clip(heat / scale, 0, 1))[..., :3]
    return np.clip((1 - alpha) * image + alpha * coloured, 0, 1)


def draw_attributions(images: Tensor, table: pd.DataFrame, found: Mapping[str, Tensor], names, layer: str, title: str, out) -> None:
    """Per image: the image, saliency (predicted class), Grad-CAM of the predicted and of the true class."""
    n = len(table)
    headers = ["image", "saliency (predicted)", f"Grad-CAM {layer} (predicted)", f"Grad-CAM {layer} (true)"]
    fig, axes = plots.plt.subplots(n, 4, figsize=(6.4, 1.65 * n + 0.6), squeeze=False)
    for i in range(n):
        picture = images[i].permute(1, 2, 0).numpy()
        row = table.iloc[i]
        panels = [
            picture,
            found["saliency"][i].numpy(),
            heat_overlay(picture, found["gradcam_predicted"][i].numpy()),
            heat_overlay(picture, found["gradcam_true"][i].numpy()),
        ]
        for j, (ax, panel) in enumerate(zip(axes[i], panels)):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(panel, cmap="gray" if j == 1 else None)
            if i == 0:
                ax.set_title(headers[j], fontsize=6.5)
        mark = "" if row["correct"] else "  WRONG"
        axes[i, 0].set_ylabel(f"#{int(row['index'])}\ntrue {names[int(row['label'])]}\npred {names[int(row['predicted'])]}{mark}",
                              fontsize=6, color="black" if row["correct"] else "tab:red")
    fig.suptitle(title, fontsize=8)
    plots.save(fig, out)


def draw_embedding(emb: pd.DataFrame, names: Sequence[str], title: str, out) -> None:
    """UMAP points coloured by true class, misclassified ones crossed; background: the network's predicted class nearby."""
    from matplotlib.colors import ListedColormap

    xy = emb[["x", "y"]].to_numpy()
    colours = plots.class_colours(len(names))
    fig, ax = plots.plt.subplots(figsize=(6.2, 4.8))
    xs, ys, regions = decision_regions(xy, emb["predicted"].to_numpy())
    ax.pcolormesh(xs, ys, regions, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(names) - 0.5, alpha=0.18, shading="auto")
    right = emb["correct"].astype(bool).to_numpy()
    for k, name in enumerate(names):
        part = (emb["label"].to_numpy() == k)
        ax.scatter(xy[part & right, 0], xy[part & right, 1], s=12, color=colours[k], label=name if len(names) <= 20 else None)
        ax.scatter(xy[part & ~right, 0], xy[part & ~right, 1], s=40, color=colours[k], marker="X", edgecolors="black", linewidths=0.6)
    ax.scatter([], [], s=40, color="white", marker="X", edgecolors="black", label="misclassified")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title + f"\nshading: the network's prediction of the nearest test images; {int((~right).sum())} of {len(emb)} misclassified",
                 fontsize=8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plots.save(fig, out)


def draw_confusion(conf: pd.DataFrame, names: Sequence[str], title: str, out) -> None:
    """Row-normalized confusion matrix; counts written in the cells for up to 20 classes."""
    k = len(names)
    side = min(14.0, 2.0 + 0.45 * k)
    fig, ax = plots.plt.subplots(figsize=(side + 1.0, side))
    shown = plots.confusion_axes(ax, conf, names, title)
    fig.colorbar(shown, ax=ax, fraction=0.046, label="fraction of the true class")
    plots.save(fig, out)
