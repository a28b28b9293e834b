"""The atlas stages of the workflow, one function per rule.

Files (under ``results/{experiment}/atlas/``, see config/README.md):

* ``{net}/{layer}/``: ``samples.csv`` and ``activations.npz`` (collection), the main
  atlas (``layout.csv``, ``cells.csv``, ``layout.json``, images), ``class/{class}/`` and
  ``pair/{a}_vs_{b}/`` (same files), ``directions.npz`` (every icon to render for this
  network) and ``icons/{shard}.csv`` + ``icons/{shard}/`` (the rendered icons).
* ``compare/{layer}/``: the comparison atlas (see :func:`compare_layout`).

Atlas ids name an atlas inside a (network, layer): ``atlas``, ``class/{slug}``,
``pair/{slug_a}_vs_{slug_b}``, ``compare``. An icon is identified by (atlas id, row, col).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import plots
from ..datasets import read_classes, read_manifest
from ..names import class_atlas_id, pair_atlas_id
from ..paths import COMPARE, Layout
from ..render import save_png
from ..runtime import derive_seed, read_npz, seeded_subset, write_csv, write_json, write_npz
from . import grid, icons, images, layout

if TYPE_CHECKING:
    import torch

# The collection and the icons run the networks; the layouts, images and figures read only
# files, and their jobs do not import torch (the imports of the first two are local).

log = logging.getLogger(__name__)

MAIN = "atlas"


# The networks the comparison atlas sets side by side; fine-tuning variants get atlases of
# their own only (their comparisons are the pairs stage's).
COMPARED = ("base", "finetuned")


def icon_file(atlas: str, row: int, col: int) -> str:
    return f"{atlas.replace('/', '__')}__r{row:03d}_c{col:03d}.png"


# Collection ---------------------------------------------------------------------------


def collect_stage(
    model_path: str | Path,
    manifest: str | Path,
    *,
    layer: str,
    settings: dict,
    data: dict,
    seed: int,
    device: torch.device,
    out_npz: str | Path,
    out_samples: str | Path,
) -> None:
    """Collect one activation and attribution vector per image of ``manifest``.

    settings: the config's ``atlas`` section (max_images, batch_size); data: the
    config's ``data`` section (image_size, eval_crop). The images and positions depend
    on the seed and the manifest only, so both networks see the same samples.
    """
    from torch.utils.data import DataLoader, Subset

    from .. import models
    from ..datasets import ManifestDataset, eval_transform
    from . import collect as _collect

    # The normalization goes into the transform (on the CPU, per image), as it always
    # has: moving it to the device would change the last digits of activations.npz.
    model, _normalize, meta = models.load_network(model_path, device)
    frame = read_manifest(manifest)
    picks = seeded_subset(len(frame), settings["max_images"], derive_seed(seed, "atlas-images"))
    transform = eval_transform(data["image_size"], meta["mean"], meta["std"], crop_fraction=data["eval_crop"])
    dataset = Subset(ManifestDataset(manifest, transform), picks.tolist())
    loader = DataLoader(dataset, batch_size=settings["batch_size"], shuffle=False, num_workers=0)

    def batches():
        start = 0
        for images_, _labels in loader:
            yield images_, range(start, start + len(images_))
            start += len(images_)

    out = _collect.collect(model, layer, batches(), len(picks), derive_seed(seed, "atlas-positions"), device,
                           moment_positions=settings.get("moment_positions", 0))
    labels = frame["label"].to_numpy()[picks]
    extra = {k: out[k] for k in ("moment_acts", "moment_positions") if k in out}
    write_npz(
        out_npz,
        dict(
            **extra,
            acts=out["acts"],
            attributions=out["attributions"],
            positions=out["positions"],
            map_shape=out["map_shape"],
            labels=labels.astype(np.int64),
            images=picks.astype(np.int64),
            class_names=np.array(meta["class_names"], dtype=str),
        ),
    )
    samples = pd.DataFrame(
        {
            "sample": np.arange(len(picks)),
            "image": frame["path"].to_numpy()[picks],
            "label": labels,
            "y": out["positions"][:, 0],
            "x": out["positions"][:, 1],
            "top_class": np.array(meta["class_names"])[out["attributions"].argmax(axis=1)],
            "top_attribution": out["attributions"].max(axis=1),
        }
    )
    write_csv(out_samples, samples)


# Layouts and grids --------------------------------------------------------------------


def _umap_kwargs(settings: dict, seed: int, what: str) -> dict:
    lay = settings["layout"]
    return dict(
        n_neighbors=lay["n_neighbors"],
        min_dist=lay["min_dist"],
        pca=lay["pca"],
        seed=derive_seed(seed, "atlas-umap", what) % 2**31,
    )


def _majority(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int, names: Sequence[str]):
    """Most frequent dataset label per cell and its share, in row-major cell order."""
    flat = rows * n + cols
    best, share = [], []
    for cell in range(n * n):
        members = labels[flat == cell]
        if len(members) == 0:
            best.append("")
            share.append(np.nan)
            continue
        counts = np.bincount(members, minlength=len(names))
        best.append(names[int(counts.argmax())])
        share.append(counts.max() / len(members))
    return best, share


def _grid_atlas(
    atlas_id: str,
    unit_xy: np.ndarray,
    sample_index: np.ndarray,
    col_data: dict,
    n: int,
    settings: dict,
    seed: int,
    w: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Grid one layout; returns (layout table, cell table, icons to render)."""
    acts, attr = col_data["acts"][sample_index], col_data["attributions"][sample_index]
    class_names = list(col_data["class_names"])
    rows, cols = grid.assign_cells(unit_xy, n)
    cells, mean_acts, _ = grid.cell_table(
        rows, cols, n, acts, attr, class_names, min_count=settings["min_count"], top_k=settings["top_classes"]
    )
    labels = col_data["labels"][sample_index]
    cells["label"], cells["label_share"] = _majority(labels, rows, cols, n, col_data["dataset_classes"])
    filled = cells[cells.filled]
    cells["icon"] = ""
    cells.loc[cells.filled, "icon"] = [icon_file(atlas_id, r, c) for r, c in zip(filled.row, filled.col)]
    table = pd.DataFrame(
        {
            "sample": sample_index,
            "x": unit_xy[:, 0],
            "y": unit_xy[:, 1],
            "row": rows,
            "col": cols,
            "label": labels,
            "top_class": np.array(class_names)[attr.argmax(axis=1)] if len(attr) else np.array([], dtype=str),
        }
    )
    todo = {
        "atlas": np.array([atlas_id] * len(filled), dtype=str),
        "row": filled.row.to_numpy(np.int64),
        "col": filled.col.to_numpy(np.int64),
        "seed": np.array([icons.icon_seed(seed, atlas_id, r, c) for r, c in zip(filled.row, filled.col)], dtype=np.int64),
        "vectors": grid.whiten_directions(mean_acts, w),
    }
    return table, cells, todo


def _concat_todo(parts: Sequence[dict], channels: int) -> dict:
    if not parts:
        return {"atlas": np.array([], dtype=str), "row": np.zeros(0, np.int64), "col": np.zeros(0, np.int64),
                "seed": np.zeros(0, np.int64), "vectors": np.zeros((0, channels), np.float32)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _class_index(names: Sequence[str], name: str, key: str) -> int:
    try:
        return list(names).index(name)
    except ValueError:
        raise ValueError(f"config key {key}: {name!r} is not a class of this network ({len(names)} classes, "
                         f"e.g. {', '.join(list(names)[:5])})") from None


def _whitening_with_stats(col_data: dict, settings: dict) -> tuple[np.ndarray, dict]:
    """The network's whitening matrix (uncentred second moment, estimated from the
    activations at ``atlas.moment_positions`` positions per image when collected, else
    from the layout's one vector per image) and its statistics; the identity when
    whitening is off."""
    icon = settings["icons"]
    if not icon["whiten"]:
        c = col_data["acts"].shape[1]
        return np.eye(c), {"method": "none", "dimensions": int(c)}
    samples = col_data.get("moment_acts")
    source = "moment_positions" if samples is not None and len(samples) else "layout_samples"
    if source == "layout_samples":
        samples = col_data["acts"]
    w, stats = grid.whitening_estimate(samples, center=False, method=icon.get("whiten_method", "ridge"),
                                       ridge=icon["whiten_ridge"])
    return w, {"samples_from": source, **stats}


def _whitening(col_data: dict, settings: dict) -> np.ndarray:
    """The network's whitening matrix (see :func:`_whitening_with_stats`)."""
    return _whitening_with_stats(col_data, settings)[0]


def _load_collection(npz: str | Path, dataset_classes: str | Path) -> dict:
    data = read_npz(npz)
    data["dataset_classes"] = read_classes(dataset_classes)
    return data


def net_layouts(data: dict, *, net: str, settings: dict, seed: int, out_dir: str | Path) -> dict:
    """Main atlas, class atlases and two-class comparisons of one (network, layer).

    data: a collection (:func:`_load_collection`). Writes ``layout.json``, ``layout.csv``
    and ``cells.csv`` for the main atlas in ``out_dir`` and for each configured class
    (``class/{slug}/``) and class pair (``pair/{a}_vs_{b}/``). Returns the icons to
    render (atlas, row, col, seed, vectors).
    """
    out_dir = Path(out_dir)
    names = list(data["class_names"])
    w = _whitening(data, settings)
    n_all = len(data["acts"])
    parts = []

    def write(atlas_id: str, folder: Path, xy_raw: np.ndarray, index: np.ndarray, n: int, how: dict):
        unit = grid.normalize_layout(xy_raw, settings["layout"]["clip_percentiles"]) if len(index) else np.zeros((0, 2))
        table, cells, todo = _grid_atlas(atlas_id, unit, index, data, n, settings, seed, w)
        write_csv(folder / "layout.csv", table)
        write_csv(folder / "cells.csv", cells)
        write_json(folder / "layout.json", {"atlas": atlas_id, "network": net, "samples": int(len(index)),
                                             "filled_cells": int(cells.filled.sum()), "grid_size": n, **how})
        parts.append(todo)

    base_how = {
        "method": "UMAP (umap-learn, cosine metric) of one activation vector per image",
        "n_neighbors": settings["layout"]["n_neighbors"],
        "min_dist": settings["layout"]["min_dist"],
        "pca": settings["layout"]["pca"],
        "clip_percentiles": list(settings["layout"]["clip_percentiles"]),
        "min_count": settings["min_count"],
        "whitening": (f"second moment of this network's activations ({settings['icons'].get('whiten_method', 'ridge')}; "
                      "samples and condition number in whitening.json") if settings["icons"]["whiten"] else "none",
    }
    everyone = np.arange(n_all)
    xy = layout.umap_layout(data["acts"], **_umap_kwargs(settings, seed, "main"))
    write(MAIN, out_dir, xy, everyone, settings["grid_size"], base_how)

    top = data["attributions"].argmax(axis=1)
    for name in settings["classes"][net]:
        k = _class_index(names, name, f"atlas.classes.{net}")
        index = np.flatnonzero(top == k)
        xy = layout.umap_layout(data["acts"][index], **_umap_kwargs(settings, seed, f"class-{name}"))
        how = {**base_how, "selection": f"samples whose attribution is largest for class {name!r}"}
        write(class_atlas_id(name), out_dir / class_atlas_id(name), xy, index, settings["class_grid_size"], how)

    for a, b in settings["class_pairs"][net]:
        ka = _class_index(names, a, f"atlas.class_pairs.{net}")
        kb = _class_index(names, b, f"atlas.class_pairs.{net}")
        index = np.flatnonzero((top == ka) | (top == kb))
        xy = layout.pair_layout(data["acts"][index], data["attributions"][index], ka, kb,
                                **_umap_kwargs(settings, seed, f"pair-{a}-{b}"))
        how = {**base_how, "method": f"x: attribution to {a!r} minus attribution to {b!r}; "
               "y: one-dimensional UMAP (cosine) of the activations",
               "selection": f"samples whose attribution is largest for {a!r} or {b!r}"}
        folder = out_dir / pair_atlas_id(a, b)
        write(pair_atlas_id(a, b), folder, xy, index, settings["class_grid_size"], how)
        # The pair's cell table also gets the mean attribution difference (the x axis).
        cells = pd.read_csv(folder / "cells.csv", keep_default_na=False, na_values=[""])
        lay = pd.read_csv(folder / "layout.csv")
        diff = data["attributions"][lay["sample"], ka] - data["attributions"][lay["sample"], kb]
        mean = pd.Series(diff).groupby(lay["row"] * settings["class_grid_size"] + lay["col"]).mean()
        flat = cells.row * settings["class_grid_size"] + cells.col
        cells["attribution_difference"] = np.where(cells.filled, flat.map(mean), np.nan)
        write_csv(folder / "cells.csv", cells)

    return _concat_todo(parts, data["acts"].shape[1])


def compare_layout(nets: dict[str, dict], *, settings: dict, seed: int, out_dir: str | Path) -> dict[str, dict]:
    """The comparison atlas: one layout for the activations of both networks.

    How it is built (also written to ``layout.json``): both networks saw the same images
    and were sampled at the same position of each image, and the fine-tuned layer's
    channels are the base layer's channels, trained further, so both sets of vectors
    live in one space. With ``atlas.compare.fit: base`` (the default) UMAP is fit on the
    base network's N points and the fine-tuned points are placed with the fitted model's
    ``transform``, so the layout is the base network's map and fine-tuning is read as
    displacement on it, measured against a null: the same path for the base network at a
    second position of each image (`null_sample`). With ``union`` UMAP is fit on both
    sets together (2N points), which puts each network's points among their own
    neighbours whenever the networks differ systematically, whatever the change. One
    grid is laid over the layout. Each cell then holds base points and fine-tuned points; a network's icon for the
    cell renders the mean of *its own* points through *its own* network (whitened with
    its own activations' second moment), so where the two icons differ, the network
    represents that region of the shared space differently, and where a cell has points
    of only one network, fine-tuning moved activations into or out of it. A frozen
    layer gives both networks identical activations: the two halves of the atlas must
    then be the same, a built-in control.

    Classes: each network's top classes are its own (base: the base task's classes,
    fine-tuned: the fine-tuning task's), from its own attributions on its own points;
    ``label_*`` is the most frequent dataset label (the fine-tuning task's) among each
    network's points in the cell, comparable across the two.

    nets: {"base": collection, "finetuned": collection}. Returns each network's icons to render.

    Movement, per cell, over the images whose *base* point lies in it: ``moved_cosine``
    (mean cosine similarity between the image's base and fine-tuned activation vectors,
    1 = unchanged), ``moved_distance`` (mean distance in the normalized layout between
    the image's two points, 0 = unchanged; the unit square is 1 wide) and ``same_cell``
    (share of those images whose fine-tuned point stays in the cell).
    """
    out_dir = Path(out_dir)
    if not np.array_equal(nets["base"]["images"], nets["finetuned"]["images"]) or not np.array_equal(
        nets["base"]["positions"], nets["finetuned"]["positions"]
    ):
        raise ValueError("the two collections do not hold the same images and positions")
    n_img = len(nets["base"]["acts"])
    fit = settings["compare"]["fit"]
    clip = settings["layout"]["clip_percentiles"]
    null_acts = null_sample(nets["base"]) if fit == "base" else None
    if fit == "base":
        others = [nets["finetuned"]["acts"]] + ([] if null_acts is None else [null_acts])
        xy_base, placed = layout.umap_fit_transform(nets["base"]["acts"], others, **_umap_kwargs(settings, seed, "compare"))
        unit = grid.normalize_layout(np.concatenate([xy_base, placed[0]]), clip, reference=xy_base)
        unit_null = grid.normalize_layout(placed[1], clip, reference=xy_base) if null_acts is not None else None
    elif fit == "union":
        union = np.concatenate([nets["base"]["acts"], nets["finetuned"]["acts"]])
        xy = layout.umap_layout(union, **_umap_kwargs(settings, seed, "compare"))
        unit, unit_null = grid.normalize_layout(xy, clip), None
    else:
        raise ValueError(f"atlas.compare.fit must be 'base' or 'union', got {fit!r}")
    n = settings["grid_size"]
    rows, cols = grid.assign_cells(unit, n)
    parts = {"base": slice(0, n_img), "finetuned": slice(n_img, 2 * n_img)}
    cells = pd.DataFrame({"row": np.repeat(np.arange(n), n), "col": np.tile(np.arange(n), n)})
    todos = {}
    for net, part in parts.items():
        data = nets[net]
        table, net_cells, todo = _grid_atlas(COMPARE, unit[part], np.arange(n_img), data, n, settings, seed,
                                             _whitening(data, settings))
        for column in ("count", "filled", "top_class", "top_attribution", "top_classes", "label", "label_share", "icon"):
            cells[f"{column}_{net}"] = net_cells[column].to_numpy()
        todos[net] = todo
    a, b = nets["base"]["acts"].astype(np.float64), nets["finetuned"]["acts"].astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1), np.where(
        (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0), 1.0, 0.0))
    distance = np.linalg.norm(unit[parts["base"]] - unit[parts["finetuned"]], axis=1)
    base_cell = rows[parts["base"]] * n + cols[parts["base"]]
    same = base_cell == rows[parts["finetuned"]] * n + cols[parts["finetuned"]]
    null_distance = (np.linalg.norm(unit_null - unit[parts["base"]], axis=1) if unit_null is not None
                     else np.full(n_img, np.nan))
    frame = pd.DataFrame({"cell": base_cell, "cosine": cosine, "distance": distance, "same": same.astype(float),
                          "null": null_distance})
    grouped = frame.groupby("cell").mean()
    flat = cells.row * n + cells.col
    cells["moved_cosine"] = flat.map(grouped["cosine"]).to_numpy()
    cells["moved_distance"] = flat.map(grouped["distance"]).to_numpy()
    cells["same_cell"] = flat.map(grouped["same"]).to_numpy()
    cells["null_distance"] = flat.map(grouped["null"]).to_numpy()
    tests = movement_tests(frame, settings["min_count"], settings["compare"]["fdr"])
    for column in ("p_moved", "q_moved", "moved_beyond_null"):
        cells[column] = flat.map(tests[column]).to_numpy() if len(tests) else np.nan
    moved_beyond = int(tests["moved_beyond_null"].sum()) if len(tests) else 0
    write_csv(out_dir / "cells.csv", cells)
    write_csv(
        out_dir / "layout.csv",
        pd.DataFrame({
            "sample": np.tile(np.arange(n_img), 2),
            "net": np.repeat(["base", "finetuned"], n_img),
            "x": unit[:, 0], "y": unit[:, 1], "row": rows, "col": cols,
            "label": np.tile(nets["base"]["labels"], 2),
        }),
    )
    write_json(out_dir / "layout.json", {
        "atlas": COMPARE,
        "fit": fit,
        "method": ("UMAP (umap-learn, cosine metric) fit on the base network's activation vectors; the "
                   "fine-tuned network's vectors of the same images at the same positions, and the null sample "
                   "(the base network at a second position of each image), placed with the fitted model's "
                   "transform; one grid, cut by the base points' percentiles"
                   if fit == "base" else
                   "UMAP (umap-learn, cosine metric) fit once on the union of the base and fine-tuned activation "
                   "vectors of the same images at the same positions; one grid over it. A union fit places the "
                   "two networks' points among their own neighbours whenever they differ systematically, so "
                   "separated regions are expected for any pair of networks; no null is computed"),
        "samples_per_network": int(n_img),
        "n_neighbors": settings["layout"]["n_neighbors"],
        "min_dist": settings["layout"]["min_dist"],
        "pca": settings["layout"]["pca"],
        "clip_percentiles": list(settings["layout"]["clip_percentiles"]),
        "grid_size": n,
        "min_count": settings["min_count"],
        "icons": "each network's icon renders the mean of its own points in the cell through its own network",
        "whitening": "each network's own second moment" if settings["icons"]["whiten"] else "none",
        "classes": "top_class_base: base network's classes; top_class_finetuned: fine-tuned network's classes; "
                   "label_*: most frequent dataset label (fine-tuning task) of each network's points",
        "movement": "over images whose base point is in the cell: moved_cosine = mean cos(base act, fine-tuned act); "
                    "moved_distance = mean layout distance between the two points; same_cell = share staying",
        "mean_moved_cosine": float(cosine.mean()),
        "mean_moved_distance": float(distance.mean()),
        "null": ("over images whose base point is in the cell: null_distance = mean layout distance between the "
                 "image's base point and its null point (the base network at a second position of the image); "
                 "p_moved: one-sided Wilcoxon signed-rank test, paired by image, that the fine-tuned point moved "
                 "further than the null point (cells with at least min_count images); q_moved: Benjamini-Hochberg "
                 "over those cells; moved_beyond_null: q_moved <= fdr") if unit_null is not None else None,
        "mean_null_distance": float(np.nanmean(null_distance)) if unit_null is not None else None,
        "cells_tested": int(len(tests)),
        "cells_moved_beyond_null": moved_beyond,
        "fdr": settings["compare"]["fdr"],
    })
    return todos


def null_sample(collection: dict) -> np.ndarray | None:
    """The base network's activation at a second position of each image: (N, C), the first
    of the collection's moment positions (``atlas.moment_positions``) that differs from the
    layout's position; None when the collection has none (moment_positions 0, or a 1 x 1 map)."""
    moments, where = collection.get("moment_acts"), collection.get("moment_positions")
    if moments is None or where is None or where.shape[1] == 0:
        return None
    n, k = where.shape
    width = int(collection["map_shape"][1])
    flat = collection["positions"][:, 0] * width + collection["positions"][:, 1]
    other = where != flat[:, None]
    if not other.any(axis=1).all():
        return None
    pick = other.argmax(axis=1)
    return moments.reshape(n, k, -1)[np.arange(n), pick]


def movement_tests(frame: pd.DataFrame, min_count: int, fdr: float) -> pd.DataFrame:
    """Per cell of `frame` (rows: cell, distance, null; one per image), whether its
    fine-tuned points moved further than its null points: p_moved (one-sided Wilcoxon
    signed-rank test of distance - null, paired by image), q_moved (Benjamini-Hochberg over
    the tested cells), moved_beyond_null (q_moved <= fdr). Cells with fewer than
    `min_count` images, or no null, are not tested. Indexed by cell."""
    from scipy.stats import false_discovery_control, wilcoxon

    rows = {}
    for cell, part in frame.groupby("cell"):
        diff = (part["distance"] - part["null"]).to_numpy(np.float64)
        if len(part) < min_count or np.isnan(diff).any():
            continue
        rows[cell] = 1.0 if not np.any(diff) else float(wilcoxon(diff, alternative="greater").pvalue)
    tests = pd.DataFrame({"p_moved": pd.Series(rows, dtype=float)})
    tests["q_moved"] = false_discovery_control(tests["p_moved"].to_numpy(), method="bh") if len(tests) else []
    tests["moved_beyond_null"] = tests["q_moved"] <= fdr
    return tests


def layout_stage(
    npz: dict[str, str | Path],
    dataset_classes: str | Path,
    *,
    settings: dict,
    seed: int,
    results: Layout,
    layer: str,
    out_directions: dict[str, str | Path],
) -> None:
    """Every layout of one layer: each network's atlases and the comparison atlas of base
    and finetuned.

    One job for all of them, because importing umap-learn and compiling its numba
    code costs about half a minute per process, more than a demo-sized layout.
    npz: {net: activations.npz}, base and finetuned and any fine-tuning variant (which
    gets its own atlases, not a comparison atlas; settings["classes"] and
    ["class_pairs"] need an entry for it); out_directions: {net: directions.npz}, which
    lists every icon that network renders (its own atlases and its half of the comparison).
    """
    nets = {net: _load_collection(path, dataset_classes) for net, path in npz.items()}
    todos = {net: [net_layouts(data, net=net, settings=settings, seed=seed, out_dir=results.atlas(net, layer))]
             for net, data in nets.items()}
    pair = {net: nets[net] for net in COMPARED}
    for net, todo in compare_layout(pair, settings=settings, seed=seed, out_dir=results.atlas_compare(layer)).items():
        todos[net].append(todo)
    for net, parts in todos.items():
        todo = _concat_todo(parts, nets[net]["acts"].shape[1])
        w, stats = _whitening_with_stats(nets[net], settings)
        write_json(Path(results.atlas(net, layer)) / "whitening.json", {"network": net, "layer": layer, **stats})
        log.info("%s %s whitening: %s", net, layer, stats)
        write_npz(out_directions[net], {"whitening": w.astype(np.float32), **todo})
        log.info("%s %s: %d icons to render", net, layer, len(todo["atlas"]))


# Icons --------------------------------------------------------------------------------


def icons_stage(
    model_path: str | Path,
    manifest: str | Path,
    directions: str | Path,
    *,
    layer: str,
    shard: int,
    shards: int,
    settings: dict,
    seed: int,
    device: torch.device,
    out_table: str | Path,
    out_dir: str | Path,
) -> None:
    """Render shard ``shard`` of ``shards`` of every icon listed in the ``directions`` file.

    settings: the config's ``atlas.icons`` section. Writes one PNG per icon into
    ``out_dir`` and a table (atlas, row, col, file, objective).
    """
    todo = read_npz(directions)
    whitening = todo.pop("whitening")
    part = icons.shard_slice(len(todo["atlas"]), shards, shard)
    todo = {k: v[part] for k, v in todo.items()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    if len(todo["atlas"]):
        from .. import models
        from ..render import param_arguments, render_directions

        model, normalize, meta = models.load_network(model_path, device)
        param_kwargs = param_arguments(settings["param"], manifest, settings["size"], seed)
        pictures, values = render_directions(
            model, layer, todo["vectors"], todo["seed"], whitening=whitening,
            size=settings["size"], steps=settings["steps"], lr=settings["lr"], param=settings["param"],
            cossim_pow=settings["cossim_pow"], redirect_steps=settings["redirect_steps"],
            batch_size=settings["batch_size"], device=device, normalize=normalize, param_kwargs=param_kwargs,
            objective=settings["objective"], transforms=settings["transforms"],
        )
        for i, (atlas_id, r, c) in enumerate(zip(todo["atlas"], todo["row"], todo["col"])):
            name = icon_file(str(atlas_id), int(r), int(c))
            save_png(pictures[i], out_dir / name)
            rows.append({"atlas": str(atlas_id), "row": int(r), "col": int(c), "file": name, "objective": float(values[i])})
    write_csv(out_table, pd.DataFrame(rows, columns=["atlas", "row", "col", "file", "objective"]))
    log.info("shard %d/%d: %d icons", shard, shards, len(rows))


def _icon_paths(tables: Sequence[str | Path]) -> dict[tuple[str, int, int], Path]:
    paths = {}
    for table in tables:
        frame = pd.read_csv(table)
        folder = Path(table).with_suffix("")
        for item in frame.itertuples():
            paths[(item.atlas, int(item.row), int(item.col))] = folder / item.file
    return paths


def _load_icons(cells: pd.DataFrame, atlas_id: str, paths: dict, column: str = "filled") -> dict:
    out = {}
    for item in cells[cells[column]].itertuples():
        key = (atlas_id, int(item.row), int(item.col))
        if key not in paths:
            raise FileNotFoundError(f"no icon rendered for {key}")
        with Image.open(paths[key]) as image:
            out[(int(item.row), int(item.col))] = np.asarray(image.convert("RGB"))
    return out


def _read_cells(path: Path) -> pd.DataFrame:
    cells = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for column in [c for c in cells.columns if c.startswith("filled")]:
        cells[column] = cells[column].astype(bool)
    return cells


def images_stage(
    results: Layout, icon_tables: dict[str, Sequence[str | Path]], *, layer: str, settings: dict
) -> None:
    """Every image of one layer's atlases: each network's (:func:`net_images`) and the
    comparison atlas of base and finetuned (:func:`compare_images`). icon_tables: {net:
    icons/{shard}.csv files}, variants included."""
    for net, tables in icon_tables.items():
        net_images(results.atlas(net, layer), tables, net=net, layer=layer, settings=settings)
    compare_images(results.atlas_compare(layer), {net: icon_tables[net] for net in COMPARED}, layer=layer,
                   settings=settings)


def net_images(
    atlas_dir: str | Path,
    icon_tables: Sequence[str | Path],
    *,
    net: str,
    layer: str,
    settings: dict,
) -> None:
    """Draw the images of every atlas of one (network, layer): ``icons.png`` (the bare
    icon grid), ``atlas.{png,pdf}`` (labelled with top classes), and for the main atlas
    ``density.{png,pdf}``."""
    atlas_dir = Path(atlas_dir)
    paths = _icon_paths(icon_tables)
    size = settings["icons"]["size"]
    specs = [(MAIN, atlas_dir, settings["grid_size"], f"{net} network, {layer}", None)]
    for name in settings["classes"][net]:
        specs.append((class_atlas_id(name), atlas_dir / class_atlas_id(name), settings["class_grid_size"],
                      f"{net} network, {layer}: activations attributed most to {name!r}", None))
    for a, b in settings["class_pairs"][net]:
        specs.append((pair_atlas_id(a, b), atlas_dir / pair_atlas_id(a, b), settings["class_grid_size"],
                      f"{net} network, {layer}: {a!r} vs {b!r}", (a, b)))
    for atlas_id, folder, n, title, pair in specs:
        cells = _read_cells(folder / "cells.csv")
        canvas = images.icon_canvas(_load_icons(cells, atlas_id, paths), n, size)
        save_png(canvas, folder / "icons.png")
        if pair is not None:
            images.pair_figure(canvas, cells, n, pair[0], pair[1], title, [folder / "atlas.png", folder / "atlas.pdf"])
        else:
            images.atlas_figure(canvas, cells, n, title, [folder / "atlas.png", folder / "atlas.pdf"],
                                labels=settings["labels"])
        if atlas_id == MAIN:
            lay = pd.read_csv(folder / "layout.csv", keep_default_na=False)
            images.density_figure(lay, cells, n, settings["min_count"], f"{net} network, {layer}: samples",
                                  [folder / "density.png", folder / "density.pdf"])


def compare_images(
    compare_dir: str | Path,
    icon_tables: dict[str, Sequence[str | Path]],
    *,
    layer: str,
    settings: dict,
) -> None:
    """Images of the comparison atlas: ``icons_{net}.png``, ``atlas.{png,pdf}`` (both
    networks side by side on the shared layout) and ``movement.{png,pdf}``."""
    compare_dir = Path(compare_dir)
    cells = _read_cells(compare_dir / "cells.csv")
    n, size = settings["grid_size"], settings["icons"]["size"]
    canvases = {}
    for net, tables in icon_tables.items():
        canvases[net] = images.icon_canvas(_load_icons(cells, COMPARE, _icon_paths(tables), f"filled_{net}"), n, size)
        save_png(canvases[net], compare_dir / f"icons_{net}.png")
    images.compare_figure(canvases["base"], canvases["finetuned"], cells, n, layer,
                          [compare_dir / "atlas.png", compare_dir / "atlas.pdf"], labels=settings["labels"])
    images.movement_figure(cells, n, layer, [compare_dir / "movement.png", compare_dir / "movement.pdf"])


def paper_figures(results: Layout, *, layer: str, settings: dict, out: dict[str, Sequence[str | Path]]) -> None:
    """The paper's atlas figures of one layer, drawn from the icon grids and cell tables
    :func:`images_stage` wrote. ``out`` maps a figure to its files (PNG and PDF):
    ``base`` and ``finetuned`` (each network's labelled atlas), ``compare`` (the comparison
    atlas) and, when the config names class atlases or pairs, ``classes`` (every class
    atlas and two-class comparison of both networks as panels of one figure)."""
    n = settings["grid_size"]
    for net in ("base", "finetuned"):
        folder = Path(results.atlas(net, layer))
        canvas = np.asarray(Image.open(folder / "icons.png").convert("RGB"))
        images.atlas_figure(canvas, _read_cells(folder / "cells.csv"), n, f"{net} network, {layer}", out[net],
                            labels=settings["labels"])
    folder = Path(results.atlas_compare(layer))
    base, finetuned = (np.asarray(Image.open(folder / f"icons_{net}.png").convert("RGB")) for net in ("base", "finetuned"))
    images.compare_figure(base, finetuned, _read_cells(folder / "cells.csv"), n, layer, out["compare"],
                          labels=settings["labels"])
    panels: list[tuple[np.ndarray, str]] = []
    for net in ("base", "finetuned"):
        for name in settings["classes"][net]:
            canvas = Image.open(Path(results.atlas_class(net, layer, name)) / "icons.png").convert("RGB")
            panels.append((np.asarray(canvas), f"{net}: class atlas of {name!r}"))
        for a, b in settings["class_pairs"][net]:
            canvas = Image.open(Path(results.atlas_pair(net, layer, a, b)) / "icons.png").convert("RGB")
            panels.append((np.asarray(canvas), f"{net}: {b!r} (left) vs {a!r} (right)"))
    if "classes" in out:
        if not panels:
            raise ValueError("the classes figure needs atlas.classes or atlas.class_pairs")
        plots.image_panels([c for c, _ in panels], [t for _, t in panels],
                             f"Class atlases and two-class comparisons of {layer} (class atlases: {settings['class_grid_size']}"
                             f" x {settings['class_grid_size']} cells; pairs: x = attribution difference)", out["classes"])
