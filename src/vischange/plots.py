"""Figures, drawn with matplotlib's Agg backend and saved as PNG and PDF."""

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


def render_pairs(
    channels: pd.DataFrame,
    render_dirs: Mapping[tuple[str, str], Path],
    seed: int,
    out: Sequence[str | os.PathLike],
    max_channels: int = 8,
) -> None:
    """For each layer, base renders (upper row) over fine-tuned renders (lower row), titled
    with channel number and cross-seed cosine."""
    layers = list(dict.fromkeys(channels["layer"]))
    ncols = min(max_channels, int(channels.groupby("layer").size().max()))
    fig, axes = plt.subplots(2 * len(layers), ncols, figsize=(1.4 * ncols + 1.2, 2.9 * len(layers)), squeeze=False)
    for row, layer in enumerate(layers):
        subset = channels[channels.layer == layer].head(ncols)
        for col in range(ncols):
            for k, net in enumerate(("base", "finetuned")):
                ax = axes[2 * row + k, col]
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(subset):
                    ax.axis("off")
                    continue
                item = subset.iloc[col]
                path = render_dirs[(net, layer)] / f"c{int(item.channel):04d}_s{seed}.png"
                with Image.open(path) as image:
                    ax.imshow(np.asarray(image.convert("RGB")))
                if k == 0:
                    score = item.cosine_cross_seed if np.isfinite(item.cosine_cross_seed) else item.cosine_same_seed
                    ax.set_title(f"c{int(item.channel)}  cos {score:.2f}", fontsize=7)
                if col == 0:
                    tag = "fine-tuned" if item.fine_tuned else "frozen"
                    ax.set_ylabel(f"{layer}\n({tag})\n{'base' if k == 0 else 'fine-tuned'}", fontsize=7)
    fig.suptitle(f"Channel renders, base (upper) vs fine-tuned (lower), seed {seed}", fontsize=9)
    save(fig, out)


def cosine_by_layer(channels: pd.DataFrame, out: Sequence[str | os.PathLike]) -> None:
    """Box plot per layer: base-vs-fine-tuned cosine beside the seed-vs-seed noise floor."""
    layers = list(dict.fromkeys(channels["layer"]))
    change_col = "cosine_cross_seed" if channels["cosine_cross_seed"].notna().any() else "cosine_same_seed"
    fig, ax = plt.subplots(figsize=(1.6 * len(layers) + 2, 3.6))
    positions, data, colours = [], [], []
    for i, layer in enumerate(layers):
        subset = channels[channels.layer == layer]
        noise = pd.concat([subset.noise_base, subset.noise_finetuned]).dropna()
        for offset, values, colour in ((-0.18, subset[change_col].dropna(), "tab:orange"), (0.18, noise, "tab:gray")):
            positions.append(i + offset)
            data.append(values.to_numpy())
            colours.append(colour)
    boxes = ax.boxplot(data, positions=positions, widths=0.3, patch_artist=True, showfliers=False)
    for patch, colour in zip(boxes["boxes"], colours):
        patch.set_facecolor(colour)
        patch.set_alpha(0.5)
    rng = np.random.default_rng(0)
    for x, values, colour in zip(positions, data, colours):
        ax.scatter(x + rng.uniform(-0.06, 0.06, len(values)), values, s=8, color=colour, zorder=3)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(
        [f"{l}\n({'fine-tuned' if channels[channels.layer == l].fine_tuned.iloc[0] else 'frozen'})" for l in layers],
        fontsize=8,
    )
    ax.set_ylabel("cosine similarity of render embeddings")
    ax.legend(
        [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in ("tab:orange", "tab:gray")],
        ["base vs fine-tuned (different seeds)" if change_col == "cosine_cross_seed" else "base vs fine-tuned", "seed vs seed (noise floor)"],
        fontsize=7,
        loc="lower left",
    )
    ax.set_title("How much each channel's render changed, per layer", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    save(fig, out)
