"""The top-map stages of the workflow, one function per rule.

* :func:`scan` (rule ``topmaps_scan``): the layer's activations on every split and the
  top-map selection (:mod:`.selection`) on one of them.
* :func:`render_top_maps` (rule ``topmaps_render``): what the kept top maps draw, two ways.
* :func:`summarize` (rule ``topmaps_summary``): questions 3-5 and every figure (:mod:`.figures`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .. import models, plots
from ..activations import image_activations, manifest_activations, manifest_loader
from ..class_maps import class_sums, draw_sums, select_images, shown_classes, sums_table
from ..datasets import read_classes, read_manifest
from ..metrics import one_vs_rest_table
from ..render import engine_arguments, render_channels, save_png, upscale_render_many
from ..runtime import derive_seed, write_csv, write_npz
from .figures import draw_detector, draw_lists, draw_map_images, draw_one_image, draw_renders
from .selection import class_top_maps, image_top_maps, top_maps_table

log = logging.getLogger(__name__)


# --- 1. selection ---------------------------------------------------------------------


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
    out_class_maps: :func:`.selection.class_top_maps` with a `class` column.
    out_top_maps: :func:`.selection.top_maps_table`.
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
    # The upscaling renders of all chosen maps in one batch (each from its own generator):
    # the same renders as one at a time, several times faster on small images.
    began = time.perf_counter()
    upscaled = upscale_render_many(
        model, layer, maps, normalize=normalize, init_size=upscale["init_size"], steps=upscale["steps"],
        upscaling_steps=upscale["upscaling_steps"], factor=upscale["factor"], lr=upscale["lr"],
        generators=[torch.Generator().manual_seed(derive_seed(seed, "upscale", layer, m)) for m in maps], device=device,
    )
    seconds = (time.perf_counter() - began) / max(1, len(maps))  # the batch's time, shared equally
    for item, result, (image, value) in zip(chosen.to_dict("records"), engine if maps else [], upscaled):
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
