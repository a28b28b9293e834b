"""The top-map figures: class lists, renders, one image's maps, one map on many images, the detector."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from torch import Tensor

from .. import plots


def draw_lists(cmaps: pd.DataFrame, names: Sequence[str], shown: Sequence[int], title: str, out) -> None:
    """Upper: kept top maps per class (all classes). Lower: each shown class's ranked list,
    cells coloured by frequency, kept maps bold, shared ones gray with a strike-through."""
    n2 = int(cmaps["rank"].max()) if len(cmaps) else 1
    fig = plots.plt.figure(figsize=(max(6.0, 0.42 * n2 + 1.8), 2.2 + 0.38 * len(shown)))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.6, 0.38 * max(1, len(shown))], hspace=1.1 if len(names) <= 30 else 0.45)
    ax = fig.add_subplot(grid[0])
    kept = cmaps[~cmaps["shared"].astype(bool)].groupby("label").size().reindex(range(len(names)), fill_value=0)
    listed = cmaps.groupby("label").size().reindex(range(len(names)), fill_value=0)
    x = np.arange(len(names))
    ax.bar(x, listed.to_numpy(), color="0.8", label="listed (N2 most frequent)")
    ax.bar(x, kept.to_numpy(), color="tab:green", label="kept (unique to the class)")
    ax.set_xticks(x if len(names) <= 30 else [])
    if len(names) <= 30:
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("maps", fontsize=7)
    ax.legend(fontsize=6)
    ax.set_title(f"{title}: top feature maps per class", fontsize=8)
    ax = fig.add_subplot(grid[1])
    freq = np.full((len(shown), n2), np.nan)
    for r, k in enumerate(shown):
        for item in cmaps[cmaps["label"] == k].itertuples():
            freq[r, int(item.rank) - 1] = item.frequency
            ax.text(int(item.rank) - 1, r, str(int(item.map)), ha="center", va="center", fontsize=5.5,
                    color="0.45" if item.shared else "black", fontweight="normal" if item.shared else "bold",
                    fontstyle="italic" if item.shared else "normal")
            if item.shared:
                ax.plot([int(item.rank) - 1.35, int(item.rank) - 0.65], [r, r], color="0.45", linewidth=0.6)
    shown_im = ax.imshow(freq, cmap="YlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([names[k] for k in shown], fontsize=6)
    ax.set_xticks(range(n2))
    ax.set_xticklabels(range(1, n2 + 1), fontsize=5)
    ax.set_xlabel("rank in the class (map number in the cell; gray struck-through: shared with another class, removed)", fontsize=6)
    fig.colorbar(shown_im, ax=ax, fraction=0.03, label="share of the class's images")
    plots.save(fig, out)


def draw_renders(table: pd.DataFrame, folder: Path, names, shown, title: str, out) -> None:
    """Per rendered map: the seed's upscaling render beside the render engine's channel render."""
    from PIL import Image

    if table.empty:
        plots.draw_message(f"{title}: no kept top maps to render", out)
        return
    maps = table.drop_duplicates("map")
    cols = min(6, len(maps))
    rows = int(np.ceil(len(maps) / cols))
    fig, axes = plots.plt.subplots(rows, 2 * cols, figsize=(2.2 * cols, 1.35 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, item in enumerate(maps.itertuples()):
        r, c = divmod(i, cols)
        for j, method in enumerate(("upscale", "engine")):
            row = table[(table["map"] == item.map) & (table["method"] == method)].iloc[0]
            with Image.open(folder / row["file"]) as picture:
                axes[r, 2 * c + j].imshow(np.asarray(picture.convert("RGB")))
            axes[r, 2 * c + j].set_title(f"{'upscaling' if j == 0 else 'engine'} {row['objective']:.3g}", fontsize=5.5)
        axes[r, 2 * c].text(0, -0.28, f"map {int(item.map)}: {names[int(item.label)]} #{int(item.rank)}", fontsize=6,
                            transform=axes[r, 2 * c].transAxes)
    fig.suptitle(f"{title}: what top maps draw, the seed's upscaling render (left) and the render engine (right);"
                 " number: the map's mean activation on the render", fontsize=7)
    plots.save(fig, out)


def draw_one_image(picture: Tensor, fmaps: Tensor, one: pd.DataFrame, class_name: str, index: int, title: str, out) -> None:
    """The image, then its top maps overlaid (seed's mask overlay, one brightness scale), ordered by activation;
    the maps that are top maps of the image's own class framed in green, other classes' in orange."""
    n = len(one)
    cols = min(8, n + 1)
    rows = int(np.ceil((n + 1) / cols))
    fig, axes = plots.plt.subplots(rows, cols, figsize=(1.25 * cols, 1.45 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(picture.permute(1, 2, 0).numpy())
    axes[0, 0].set_title(f"test #{index}\n{class_name}", fontsize=6)
    vmax = plots.overlay_vmax([fmaps[int(m)].numpy() for m in one["map"]])
    for i, item in enumerate(one.itertuples(), 1):
        ax = axes.ravel()[i]
        ax.imshow(plots.mask_overlay(picture, fmaps[int(item.map)], vmax))
        owner = item.top_map_of if isinstance(item.top_map_of, str) else ""
        colour = "tab:green" if owner == class_name else "tab:orange" if owner else None
        ax.set_title(f"#{item.rank} map {int(item.map)}\n{item.activation:.3g}" + (f" ({owner})" if owner and owner != class_name else ""),
                     fontsize=5.5, color=colour or "black")
        if colour:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2)
    fig.suptitle(f"{title}: where the image's most active maps fire (green frame: a top map of its class,"
                 " orange: of another class)", fontsize=7)
    plots.save(fig, out)


def draw_map_images(groups, names, k: int, the_map: int, title: str, out) -> None:
    """One class top map on images of its class (upper rows) and of other classes (lower rows), one brightness scale."""
    cols = max(1, max(len(g[3]) for g in groups))
    fig, axes = plots.plt.subplots(2, cols, figsize=(1.2 * cols + 0.6, 3.2), squeeze=False)
    vmax = plots.overlay_vmax([m.numpy() for _, _, maps, _ in groups for m in maps])
    for r, (same, images, maps, picks) in enumerate(groups):
        plots.overlay_row(axes[r, :cols], images, maps, len(picks), vmax, fontsize=6)
        axes[r, 0].set_ylabel(f"{names[k]}" if same else "other classes", fontsize=7)
    fig.suptitle(f"{title}: map {the_map} (the top map of {names[k]}) on test images of its class (upper) and others (lower);"
                 " number: its mean activation", fontsize=7)
    plots.save(fig, out)


def draw_detector(detector: pd.DataFrame, title: str, out) -> None:
    """Per class: test ROC AUC and precision/recall of the top-map detector beside the network's own classifier."""
    x = np.arange(len(detector))
    fig, panels = plots.detector_grid(list(detector["class"]), 3.2, "test ")
    axes = [ax for ax, _ in panels]
    for ax, metric in panels:
        ax.plot(x, detector[f"test_{metric}"], "o", color="tab:green", ms=4, label="summed top maps (threshold from val)")
        ax.plot(x, detector[f"head_{metric}"], "s", color="tab:blue", ms=3.5, mfc="none", label="network's classifier")
    axes[0].legend(fontsize=6, loc="lower left")
    fig.suptitle(f"{title}: the summed activation of a class's top maps as a one-vs-rest detector", fontsize=8)
    plots.save(fig, out)
