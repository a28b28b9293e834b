"""Figures of the render comparison (PNG and PDF): render pairs, most and least changed
channels, random channels, cosine and Gram per layer, gray scores and counts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from ..plots import plt, save
from . import stats


def render_dirs(tables: Mapping[tuple[str, str], str | os.PathLike]) -> dict[tuple[str, str], Path]:
    """{(net, layer): renders.csv} -> {(net, layer): the folder of its PNGs} (a render
    table's `file` column names PNGs beside it)."""
    return {key: Path(t).parent for key, t in tables.items()}


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


def _layers(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["layer"]))


def _tag(fine_tuned: bool) -> str:
    return "fine-tuned" if fine_tuned else "frozen"


def render_grid(
    blocks: Sequence[tuple[str, Sequence[tuple[int, str]]]],
    render_dirs: Mapping[tuple[str, str], Path],
    seed: int,
    out: Sequence[str | os.PathLike],
    title: str,
) -> None:
    """Rows of renders, two per block: base (upper) over fine-tuned (lower).

    blocks: (layer label, [(channel, caption), ...]); the label is "layer" or
    "layer (tag)" and the render folder is render_dirs[(net, layer)].
    """
    ncols = max([len(items) for _, items in blocks] + [1])
    # Rows per block: base, fine-tuned, then a spacer that holds the next block's captions.
    ratios = ([1.0, 1.0, 0.32] * len(blocks))[:-1]
    height = 1.25 * sum(ratios)
    fig = plt.figure(figsize=(1.3 * ncols + 1.3, height))
    grid = fig.add_gridspec(len(ratios), ncols, height_ratios=ratios, hspace=0.06, wspace=0.08, top=1.0, bottom=0.0)
    for row, (label, items) in enumerate(blocks):
        layer = label.split(" ")[0]
        for col in range(ncols):
            for k, net in enumerate(("base", "finetuned")):
                ax = fig.add_subplot(grid[3 * row + k, col])
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(items):
                    ax.axis("off")
                    continue
                channel, caption = items[col]
                with Image.open(render_dirs[(net, layer)] / f"c{int(channel):04d}_s{seed}.png") as image:
                    ax.imshow(np.asarray(image.convert("RGB")))
                if k == 0:
                    ax.set_title(caption, fontsize=6.5)
                if col == 0:
                    ax.set_ylabel(f"{label.replace(' ', chr(10))}\n{'base' if k == 0 else 'fine-tuned'}", fontsize=7)
    # Above the first row's captions; bbox "tight" keeps it in the saved file.
    fig.text(0.5, 1 + 0.36 / height, title, ha="center", va="bottom", fontsize=9, transform=fig.transFigure)
    save(fig, out)


def _caption(row) -> str:
    """Channel, cosine, and the per-channel test's q-value (or its status when untested)."""
    text = f"c{int(row.channel)}  cos {row.cosine:.3f}"
    q = getattr(row, "q_value", float("nan"))
    if np.isfinite(q):
        text += f"\nq {q:.2g}"
    elif getattr(row, "status", None) in ("died", "born", "identical"):
        text += f"\n{row.status}"
    return text + (" (gray)" if row.gray else "")


def top_channels(
    channels: pd.DataFrame,
    render_dirs: Mapping[tuple[str, str], Path],
    seed: int,
    k: int,
    most_changed: bool,
    out: Sequence[str | os.PathLike],
) -> None:
    """Per layer, the k usable (non-gray) channels with the lowest (most_changed) or highest
    base-vs-fine-tuned cosine, base render above fine-tuned render (the seed's Figures 5-8)."""
    blocks = []
    for layer in _layers(channels):
        part = stats.top_channels(channels, layer, k, most_changed)
        tag = _tag(bool(channels[channels.layer == layer].fine_tuned.iloc[0]))
        blocks.append((f"{layer} ({tag})", [(int(r.channel), _caption(r)) for r in part.itertuples()]))
    which = "most changed (lowest cosine)" if most_changed else "least changed (highest cosine)"
    title = f"The {k} {which} usable channels per layer, seed {seed}: base (upper) vs fine-tuned (lower)"
    render_grid(blocks, render_dirs, seed, out, title)


def random_channels(
    channels: pd.DataFrame,
    render_dirs: Mapping[tuple[str, str], Path],
    seed: int,
    layer: str,
    k: int,
    rng_seed: int,
    out: Sequence[str | os.PathLike],
) -> None:
    """k channels of `layer` drawn at random (gray ones included, and marked; the seed's Figure 10)."""
    part = channels[channels.layer == layer]
    rng = np.random.default_rng(rng_seed)
    picks = np.sort(rng.choice(len(part), size=min(k, len(part)), replace=False))
    rows = part.iloc[picks]
    blocks = [(f"{layer} ({_tag(bool(part.fine_tuned.iloc[0]))})", [(int(r.channel), _caption(r)) for r in rows.itertuples()])]
    render_grid(blocks, render_dirs, seed, out, f"{len(rows)} random channels of {layer}, seed {seed}: base (upper) vs fine-tuned (lower)")


def cosine_by_layer(
    channels: pd.DataFrame, layers: pd.DataFrame, out: Sequence[str | os.PathLike], percentile: float = 5
) -> None:
    """Box plot per layer: base-vs-fine-tuned cosine beside the seed-vs-seed similarities,
    with the layer's noise floor marked and the share of channels below it (the seed's Figure 9).
    Gray channels are left out."""
    names = _layers(channels)
    used = channels[~channels.gray]
    summary = layers.set_index("layer")
    cross = used["cosine_cross_seed"].notna().any()
    fig, ax = plt.subplots(figsize=(1.7 * len(names) + 2, 4.0))
    positions, data, colours = [], [], []
    for i, layer in enumerate(names):
        part = used[used.layer == layer]
        noise = pd.concat([part.cosine_noise_base, part.cosine_noise_finetuned]).dropna()
        for offset, values, colour in ((-0.18, part.cosine.dropna(), "tab:orange"), (0.18, noise, "tab:gray")):
            positions.append(i + offset)
            data.append(values.to_numpy())
            colours.append(colour)
        floor = summary.loc[layer, "noise_floor"]
        if np.isfinite(floor):
            ax.hlines(floor, i - 0.4, i + 0.4, colors="tab:red", linestyles="--", linewidth=1.2, zorder=4)
            share = summary.loc[layer, "share_below_floor"]
            ax.annotate(f"{100 * share:.0f}% below", (i, floor), xytext=(0, -10), textcoords="offset points",
                        ha="center", fontsize=7, color="tab:red")
    boxes = ax.boxplot([d if len(d) else [np.nan] for d in data], positions=positions, widths=0.3, patch_artist=True, showfliers=False)
    for patch, colour in zip(boxes["boxes"], colours):
        patch.set_facecolor(colour)
        patch.set_alpha(0.5)
    rng = np.random.default_rng(0)
    for x, values, colour in zip(positions, data, colours):
        ax.scatter(x + rng.uniform(-0.06, 0.06, len(values)), values, s=7, color=colour, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        [f"{l}\n({_tag(bool(summary.loc[l, 'fine_tuned']))}, n={int(summary.loc[l, 'n_used'])})" for l in names], fontsize=8
    )
    ax.set_ylabel("cosine similarity of render embeddings")
    ax.legend(
        [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in ("tab:orange", "tab:gray")]
        + [plt.Line2D([], [], color="tab:red", linestyle="--")],
        [
            "base vs fine-tuned" + (" (different seeds)" if cross else ""),
            "seed vs seed, same network",
            f"noise floor ({percentile:g}th percentile of seed vs seed)",
        ],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_title("How much each channel's render changed, per layer (gray renders excluded)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    save(fig, out)


def gram_by_layer(gram: pd.DataFrame, out: Sequence[str | os.PathLike]) -> None:
    """Median Gram distance (base vs fine-tuned) per Gram layer, one line per render layer,
    beside the median seed-vs-seed Gram distance (dashed). Gray channels are left out."""
    used = gram[~gram.gray]
    features = list(dict.fromkeys(gram["feature_layer"]))
    fig, ax = plt.subplots(figsize=(0.45 * len(features) + 3.5, 3.6))
    x = np.arange(len(features))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(1, len(_layers(gram)))))
    for colour, layer in zip(colours, _layers(gram)):
        rows = used[used.layer == layer]
        change = rows.groupby("feature_layer", sort=False)["gram"].median().reindex(features)
        # both networks' seed-vs-seed distances pooled; a layer whose channels are all gray has none
        pooled = pd.concat([rows[["feature_layer", "gram_noise_base"]].rename(columns={"gram_noise_base": "noise"}),
                            rows[["feature_layer", "gram_noise_finetuned"]].rename(columns={"gram_noise_finetuned": "noise"})])
        noise = pooled.groupby("feature_layer", sort=False)["noise"].median().reindex(features)
        tag = _tag(bool(gram[gram.layer == layer].fine_tuned.iloc[0]))
        ax.plot(x, change.to_numpy(dtype=float), "o-", color=colour, ms=3, label=f"{layer} ({tag}): base vs fine-tuned")
        if noise.notna().any():
            ax.plot(x, noise.to_numpy(dtype=float), ":", color=colour, lw=1, label=f"{layer}: seed vs seed")
    ax.set_xticks(x)
    ax.set_xticklabels(features, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("layer of the embedding network whose Gram matrix is compared")
    ax.set_ylabel("median normalized Gram distance")
    ax.set_title("Gram-matrix distance of renders, per layer", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", ncol=1 if len(_layers(gram)) < 4 else 2)
    save(fig, out)


def gray_scores(renders: pd.DataFrame, cut: Mapping, out: Sequence[str | os.PathLike]) -> None:
    """Every render's gray score, sorted, on a log scale, with the cut marked (the seed's Figure 13)."""
    scores = np.sort(renders["gray_score"].to_numpy(dtype=float))
    threshold = float(cut["threshold"])
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    rank = np.arange(len(scores))
    gray = scores < threshold
    ax.scatter(rank[gray], 1 + scores[gray], s=6, color="0.5", label=f"gray ({gray.sum()})")
    ax.scatter(rank[~gray], 1 + scores[~gray], s=6, color="tab:purple", label=f"colour ({(~gray).sum()})")
    ax.axhline(1 + threshold, color="tab:red", linestyle="--", linewidth=1,
               label=f"cut {threshold:.3g} ({cut['method']}" + (f", jump x{cut['jump']:.3g})" if cut.get("jump") else ")"))
    ax.set_yscale("log")
    ax.set_xlabel("render, sorted by gray score")
    ax.set_ylabel("1 + gray score (squared 8-bit levels)")
    ax.set_title("Gray scores of all renders, both networks", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    save(fig, out)


def gray_counts(renders: pd.DataFrame, out: Sequence[str | os.PathLike]) -> None:
    """Gray renders per layer and network, out of all renders (the seed's Figure 11)."""
    names = _layers(renders)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 3.2))
    x = np.arange(len(names))
    for offset, net, colour in ((-0.2, "base", "tab:blue"), (0.2, "finetuned", "tab:orange")):
        part = renders[renders.net == net]
        counts = [int(part[part.layer == l].gray.sum()) for l in names]
        totals = [int((part.layer == l).sum()) for l in names]
        bars = ax.bar(x + offset, counts, width=0.38, color=colour, label="base" if net == "base" else "fine-tuned")
        for bar, count, total in zip(bars, counts, totals):
            ax.annotate(f"{count}/{total}", (bar.get_x() + bar.get_width() / 2, count), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize=6)
    ax.set_xticks(x)
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("gray renders")
    ax.set_ylim(0, max(1, ax.get_ylim()[1] * 1.15))
    ax.set_title("Gray renders per layer and network", fontsize=9)
    ax.legend(fontsize=7)
    save(fig, out)


def change_tests(layers: pd.DataFrame, out: Sequence[str | os.PathLike]) -> None:
    """Per layer, the calibrated test of change beside the null experiment (base against
    base, disjoint seeds). Left: the estimated share of changed channels, 1 - pi0, with its
    interval (compare.share_interval). Right: the share of tested channels significant at q = fdr (the
    null's is its false-positive share), with the q level dashed; died and born channels
    (outside the test) are counted under the bars. layers: compare/layers.csv."""
    names = list(layers.layer)
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(2.4 * len(names) + 4, 3.8), sharex=True, layout="constrained")
    real = ("", "tab:orange", "base vs fine-tuned")
    null = ("null_", "tab:gray", "null: base vs base, disjoint seeds")
    for offset, (prefix, colour, label) in zip((-0.18, 0.18), (real, null)):
        est = layers[f"{prefix}changed_share"].to_numpy(dtype=float)
        lo = layers[f"{prefix}changed_share_low"].to_numpy(dtype=float)
        hi = layers[f"{prefix}changed_share_high"].to_numpy(dtype=float)
        axes[0].errorbar(x + offset, est, yerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt="o",
                         color=colour, capsize=3, label=label)
        n_sig = layers[f"{prefix}n_significant"].fillna(0).to_numpy(dtype=int)
        n_tested = layers[f"{prefix}n_tested"].fillna(0).to_numpy(dtype=int)
        share = np.divide(n_sig, n_tested, out=np.full(len(x), np.nan), where=n_tested > 0)
        bars = axes[1].bar(x + offset, np.nan_to_num(share), width=0.34, color=colour, label=label)
        for bar, k, n in zip(bars, n_sig, n_tested):
            axes[1].annotate(f"{k}/{n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                             textcoords="offset points", ha="center", fontsize=6)
    fdr = float(layers.fdr.iloc[0])
    axes[1].axhline(fdr, color="tab:red", linestyle="--", linewidth=1, label=f"q = {fdr:g}")
    tags = [f"{l}\n({_tag(bool(f))})\ndied {int(d)}, born {int(b)}" + (f"\n{int(i)} bit-identical" if i else "")
            for l, f, d, b, i in zip(names, layers.fine_tuned, layers.n_died.fillna(0), layers.n_born.fillna(0),
                                     layers.n_identical.fillna(0))]
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(tags, fontsize=7)
        ax.set_ylim(-0.02, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("changed share (1 - pi0)")
    axes[0].set_title("Changed share, 95% interval", fontsize=9)
    axes[1].set_ylabel(f"tested channels with q <= {fdr:g}")
    axes[1].set_title("Significant channels (null: false positives)", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper left")
    save(fig, out)
