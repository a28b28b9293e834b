"""A simulated run's inputs to the explorer: the tables and images of the stages it reads,
with made-up values and small placeholder PNGs, in the results layout.

For the browser tests (a few channels) and the scale benchmark (the real study's 2 x
7,168 channels x 3 seeds) — neither needs a trained network. Values are drawn from a
seeded generator; statuses, gray flags and missing values occur as in a real run so that
every column and filter has something to show.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ..paths import Layout, example_file_name, render_file_name

__all__ = ["simulate_run", "STATUSES"]

STATUSES = ["changed", "unchanged", "identical", "died", "born", "gray_both", "untestable"]
_CLASSES = ["circle", "square", "triangle", "star"]


def _png(rng: np.random.Generator, size: int, height: int | None = None) -> bytes:
    """A small PNG of a smooth random color field (compresses like a render, not like noise)."""
    h = height or size
    coarse = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
    picture = Image.fromarray(coarse).resize((size, h), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def simulate_run(
    root: str | os.PathLike,
    layers: Mapping[str, int],
    seeds: Sequence[int] = (0, 1),
    nets: Sequence[str] = ("base", "finetuned"),
    image_size: int = 32,
    top_k: int = 3,
    atlas_grid: int = 4,
    seed: int = 0,
    distinct_images: int | None = None,
) -> dict:
    """Write a simulated run below `root` (``root/results/sim``) and return the keyword
    arguments of :func:`vischange.explorer.stages.build_site` that read it.

    `layers`: {layer name: channel count}. Every (net, layer, channel, seed) gets a render
    of `image_size` pixels, every (net, layer, channel) a strip of `top_k` examples.
    `distinct_images`: draw only this many different pictures and write them over and
    over (the scale benchmark's 43,008 placeholders); None draws each one.
    """
    rng = np.random.default_rng(seed)
    L = Layout(str(Path(root) / "results" / "sim"))
    pool = [_png(rng, image_size) for _ in range(distinct_images)] if distinct_images else None
    picture = (lambda i: pool[i % len(pool)]) if pool else (lambda i: _png(rng, image_size))
    strips = [_png(rng, top_k * image_size, 2 * image_size) for _ in range(8)]
    counter = 0

    def write(path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    classes = Path(L.classes())
    classes.parent.mkdir(parents=True, exist_ok=True)
    classes.write_text("\n".join(_CLASSES) + "\n")
    render_tables, example_tables, compare_rows, change_rows = {}, {}, [], []
    for layer, n in layers.items():
        for net in nets:
            rows, examples = [], []
            for channel in tqdm(range(n), desc=f"simulate {net} {layer}", mininterval=5, leave=False):
                for s in seeds:
                    write(L.render_png(net, layer, channel, s), picture(counter))
                    counter += 1
                    rows.append({"layer": layer, "channel": channel, "seed": s, "file": render_file_name(channel, s),
                                 "activation_ratio": float(rng.gamma(4, 0.5)), "dataset_mean": float(rng.gamma(2, 0.3))})
                write(L.example_png(net, layer, channel), strips[channel % len(strips)])
                for rank in range(1, top_k + 1):
                    examples.append({"channel": channel, "rank": rank, "path": f"images/x{rank}.png",
                                     "label": int(rng.integers(len(_CLASSES))), "activation": float(10 - rank + rng.random())})
            render_tables[(net, layer)] = L.render_table(net, layer)
            pd.DataFrame(rows).to_csv(render_tables[(net, layer)], index=False)
            example_tables[(net, layer)] = L.examples_table(net, layer)
            pd.DataFrame(examples).to_csv(example_tables[(net, layer)], index=False)
        status = rng.choice(STATUSES, size=n, p=[0.3, 0.4, 0.1, 0.05, 0.05, 0.05, 0.05])
        tested = np.isin(status, ["changed", "unchanged"])
        effect = np.where(tested, np.round(rng.gamma(2, 1, n), 4), np.nan)
        # Ties in effect size, as rounding in the CSV makes them: the sort must break them by channel.
        effect[: min(4, n)] = np.where(tested[: min(4, n)], 1.5, np.nan)
        p = np.where(tested, rng.random(n), np.nan)
        q = np.where(tested, np.minimum(1, p * 2), np.nan)
        gray_base = np.isin(status, ["born", "gray_both"])
        gray_ft = np.isin(status, ["died", "gray_both"])
        cosine = np.round(rng.uniform(0.2, 1.0, n), 4)
        for c in range(n):
            compare_rows.append({
                "layer": layer, "channel": c, "fine_tuned": True, "n_seeds": len(seeds),
                "gray_base": bool(gray_base[c]), "gray_finetuned": bool(gray_ft[c]), "gray": bool(gray_base[c] or gray_ft[c]),
                "cosine": cosine[c], "noise_floor": 0.6, "below_floor": bool(cosine[c] < 0.6),
                "change_score": (1 - cosine[c]) / 0.4, "effect_size": effect[c], "p_value": p[c], "q_value": q[c],
                "significant": bool(q[c] <= 0.05) if tested[c] else False, "status": status[c]})
            corr = np.nan if c % 17 == 5 else float(rng.uniform(0, 1))
            change_rows.append({"layer": layer, "channel": c, "correlation": corr, "base_mean": 1.0, "finetuned_mean": 1.1})
    Path(L.stage("compare")).mkdir(parents=True, exist_ok=True)
    Path(L.stage("change")).mkdir(parents=True, exist_ok=True)
    compare_channels = f"{L.stage('compare')}/channels.csv"
    pd.DataFrame(compare_rows).to_csv(compare_channels, index=False, float_format="%.6g")
    compare_layers = f"{L.stage('compare')}/layers.csv"
    frame = pd.DataFrame(compare_rows)
    frame.groupby("layer", sort=False).agg(channels=("channel", "size"), gray=("gray", "sum"),
                                            median_cosine=("cosine", "median")).reset_index().to_csv(compare_layers, index=False)
    activation_channels = f"{L.stage('change')}/channels.csv"
    pd.DataFrame(change_rows).to_csv(activation_channels, index=False, float_format="%.6g")
    quality = f"{L.root}/renders/quality.csv"
    pd.DataFrame([{"net": net, "layer": layer, "median_activation_ratio": 2.0, "own_channel_fraction": 0.9}
                  for net in nets for layer in layers]).to_csv(quality, index=False)

    # Atlases: each network's main atlas of the first layer, and the comparison atlas.
    atlas_cells, atlas_icons, atlas_titles = {}, {}, {}
    first = next(iter(layers))
    n = atlas_grid

    def cells(suffixes):
        rows = []
        for r in range(n):
            for c in range(n):
                row = {"row": r, "col": c}
                for sfx in suffixes:
                    filled = (r + c) % 5 != 4
                    k = int(rng.integers(len(_CLASSES)))
                    row.update({f"count{sfx}": int(rng.integers(3, 40)) if filled else 0, f"filled{sfx}": filled,
                                f"top_class{sfx}": _CLASSES[k] if filled else "",
                                f"top_classes{sfx}": f"{_CLASSES[k]};{_CLASSES[(k + 1) % 4]}" if filled else "",
                                f"label{sfx}": _CLASSES[k] if filled else "", f"label_share{sfx}": 0.6 if filled else np.nan})
                rows.append(row)
        return pd.DataFrame(rows)

    for net in nets:
        folder = L.atlas(net, first)
        Path(folder).mkdir(parents=True, exist_ok=True)
        cells([""]).to_csv(f"{folder}/cells.csv", index=False)
        write(f"{folder}/icons.png", _png(rng, n * 32))
        atlas_cells[(net, first, "atlas")] = f"{folder}/cells.csv"
        atlas_icons[(net, first, "atlas", net)] = f"{folder}/icons.png"
        atlas_titles[(net, first, "atlas")] = f"{net}: {first}"
    compare = L.atlas_compare(first)
    Path(compare).mkdir(parents=True, exist_ok=True)
    frame = cells([f"_{net}" for net in nets])
    frame["moved_distance"] = rng.random(len(frame))
    frame["moved_cosine"] = rng.random(len(frame))
    frame.to_csv(f"{compare}/cells.csv", index=False)
    atlas_cells[("compare", first, "compare")] = f"{compare}/cells.csv"
    atlas_titles[("compare", first, "compare")] = f"comparison: {first}"
    for net in nets:
        write(f"{compare}/icons_{net}.png", _png(rng, n * 32))
        atlas_icons[("compare", first, "compare", net)] = f"{compare}/icons_{net}.png"

    # Top maps of the last layer: two classes of three maps; the first map of each rendered.
    last = list(layers)[-1]
    topmaps, net_figures = {}, {}
    for net in nets:
        folder = Path(L.net_stage("topmaps", net))
        (folder / "renders").mkdir(parents=True, exist_ok=True)
        top, renders = [], []
        for label in range(2):
            for rank in range(1, 4):
                m = (label * 3 + rank) % layers[last]
                top.append({"label": label, "class": _CLASSES[label], "rank": rank, "map": m, "count": 5 - rank,
                            "frequency": (5 - rank) / 5, "mean_activation": 1.0 / rank})
                if rank == 1:
                    name = f"m{m:04d}_upscale.png"
                    write(str(folder / "renders" / name), _png(rng, image_size))
                    renders.append({"label": label, "class": _CLASSES[label], "rank": rank, "map": m, "method": "upscale",
                                    "file": name, "size": image_size, "objective": 1.0, "seconds": 0.1})
        pd.DataFrame(top).to_csv(folder / "top_maps.csv", index=False)
        pd.DataFrame(renders).to_csv(folder / "renders.csv", index=False)
        pd.DataFrame([{"label": k, "class": _CLASSES[k], "n_maps": 3, "threshold": 1.0, "val_f1": 0.8, "test_auc": 0.9,
                       "test_precision": 0.7, "test_recall": 0.6, "head_auc": 0.95, "head_precision": 0.9, "head_recall": 0.8}
                      for k in range(2)]).to_csv(folder / "detector.csv", index=False)
        topmaps.update({(net, "top_maps"): str(folder / "top_maps.csv"), (net, "renders"): str(folder / "renders.csv"),
                        (net, "render_dir"): str(folder / "renders"), (net, "detector"): str(folder / "detector.csv")})
        for name in ("map_images", "saliency_gradcam"):
            path = f"{L.net_stage('topmaps' if name == 'map_images' else 'attribution', net)}/{name}.png"
            write(path, _png(rng, 120, 80))
            net_figures[(net, name)] = path

    return {
        "experiment": "sim",
        "nets": list(nets),
        "layers": list(layers),
        "compare_channels": compare_channels,
        "compare_layers": compare_layers,
        "activation_channels": activation_channels,
        "quality": quality,
        "classes": str(classes),
        "render_tables": render_tables,
        "example_tables": example_tables,
        "atlas_cells": atlas_cells,
        "atlas_icons": atlas_icons,
        "atlas_titles": atlas_titles,
        "topmaps": topmaps,
        "topmaps_layer": last,
        "net_figures": net_figures,
    }
