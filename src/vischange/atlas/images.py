"""Atlas images: the bare icon grid (written by :func:`vischange.render.save_png`) and
matplotlib figures (PNG + PDF).

Cell tables come from :mod:`vischange.atlas.stages` (row 0 at the top). Empty cells
(fewer samples than the minimum) stay white.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import plots

plt = plots.plt

__all__ = ["icon_canvas", "atlas_figure", "pair_figure", "density_figure", "compare_figure", "movement_figure"]

Paths = Sequence[str | os.PathLike]


def icon_canvas(icons: Mapping[tuple[int, int], np.ndarray], n: int, size: int) -> np.ndarray:
    """Place (size, size, 3) uint8 icons at their (row, col) of an n x n grid:
    (n * size, n * size, 3) uint8, white where a cell has no icon."""
    canvas = np.full((n * size, n * size, 3), 255, dtype=np.uint8)
    for (row, col), icon in icons.items():
        if icon.shape != (size, size, 3):
            icon = np.asarray(Image.fromarray(icon).resize((size, size), Image.Resampling.BICUBIC))
        canvas[row * size : (row + 1) * size, col * size : (col + 1) * size] = icon
    return canvas


def _grid_axes(ax, canvas: np.ndarray, n: int) -> float:
    ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return canvas.shape[0] / n


def _label_cells(ax, cells: pd.DataFrame, step: float, column: str, filled: str = "filled", fontsize: float = 5) -> None:
    for item in cells[cells[filled]].itertuples():
        text = getattr(item, column)
        if isinstance(text, str) and text:
            ax.text((item.col + 0.5) * step, (item.row + 0.97) * step, text, ha="center", va="bottom",
                    fontsize=fontsize, color="white", bbox=dict(boxstyle="square,pad=0.1", fc="black", alpha=0.55, lw=0))


def _fontsize(n: int) -> float:
    return float(np.clip(60.0 / max(n, 1), 3.0, 8.0))


def atlas_figure(canvas: np.ndarray, cells: pd.DataFrame, n: int, title: str, out: Paths, labels: bool = True) -> None:
    """The icon grid, each filled cell labelled with the class its mean attribution favours most."""
    fig, ax = plt.subplots(figsize=(8, 8))
    step = _grid_axes(ax, canvas, n)
    if labels:
        _label_cells(ax, cells, step, "top_class", fontsize=_fontsize(n))
    filled = int(cells.filled.sum())
    ax.set_title(f"Activation atlas: {title}\n{filled} of {n * n} cells hold at least the minimum of samples"
                 + ("; label: top class by attribution" if labels else ""), fontsize=9)
    plots.save(fig, out)


def pair_figure(canvas: np.ndarray, cells: pd.DataFrame, n: int, a: str, b: str, title: str, out: Paths) -> None:
    """Two-class comparison: x is the attribution to ``a`` minus the attribution to ``b``
    (right: favours a); each cell is labelled with its mean difference."""
    fig, ax = plt.subplots(figsize=(8, 8))
    step = _grid_axes(ax, canvas, n)
    cells = cells.copy()
    cells["diff_label"] = [f"{v:+.2f}" if np.isfinite(v) else "" for v in cells["attribution_difference"].astype(float)]
    _label_cells(ax, cells, step, "diff_label", fontsize=_fontsize(n))
    ax.set_xlabel(f"<- favours {b}      attribution({a}) - attribution({b})      favours {a} ->", fontsize=8)
    ax.set_ylabel("one-dimensional UMAP of the activations", fontsize=8)
    ax.set_title(f"Two-class activation atlas: {title}", fontsize=9)
    plots.save(fig, out)


def density_figure(layout: pd.DataFrame, cells: pd.DataFrame, n: int, min_count: int, title: str, out: Paths) -> None:
    """Left: every sample in the normalized layout, coloured by its top-attributed class,
    with the grid; right: samples per cell, cells below the minimum hatched."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    classes = sorted(set(layout["top_class"].astype(str)))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for i, name in enumerate(classes):
        sel = layout["top_class"].astype(str) == name
        left.scatter(layout.x[sel], layout.y[sel], s=4, color=cmap(i % cmap.N), label=name, linewidths=0)
    for k in range(n + 1):
        left.axhline(k / n, color="0.85", lw=0.5, zorder=0)
        left.axvline(k / n, color="0.85", lw=0.5, zorder=0)
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_aspect("equal")
    left.set_title("samples by top-attributed class", fontsize=9)
    if len(classes) <= 20:
        left.legend(fontsize=6, markerscale=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    counts = cells.pivot(index="row", columns="col", values="count").to_numpy()
    image = right.imshow(counts, cmap="viridis", interpolation="nearest")
    for item in cells[cells["count"] < min_count].itertuples():
        right.add_patch(plt.Rectangle((item.col - 0.5, item.row - 0.5), 1, 1, fill=False, hatch="////",
                                      edgecolor="white", lw=0))
    right.set_xticks([])
    right.set_yticks([])
    right.set_title(f"samples per cell (hatched: below {min_count}, no icon)", fontsize=9)
    fig.colorbar(image, ax=right, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    plots.save(fig, out)


def compare_figure(base: np.ndarray, finetuned: np.ndarray, cells: pd.DataFrame, n: int, layer: str, out: Paths,
                   labels: bool = True) -> None:
    """Both networks' icons on the shared layout, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.4), layout="constrained")
    for ax, canvas, net in zip(axes, (base, finetuned), ("base", "finetuned")):
        step = _grid_axes(ax, canvas, n)
        if labels:
            _label_cells(ax, cells, step, f"top_class_{net}", filled=f"filled_{net}", fontsize=_fontsize(n))
        ax.set_title(f"{net} network: its own activations and icons", fontsize=9)
    fig.suptitle(
        f"Comparison atlas of {layer}: one UMAP layout fit on the union of both networks' activations "
        "(same images, same positions).\nEach icon renders the mean of that network's points in the cell "
        "through that network; labels are each network's own top class by attribution.",
        fontsize=9,
    )
    plots.save(fig, out)


def movement_figure(cells: pd.DataFrame, n: int, layer: str, out: Paths) -> None:
    """Per cell of the shared layout: samples of each network, and how far the
    activations of the images whose base point lies in the cell moved."""
    panels = [
        ("count_base", "base samples per cell", "viridis", None),
        ("count_finetuned", "fine-tuned samples per cell", "viridis", None),
        ("moved_cosine", "cos(base, fine-tuned activation)\nof the cell's images (1 = unchanged)", "magma", (None, 1.0)),
        ("moved_distance", "layout distance base -> fine-tuned\nof the cell's images", "magma_r", (0.0, None)),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6))
    for ax, (column, title, cmap, limits) in zip(axes, panels):
        values = cells.pivot(index="row", columns="col", values=column).to_numpy(dtype=float)
        vmin, vmax = limits if limits else (None, None)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"Comparison atlas of {layer}: where the fine-tuned activations moved (shared layout)", fontsize=10)
    plots.save(fig, out)

