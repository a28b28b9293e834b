"""Per-class top feature maps (FeatureMapVisualizer's five questions), for one network.

A "map" is one channel (feature map) of the analysed layer, by default the last
convolutional block (``layer4`` of a ResNet). An image's activation of a map is the
map's spatial mean, so a layer of C maps turns N images into an (N, C) matrix.

1. Top maps per class (:func:`class_top_maps`, :func:`unique_top_maps`): each image's
   N1 most activated maps; each class's N2 maps that are most often among its images'
   top N1; then every map that also sits in another class's N2 list is removed.
2. What a top map draws (:func:`render_top_maps`): the seed's upscaling render
   (:func:`vischange.render.upscale_render`) beside the render engine's channel render.
3. Where maps fire on one image and 4. one map on many images (the maps from
   :func:`vischange.activations.image_activations`, overlaid by
   :func:`vischange.plots.mask_overlay`).
5. Are top maps unique to their class (:func:`vischange.class_maps.class_sums`,
   :func:`vischange.metrics.one_vs_rest_table`): the summed activation of a class's top
   maps as a one-vs-rest detector, its threshold chosen on the validation split, evaluated
   on the test split beside the network's own classifier.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from . import models, plots
from .activations import image_activations, manifest_activations, manifest_loader
from .class_maps import class_sums, draw_sums, select_images, shown_classes, sums_table
from .datasets import read_classes, read_manifest
from .metrics import one_vs_rest_table
from .render import engine_arguments, render_channels, save_png, upscale_render
from .runtime import derive_seed, write_csv, write_npz

log = logging.getLogger(__name__)


# --- 1. selection ---------------------------------------------------------------------


def image_top_maps(acts: np.ndarray, n1: int) -> np.ndarray:
    """Each image's n1 most activated maps: acts (N, C) -> (N, n1) map indices.

    Ordered by activation, largest first; equal activations keep the lower map index
    first (a stable sort), so the result never depends on the platform's sort.
    """
    acts = np.asarray(acts)
    if not 1 <= n1 <= acts.shape[1]:
        raise ValueError(f"n1 = {n1} must be between 1 and the layer's {acts.shape[1]} maps")
    return np.argsort(-acts, axis=1, kind="stable")[:, :n1]


def class_top_maps(acts: np.ndarray, labels: Sequence[int], n1: int, n2: int, n_classes: int) -> pd.DataFrame:
    """Each class's n2 maps most often among its images' top n1, and which of them are shared.

    acts: (N, C) mean activation of every map on each image; labels: (N,) class of each image.
    A map's `count` in a class is the number of the class's images that have it among
    their top n1; `frequency` = count / images of the class. Maps are ranked by count,
    ties by the class's mean activation of the map (higher first), then by map index;
    maps with count 0 are never listed (a class can list fewer than n2).
    A listed map is `shared` when it is also in another class's list (before any removal);
    `shared_with` names those classes' labels ("3;5"). The kept top maps are the unshared ones.

    Returns one row per (class, rank): label, rank (1-based), map, count, frequency,
    mean_activation, shared, shared_with. A class without images has no rows.
    """
    acts = np.asarray(acts, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    top = image_top_maps(acts, n1)
    n_maps = acts.shape[1]
    lists: dict[int, list[tuple]] = {}
    for label in range(n_classes):
        rows = np.flatnonzero(labels == label)
        if len(rows) == 0:
            continue
        count = np.bincount(top[rows].ravel(), minlength=n_maps)
        mean = acts[rows].mean(0)
        # lexsort: last key is primary -> count desc, mean desc, index asc.
        order = np.lexsort((np.arange(n_maps), -mean, -count))
        order = [m for m in order[:n2] if count[m] > 0]
        lists[label] = [(int(m), int(count[m]), count[m] / len(rows), float(mean[m])) for m in order]
    members = {label: {m for m, *_ in items} for label, items in lists.items()}
    out = []
    for label, items in lists.items():
        for rank, (m, count, frequency, mean) in enumerate(items, 1):
            others = [other for other in lists if other != label and m in members[other]]
            out.append(
                {
                    "label": label,
                    "rank": rank,
                    "map": m,
                    "count": count,
                    "frequency": frequency,
                    "mean_activation": mean,
                    "shared": bool(others),
                    "shared_with": ";".join(str(o) for o in others),
                }
            )
    columns = ["label", "rank", "map", "count", "frequency", "mean_activation", "shared", "shared_with"]
    return pd.DataFrame(out, columns=columns)


def unique_top_maps(class_maps: pd.DataFrame, n_classes: int) -> dict[int, list[int]]:
    """{label: its kept (unshared) top maps in rank order} for every class (empty lists included)."""
    kept = class_maps[~class_maps["shared"].astype(bool)].sort_values(["label", "rank"])
    return {label: [int(m) for m in kept.loc[kept["label"] == label, "map"]] for label in range(n_classes)}


def top_maps_table(class_maps: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """The kept top maps: label, class, rank (1-based among the kept), map, count, frequency, mean_activation."""
    kept = class_maps[~class_maps["shared"].astype(bool)].sort_values(["label", "rank"]).copy()
    kept["rank"] = kept.groupby("label").cumcount() + 1
    kept["class"] = [class_names[int(l)] for l in kept["label"]]
    return kept[["label", "class", "rank", "map", "count", "frequency", "mean_activation"]].reset_index(drop=True)


def scan(
    model_path: str | Path,
    *,
    layer: str,
    manifests: Mapping[str, str | Path],
    classes_txt: str | Path,
    selection_split: str,
    n1: int,
    n2: int,
    image_size: int,
    crop_fraction: float,
    device: torch.device,
    out_activations: str | Path,
    out_image_maps: str | Path,
    out_class_maps: str | Path,
    out_top_maps: str | Path,
    workers: int = 0,
) -> pd.DataFrame:
    """Activations of `layer` on every split, and the top-map selection on `selection_split`.

    out_activations: .npz with, per split s, `{s}_acts` (N, C) float32 spatial means and
        `{s}_labels` (N,) int64, in manifest order (row i is the manifest's row i).
    out_image_maps: per image of the selection split: path, label, rank, map, activation (its top n1).
    out_class_maps: :func:`class_top_maps` with a `class` column.
    out_top_maps: :func:`top_maps_table`.
    """
    model, normalize, meta = models.load_network(model_path, device)
    names = read_classes(classes_txt)
    arrays = {}
    for split, manifest in manifests.items():
        arrays[f"{split}_acts"], arrays[f"{split}_labels"] = manifest_activations(
            model, layer, manifest, image_size=image_size, crop_fraction=crop_fraction, normalize=normalize,
            device=device, workers=workers, desc=f"{split} {layer}")
        log.info("%s: %d images x %d maps of %s", split, *arrays[f"{split}_acts"].shape, layer)
    n_maps = arrays[f"{selection_split}_acts"].shape[1]
    if n1 > n_maps:
        raise ValueError(f"config key topmaps.n_per_image: {n1} exceeds the {n_maps} maps of {layer}")
    write_npz(out_activations, arrays, compressed=True)
    acts, labels = arrays[f"{selection_split}_acts"], arrays[f"{selection_split}_labels"]
    top = image_top_maps(acts, n1)
    paths = read_manifest(manifests[selection_split])["path"].tolist()
    image_rows = pd.DataFrame(
        {
            "path": np.repeat(paths, n1),
            "label": np.repeat(labels, n1),
            "rank": np.tile(np.arange(1, n1 + 1), len(paths)),
            "map": top.ravel(),
            "activation": np.take_along_axis(acts, top, 1).ravel(),
        }
    )
    class_maps = class_top_maps(acts, labels, n1, n2, len(names))
    class_maps.insert(1, "class", [names[int(l)] for l in class_maps["label"]])
    top_maps = top_maps_table(class_maps, names)
    write_csv(out_image_maps, image_rows)
    write_csv(out_class_maps, class_maps)
    write_csv(out_top_maps, top_maps)
    kept = top_maps.groupby("class").size().reindex(names, fill_value=0)
    log.info("kept top maps per class: %s", dict(kept))
    return top_maps


# --- 2. what top maps draw -----------------------------------------------------------


def render_top_maps(
    model_path: str | Path,
    *,
    layer: str,
    top_maps: pd.DataFrame,
    classes: Sequence[int],
    per_class: int,
    upscale: Mapping,
    render_settings: Mapping,
    train_manifest: str | Path,
    seed: int,
    device: torch.device,
    out_table: str | Path,
    out_dir: str | Path,
) -> pd.DataFrame:
    """Both renders of the first `per_class` kept top maps of each class in `classes`: the
    seed's upscaling render (:func:`vischange.render.upscale_render`) and the engine's.

    Writes out_dir/m{map:04d}_upscale.png and out_dir/m{map:04d}_engine.png (a map listed by
    two classes cannot occur: kept maps are unique to their class) and a table: label, class,
    rank, map, method (upscale or engine), file, size, objective (final mean activation),
    seconds. The engine render uses the config's render section (parameterization,
    transforms, steps) with its first seed.
    """
    import time

    model, normalize, meta = models.load_network(model_path, device)
    chosen = top_maps[top_maps["label"].isin(list(classes)) & (top_maps["rank"] <= per_class)]
    chosen = chosen.sort_values(["label", "rank"]).reset_index(drop=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    maps = [int(m) for m in chosen["map"]]
    engine_seed = int(render_settings["seeds"][0])
    if maps:
        engine = render_channels(
            model, layer, maps, [engine_seed], size=render_settings["size"], param=render_settings["param"],
            **engine_arguments(render_settings, train_manifest, seed),
            batch_size=render_settings.get("batch_size"), device=device, normalize=normalize, progress=True,
        )
    for item, result in zip(chosen.to_dict("records"), engine if maps else []):
        generator = torch.Generator().manual_seed(derive_seed(seed, "upscale", layer, int(item["map"])))
        began = time.perf_counter()
        image, value = upscale_render(
            model, layer, int(item["map"]), normalize=normalize, init_size=upscale["init_size"], steps=upscale["steps"],
            upscaling_steps=upscale["upscaling_steps"], factor=upscale["factor"], lr=upscale["lr"],
            generator=generator, device=device,
        )
        seconds = time.perf_counter() - began
        base = {"label": int(item["label"]), "class": item["class"], "rank": int(item["rank"]), "map": int(item["map"])}
        for method, picture, objective, took in (
            ("upscale", image, value, seconds),
            ("engine", result["image"], result["objective"], result["seconds"]),
        ):
            name = f"m{base['map']:04d}_{method}.png"
            save_png(picture, out_dir / name)
            rows.append({**base, "method": method, "file": name, "size": int(picture.shape[-1]), "objective": objective, "seconds": took})
    table = pd.DataFrame(rows, columns=["label", "class", "rank", "map", "method", "file", "size", "objective", "seconds"])
    write_csv(out_table, table)
    log.info("rendered %d top maps two ways", len(chosen))
    return table


# --- the summary job: Q3-Q5 tables and every figure ------------------------------------


def summarize(
    model_path: str | Path,
    *,
    net: str,
    layer: str,
    manifests: Mapping[str, str | Path],
    classes_txt: str | Path,
    activations: str | Path,
    class_maps: str | Path,
    top_maps: str | Path,
    predictions: str | Path,
    scores: str | Path,
    renders: str | Path,
    settings: Mapping,
    image_size: int,
    crop_fraction: float,
    seed: int,
    device: torch.device,
    out: Mapping[str, object],
) -> pd.DataFrame:
    """Questions 3-5 for one network, and the figures of all five.

    manifests: {"val": ..., "test": ...}. settings: the config's topmaps section.
    Tables: out["sums"] (:func:`vischange.class_maps.sums_table` of val and test), out["detector"]
    (:func:`vischange.metrics.one_vs_rest_table`), out["one_image"] (rank, map, activation, top_map_of: class
    names whose kept top maps include the map), out["map_images"] (group same/other, index,
    path, label, activation of the map). Figures ([png, pdf] each): lists, renders,
    one_image, map_images, sums, detector.
    """
    names = read_classes(classes_txt)
    shown = shown_classes(names, settings.get("classes"), settings["max_classes"])
    acts = np.load(activations)
    cmaps = pd.read_csv(class_maps)
    tops = pd.read_csv(top_maps)
    top = {k: tops.loc[tops["label"] == k, "map"].astype(int).tolist() for k in range(len(names))}
    n_maps = [len(top[k]) for k in range(len(names))]
    title = f"{net} network, {layer}"

    # Q5: sums of each class's top maps, as a detector beside the network's head.
    pred = pd.read_csv(predictions)
    probs = np.load(scores)
    sums, tables = {}, []
    for split in ("val", "test"):
        sums[split] = class_sums(acts[f"{split}_acts"], top)
        paths = read_manifest(manifests[split])["path"].tolist()
        tables.append(sums_table(paths, acts[f"{split}_labels"], sums[split], split, names))
    write_csv(out["sums"], pd.concat(tables, ignore_index=True))
    test_pred = pred.loc[pred["split"] == "test", "predicted"].to_numpy()
    detector = one_vs_rest_table(sums["val"], acts["val_labels"], sums["test"], acts["test_labels"],
                              probs["test_probs"], test_pred, names, n_maps)
    write_csv(out["detector"], detector)

    # Q3 and Q4 need the spatial maps of a few test images.
    model, normalize, meta = models.load_network(model_path, device)
    dataset, _ = manifest_loader(manifests["test"], image_size, crop_fraction)
    index = int(settings["image"])
    if not 0 <= index < len(dataset):
        raise ValueError(f"config key topmaps.image: {index} is out of range for the {len(dataset)} test images")
    picture, label = dataset[index]
    fmaps = image_activations(model, layer, picture[None], normalize=normalize, device=device)[0]
    order = np.argsort(-fmaps.mean((1, 2)).numpy(), kind="stable")[: settings["image_maps"]]
    owner = {m: names[k] for k, maps in top.items() for m in maps}
    one = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1), "map": order,
        "activation": fmaps.mean((1, 2)).numpy()[order],
        "top_map_of": [owner.get(int(m), "") for m in order],
    })
    write_csv(out["one_image"], one)
    draw_one_image(picture, fmaps, one, names[label], index, title, out["one_image_figure"])

    map_class = settings.get("map_class")
    if map_class is not None:
        if map_class not in names:
            raise ValueError(f"config key topmaps.map_class: {map_class!r} is not a class of the dataset")
        candidates = [names.index(map_class)]
    else:
        candidates = [k for k in shown if top[k]] or [k for k in range(len(names)) if top[k]]
    labels = acts["test_labels"]
    rows, groups = [], []
    if candidates and top[candidates[0]]:
        k = candidates[0]
        the_map = top[k][0]
        for same in (True, False):
            picks = select_images(labels, k, settings["map_images"], same, seed)
            images = torch.stack([dataset[int(i)][0] for i in picks]) if len(picks) else torch.zeros(0, 3, image_size, image_size)
            maps = (image_activations(model, layer, images, normalize=normalize, device=device)[:, the_map]
                    if len(picks) else torch.zeros(0, 1, 1))
            groups.append((same, images, maps, picks))
            for i, row in enumerate(picks):
                rows.append({"group": "same" if same else "other", "class": names[k], "map": the_map, "index": int(row),
                             "path": dataset.frame["path"].iloc[int(row)], "label": int(labels[row]),
                             "activation": float(maps[i].mean())})
        draw_map_images(groups, names, k, the_map, title, out["map_images_figure"])
    else:
        plots.draw_message(f"{title}: no class kept a top map of its own (every listed map is shared)", out["map_images_figure"])
    write_csv(out["map_images"], pd.DataFrame(rows, columns=["group", "class", "map", "index", "path", "label", "activation"]))

    draw_lists(cmaps, names, shown, title, out["lists"])
    draw_renders(pd.read_csv(renders), Path(renders).parent / "renders", names, shown, title, out["renders_figure"])
    draw_sums(sums["test"], labels, detector, names, shown, title, out["sums_figure"])
    draw_detector(detector, title, out["detector_figure"])
    return detector


# --- figures --------------------------------------------------------------------------


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
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(picks):
                ax.axis("off")
                continue
            ax.imshow(plots.mask_overlay(images[c], maps[c], vmax))
            ax.set_title(f"{float(maps[c].mean()):.3g}", fontsize=6)
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
