"""Shared figure helpers (matplotlib's Agg backend; PNG and PDF with fixed metadata).
A stage's own figures live in its subpackage's ``figures`` module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

# Fixed metadata so a rerun writes the same bytes.
_PDF_META = {"CreationDate": None, "ModDate": None, "Producer": "vischange"}
_PNG_META = {"Software": "vischange"}


def save(fig: plt.Figure, paths: Sequence[str | os.PathLike]) -> None:
    """Save `fig` to each path (format from the suffix) and close it."""
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = _PDF_META if path.suffix == ".pdf" else _PNG_META if path.suffix == ".png" else None
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def image_panels(canvases: Sequence[np.ndarray], titles: Sequence[str], suptitle: str, out: Sequence[str | os.PathLike],
                  columns: int = 2) -> None:
    """Several images ((H, W, 3) uint8 each: icon grids, or figures read back from PNG) as
    panels of one figure, row-major, ``columns`` per row, each with its title; unused
    axes are hidden."""
    if len(canvases) != len(titles) or not canvases:
        raise ValueError(f"image_panels needs one title per canvas and at least one canvas ({len(canvases)}, {len(titles)})")
    columns = min(columns, len(canvases))
    rows = -(-len(canvases) // columns)
    # Rows as tall as their most elongated panel, so wide figures are not letterboxed.
    width = 8.0 if columns > 1 else 10.0
    aspects = [c.shape[0] / c.shape[1] for c in canvases] + [0.0] * (rows * columns - len(canvases))
    heights = [width * max(aspects[r * columns : (r + 1) * columns]) for r in range(rows)]
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, sum(heights) + 0.35 * rows + 0.4),
                             squeeze=False, layout="constrained", gridspec_kw={"height_ratios": heights})
    for ax in axes.flat[len(canvases):]:
        ax.set_visible(False)
    for ax, canvas, title in zip(axes.flat, canvases, titles):
        ax.imshow(canvas, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    save(fig, out)


# Helpers shared by several stages' figures -----------------------------------------------


def class_colours(n: int) -> list:
    """One RGBA colour per class: tab10 up to 10 classes, tab20 up to 20, turbo beyond."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    return [cmap(i if n <= 20 else i / max(1, n - 1)) for i in range(n)]


def draw_message(text: str, out: Sequence[str | os.PathLike]) -> None:
    """A small figure holding only `text`: what a figure shows when there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True)
    save(fig, out)


def confusion_axes(ax, conf: pd.DataFrame, names: Sequence[str], title: str):
    """Draw a row-normalized confusion matrix (:func:`vischange.metrics.confusion`) on `ax`;
    counts in the cells for up to 20 classes. Returns the image (for a colour bar)."""
    k = len(names)
    frac = conf["fraction"].to_numpy().reshape(k, k)
    count = conf["count"].to_numpy().reshape(k, k)
    shown = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if count[i, j]:
                    ax.text(j, i, str(count[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if frac[i, j] > 0.5 else "black")
        ax.set_xticks(range(k))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(k))
        ax.set_yticklabels(names, fontsize=6)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=8)
    return shown


DETECTOR_METRICS = (("auc", "ROC AUC"), ("precision", "precision"), ("recall", "recall"))


def detector_grid(classes: Sequence[str], height: float, title_prefix: str = ""):
    """A figure with one panel per detector metric (:data:`DETECTOR_METRICS`), shared y in
    [0, 1], classes along x (named when at most 30). Returns (fig, [(ax, metric), ...])."""
    n = len(classes)
    fig, axes = plt.subplots(1, 3, figsize=(min(18, 3 + 0.35 * n) + 3, height), sharey=True, layout="constrained")
    for ax, (_, label) in zip(axes, DETECTOR_METRICS):
        ax.set_title(f"{title_prefix}{label}", fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        if n <= 30:
            ax.set_xticks(np.arange(n))
            ax.set_xticklabels(classes, rotation=60, ha="right", fontsize=5.5)
        else:
            ax.set_xlabel("class", fontsize=7)
    return fig, [(ax, metric) for ax, (metric, _) in zip(axes, DETECTOR_METRICS)]


def upsample_map(fmap, size: int | tuple[int, int]) -> np.ndarray:
    """A feature map (h, w) (tensor or array) resized bilinearly to the image: -> (H, W) float32."""
    import torch
    import torch.nn.functional as F

    size = (size, size) if isinstance(size, int) else tuple(size)
    t = torch.as_tensor(np.asarray(fmap), dtype=torch.float32)[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def mask_overlay(image, fmap, vmax: float) -> np.ndarray:
    """The seed's overlay: the image dimmed where the map is quiet.

    image: (3, H, W) in [0, 1]; fmap: (h, w) activations (>= 0 after a ReLU); vmax > 0:
    the activation shown at full brightness (shared by a grid so panels compare).
    Returns (H, W, 3) float32 in [0, 1]: image * clip(upsampled map / vmax, 0, 1).
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got {image.shape}")
    if not vmax > 0:
        raise ValueError("vmax must be positive")
    mask = np.clip(upsample_map(fmap, image.shape[1:]) / vmax, 0.0, 1.0)
    return np.clip(image.transpose(1, 2, 0) * mask[..., None], 0.0, 1.0).astype(np.float32)


def overlay_vmax(maps: Sequence[np.ndarray]) -> float:
    """The brightness scale of a grid of :func:`mask_overlay` panels: the largest activation
    of any map, 1 when none is positive."""
    peak = max((float(np.max(m)) for m in maps), default=0.0)
    return peak if peak > 0 else 1.0


def overlay_row(axes: Sequence, images, maps, count: int, vmax: float, fontsize: float) -> None:
    """One row of panels: map i overlaid on image i (:func:`mask_overlay`, brightness scale
    `vmax`), titled with the map's mean activation, for i < count; the other axes hidden.
    images: (N, 3, H, W) tensors in [0, 1]; maps: (N, h, w) tensors."""
    for c, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if c >= count:
            ax.axis("off")
            continue
        ax.imshow(mask_overlay(images[c], maps[c], vmax))
        ax.set_title(f"{float(maps[c].mean()):.3g}", fontsize=fontsize)
