"""The atlas-patch figures: flip rates against patch size, the gallery of flips, the overview across networks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import plots
from .flips import BEST, KINDS
from .images import load_images, load_png
from .pasting import paste, resize_patch

_STYLE = {"atlas": ("tab:red", "atlas patches"), "noise": ("0.45", "random-noise patches"),
          "image": ("tab:blue", "random-image crops")}



def rates_figure(summary: pd.DataFrame, title: str, n_images: int, n_correct: int, out: Sequence[str | Path]) -> None:
    """Three panels against patch size (fraction of the image side), best corner per
    image: flip rate to the target, flip rate to another class, mean change in target
    probability. Thin lines: each atlas patch; thick: the mean of a kind; bands: the
    range over baseline draws."""
    import matplotlib.pyplot as plt

    part = summary[summary["corner"] == BEST]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
    panels = (("flip_target_rate", "flip rate to target"), ("flip_other_rate", "flip rate to another class"),
              ("mean_delta_target", "mean change in p(target)"))
    for ax, (column, label) in zip(axes, panels):
        for kind in KINDS:
            colour, name = _STYLE[kind]
            rows = part[part["kind"] == kind]
            if rows.empty:
                continue
            wide = rows.pivot_table(index="size", columns="patch", values=column).sort_index()
            x = wide.index.to_numpy(dtype=float)
            if kind == "atlas":
                for patch in wide.columns:
                    ax.plot(x, wide[patch], "-", color=colour, lw=0.7, alpha=0.45)
            else:
                ax.fill_between(x, wide.min(axis=1), wide.max(axis=1), color=colour, alpha=0.18, lw=0)
            ax.plot(x, wide.mean(axis=1), "o-", color=colour, lw=2, ms=4,
                    label=f"{name} (mean of {wide.shape[1]})")
        ax.set_xlabel("patch side / image side")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if column != "mean_delta_target":
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.axhline(0, color="k", lw=0.6)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{title}\n(best of four corners per image; {n_correct} of {n_images} images classified correctly "
                 "before pasting; thin red lines: each atlas patch, bands: range over baseline draws)", fontsize=8.5)
    plots.save(fig, out)


def gallery_figure(best: pd.DataFrame, candidates: str | Path, test_manifest: str | Path, *, data: dict, source: str,
                   target: str, title: str, n: int, out: Sequence[str | Path]) -> None:
    """The atlas patches (first row) and up to ``n`` examples, each before and after
    pasting at its best corner: atlas-patch flips to the target, largest patch first;
    when none flip, the largest gains in target probability, said so in the title."""
    import matplotlib.pyplot as plt

    table = pd.read_csv(candidates)
    folder = Path(candidates).with_suffix("")
    atlas = best[(best["kind"] == "atlas") & best["correct_before"]]
    flipped = atlas[atlas["flip_target"]]
    any_flip = not flipped.empty
    pool = flipped if any_flip else atlas
    # One example per image (its strongest case), varied over patches.
    pool = pool.sort_values(["delta_target", "image"], ascending=[False, True], kind="stable").drop_duplicates("image")
    examples = pool.head(n)
    columns = max(len(table), 2 * min(3, max(1, len(examples))), 1)
    rows = 1 + -(-2 * len(examples) // columns) if len(examples) else 1
    fig, axes = plt.subplots(rows, columns, figsize=(1.35 * columns, 1.55 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    for ax, item in zip(axes[0], table.itertuples()):
        ax.axis("on")
        ax.imshow(np.asarray(Image.open(folder / item.file).convert("RGB")))
        ax.set_title(f"{item.patch}\nscore {item.score:.2f}", fontsize=6.5)
    root = Path(test_manifest).resolve().parent
    slots = list(axes[1:].flat)
    for k, item in enumerate(examples.itertuples()):
        image = load_images([str(root / item.image)], data["image_size"], data["eval_crop"])
        patch = resize_patch(load_png(folder / f"{item.patch}.png"), int(item.pixels))
        after = paste(image, patch, item.best_corner)[0]
        for j, (picture, caption) in enumerate(((image[0], f"{item.top1_before}\np(T) {item.p_target_before:.2f}"),
                                                (after, f"{item.top1_after}\np(T) {item.p_target_after:.2f}"))):
            ax = slots[2 * k + j]
            ax.axis("on")
            ax.imshow(picture.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(caption if j == 0 else f"+{item.patch} {item.size:g}\n{caption}", fontsize=6)
    what = (f"{len(flipped.drop_duplicates('image'))} images flipped to {target!r} by an atlas patch; examples "
            "(before | after)" if any_flip else
            f"no atlas patch flipped any image to {target!r}: the largest gains in p({target})")
    fig.suptitle(f"{title}\nfirst row: the atlas patches; then {what}", fontsize=7.5)
    fig.tight_layout()
    plots.save(fig, out)


def overview_figure(table: pd.DataFrame, networks: Sequence[str], out: Sequence[str | Path]) -> None:
    """One panel per tested (network, direction), one row per network: flip rate to the
    target against patch size for the atlas patches (mean, and best patch dashed) and
    the two baselines (mean over draws, best draw dashed)."""
    import matplotlib.pyplot as plt

    jobs = table.drop_duplicates(["network", "source", "target"])
    rows = [n for n in networks if n in set(jobs["network"])]
    columns = max(1, max((int((jobs["network"] == n).sum()) for n in rows), default=1))
    fig, axes = plt.subplots(max(1, len(rows)), columns, figsize=(3.3 * columns, 2.9 * max(1, len(rows))),
                             squeeze=False, sharey=True, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for r, net in enumerate(rows):
        for c, job in enumerate(jobs[jobs["network"] == net].itertuples()):
            ax = axes[r, c]
            ax.axis("on")
            part = table[(table["network"] == net) & (table["source"] == job.source) & (table["target"] == job.target)]
            for kind in KINDS:
                colour, name = _STYLE[kind]
                rows_k = part[part["kind"] == kind].sort_values("size")
                if rows_k.empty:
                    continue
                ax.plot(rows_k["size"], rows_k["flip_target_rate"], "o-", color=colour, lw=1.8, ms=3.5,
                        label=f"{name}: mean")
                ax.plot(rows_k["size"], rows_k["flip_target_max"], "--", color=colour, lw=1, label=f"{name}: best")
            ax.set_title(f"{net}: {job.source} \u2192 {job.target}\n"
                         f"{job.correct_before} of {job.source_images} correct before", fontsize=8)
            ax.set_xlabel("patch side / image side", fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("flip rate to target")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7)
    fig.suptitle("Atlas patches against baseline patches of the same size (best of four corners per image)",
                 fontsize=9)
    plots.save(fig, out)
