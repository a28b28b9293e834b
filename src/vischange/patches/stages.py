"""The atlas-patch stages of the workflow, one function per rule and direction (each rule
runs one job per network, calling its function once per tested direction).

* :func:`render_stage` (rules ``patches_render_<net>``): candidates and their renders. In a pair
  atlas ``a_vs_b`` the x axis is ``attribution(a) - attribution(b)`` (cells.csv column
  ``attribution_difference``); the patches favouring T are the filled cells with the
  largest signed difference toward T (``+`` for T = a, ``-`` for T = b), at most
  ``top_k``, only cells whose difference does favour T. Each is rendered exactly as its
  atlas icon (:func:`vischange.render.render_directions`: the cell's whitened mean
  direction, ``dot x cos^n``, the icon's seed and parameterization), but at patch
  resolution (``patches.render_size``, default the largest patch in pixels) and with
  ``patches.steps`` steps.
* :func:`experiment_stage` (rules ``patches_experiment_<net>``): every source-class test image
  of the network's own task, every patch (the atlas patches and the baselines), every
  size (fraction of the image side) and each of the four corners; the network's top-1
  class and the probabilities of T and S before and after. Baselines, drawn with seeds
  from the config seed: uniform random noise, and a square cut at native scale from a
  random training image of the network's task that is not of class T.
* :func:`summary_stage` (rules ``patches_summary_<net>``): flip rates per (patch, size,
  corner), and per image the best corner as the article does; figures.
* :func:`overview_stage` (rule ``patches_overview``): every tested (network, direction)
  in one table and figure.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import models
from ..datasets import read_classes
from ..heads import predict
from ..names import pair_atlas_id
from ..render import param_arguments, render_directions, save_png
from ..runtime import read_npz, write_csv, write_json
from .baselines import baseline_patches
from .candidates import patch_id, render_size, select_candidates
from .figures import gallery_figure, overview_figure, rates_figure
from .flips import KINDS, atlas_margin, best_corner, flip_columns, flip_summary, kind_summary, overview_table
from .images import load_images, load_png, source_images
from .pasting import CORNERS, patch_pixels, paste, resize_patch

log = logging.getLogger(__name__)


def render_stage(
    model_path: str | Path,
    manifest: str | Path,
    directions: str | Path,
    cells: str | Path,
    *,
    pair: Sequence[str],
    source: str,
    target: str,
    layer: str,
    settings: dict,
    icon_settings: dict,
    image_size: int,
    seed: int,
    device: torch.device,
    out_table: str | Path,
    out_dir: str | Path,
) -> None:
    """Render the atlas patches of one (network, pair, direction).

    pair: (a, b) of the pair atlas; source, target: class names (one of
    :func:`.candidates.pair_directions`). layer: the atlas layer whose ``directions``
    and ``cells`` these are (``patches.layer``). settings: the config's ``patches`` section;
    icon_settings: ``atlas.icons`` (lr, param, cossim_pow, redirect_steps, batch_size,
    objective, transforms).
    manifest: the training images whose colour statistics the parameterization uses,
    as for the atlas icons. Writes one PNG per candidate (``{patch}.png``, render_size
    pixels square) and a table: patch, row, col, attribution_difference, score, count,
    top_class, file, objective.
    """
    a, b = pair
    if {source, target} != {a, b}:
        raise ValueError(f"{source!r} -> {target!r} is not a direction of the pair {a!r} vs {b!r}")
    atlas_id = pair_atlas_id(a, b)
    frame = pd.read_csv(cells, keep_default_na=False, na_values=[""])
    chosen = select_candidates(frame, toward_first=target == a, top_k=settings["top_k"])
    todo = read_npz(directions)
    whitening = todo.pop("whitening")
    index = {(str(at), int(r), int(c)): i for i, (at, r, c) in enumerate(zip(todo["atlas"], todo["row"], todo["col"]))}
    missing = [(r, c) for r, c in zip(chosen.row, chosen.col) if (atlas_id, int(r), int(c)) not in index]
    if missing:
        raise ValueError(f"{directions}: no direction for cells {missing} of {atlas_id}")
    rows = [index[(atlas_id, int(r), int(c))] for r, c in zip(chosen.row, chosen.col)]
    size = render_size(settings, image_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = np.zeros(0)
    if rows:
        model, normalize, meta = models.load_network(model_path, device)
        for name in (source, target):
            if name not in meta["class_names"]:
                raise ValueError(f"{name!r} is not a class of {model_path}")
        param_kwargs = param_arguments(icon_settings["param"], manifest, size, seed)
        # The atlas icon's own seed: the patch starts from the icon's initial image.
        pictures, values = render_directions(
            model, layer, todo["vectors"][rows], todo["seed"][rows], whitening=whitening,
            size=size, steps=settings["steps"], lr=icon_settings["lr"], param=icon_settings["param"],
            cossim_pow=icon_settings["cossim_pow"], redirect_steps=icon_settings["redirect_steps"],
            batch_size=icon_settings["batch_size"], device=device, normalize=normalize, param_kwargs=param_kwargs,
            objective=icon_settings["objective"], transforms=icon_settings["transforms"],
        )
        for i, item in enumerate(chosen.itertuples()):
            save_png(pictures[i], out_dir / f"{patch_id(item.row, item.col)}.png")
    else:
        log.warning("%s: no cell favours %r over %r; no atlas patches", cells, target, source)
    table = pd.DataFrame({
        "patch": [patch_id(r, c) for r, c in zip(chosen.row, chosen.col)],
        "row": chosen.row.astype(int), "col": chosen.col.astype(int),
        "attribution_difference": chosen.attribution_difference, "score": chosen.score,
        "count": chosen["count"].astype(int), "top_class": chosen.top_class,
        "file": [f"{patch_id(r, c)}.png" for r, c in zip(chosen.row, chosen.col)],
        "pixels": size, "objective": values,
    })
    write_csv(out_table, table)
    log.info("%d atlas patches favouring %r (pasted onto %r), %d px", len(table), target, source, size)


def experiment_stage(
    model_path: str | Path,
    candidates: str | Path,
    test_manifest: str | Path,
    train_manifest: str | Path,
    classes: str | Path,
    *,
    source: str,
    target: str,
    settings: dict,
    data: dict,
    seed: int,
    device: torch.device,
    out_table: str | Path,
    out_patches: str | Path,
) -> None:
    """Paste every patch onto every source-class test image and record the predictions.

    candidates: the render stage's table (its PNGs beside it, in the folder of the
    same name). settings: the ``patches`` section (sizes, baseline_draws, max_images,
    batch_size); data: the ``data`` section (image_size, eval_crop).
    Writes ``out_table``, one row per (kind, patch, size, corner, image): image, kind,
    patch, size, pixels, corner, top1_before, p_target_before, p_source_before,
    top1_after, p_target_after, p_source_after; and ``out_patches``: what each patch is.
    """
    size_px = data["image_size"]
    model, normalize, meta = models.load_network(model_path, device, class_names=read_classes(classes))
    models.for_inference(model)  # 192 passes over the test images per direction in the demo
    names = list(meta["class_names"])
    s, t = names.index(source), names.index(target)
    relative, paths = source_images(test_manifest, classes, source, settings["max_images"], seed)
    if not paths:
        raise ValueError(f"{test_manifest} has no images of {source!r}")
    images = load_images(paths, size_px, data["eval_crop"])
    clean = predict(model, normalize, images, device, settings["batch_size"])
    before = {"top1_before": np.array(names)[clean.argmax(1).numpy()],
              "p_target_before": clean[:, t].numpy(), "p_source_before": clean[:, s].numpy()}
    log.info("%d test images of %r; %d classified correctly before pasting", len(paths), source,
             int((before["top1_before"] == source).sum()))

    table = pd.read_csv(candidates)
    folder = Path(candidates).with_suffix("")
    patches = []
    for item in table.itertuples():
        full = load_png(folder / item.file)
        for size in settings["sizes"]:
            p = patch_pixels(size, size_px)
            patches.append({"kind": "atlas", "patch": item.patch, "size": size, "pixels": p,
                            "tensor": resize_patch(full, p),
                            "origin": f"atlas cell (row {item.row}, col {item.col}), rendered at {item.pixels} px"})
    patches += baseline_patches(train_manifest, classes, source=source, target=target, sizes=settings["sizes"],
                                draws=settings["baseline_draws"], image_size=size_px,
                                crop_fraction=data["eval_crop"], seed=seed)
    frames = []
    jobs = [(patch, corner) for patch in patches for corner in CORNERS]
    for patch, corner in tqdm(jobs, desc=f"patches {source}->{target}", mininterval=10):
        probs = predict(model, normalize, paste(images, patch["tensor"], corner), device, settings["batch_size"])
        frames.append(pd.DataFrame({
            "image": relative,
            "kind": patch["kind"], "patch": patch["patch"], "size": patch["size"], "pixels": patch["pixels"],
            "corner": corner, **before,
            "top1_after": np.array(names)[probs.argmax(1).numpy()],
            "p_target_after": probs[:, t].numpy(), "p_source_after": probs[:, s].numpy(),
        }))
    columns = ["image", "kind", "patch", "size", "pixels", "corner", "top1_before", "p_target_before",
               "p_source_before", "top1_after", "p_target_after", "p_source_after"]
    write_csv(out_table, pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns))
    write_csv(out_patches, pd.DataFrame([{k: v for k, v in p.items() if k != "tensor"} for p in patches],
                                        columns=["kind", "patch", "size", "pixels", "origin"]))


def summary_stage(
    flips: str | Path,
    candidates: str | Path,
    test_manifest: str | Path,
    *,
    net: str,
    source: str,
    target: str,
    layer: str,
    data: dict,
    gallery: int,
    out_summary: str | Path,
    out_json: str | Path,
    out_rates: Sequence[str | Path],
    out_gallery: Sequence[str | Path],
) -> None:
    """Flip rates (``summary.csv``: one row per kind, patch, size and corner, ``best``
    included; see :func:`.flips.flip_summary`), the headline numbers (``summary.json``), the
    figure of flip rate against patch size with the baselines (``out_rates``) and a
    gallery of flipped examples (``out_gallery``)."""
    frame = flip_columns(pd.read_csv(flips, keep_default_na=False), source, target)
    best = best_corner(frame)
    summary = flip_summary(pd.concat([frame, best.drop(columns="best_corner")], ignore_index=True))
    write_csv(out_summary, summary)
    kinds = kind_summary(summary)
    images = frame.drop_duplicates("image")
    write_json(out_json, {
        "network": net, "layer": layer, "source": source, "target": target,
        "source_images": int(len(images)),
        "correct_before": int(images["correct_before"].sum()),
        "flip_rate_definition": "share of the source images classified correctly before pasting whose top-1 becomes "
                                "the target (flip_target) or another class (flip_other), at the best of the four corners",
        "by_kind": {kind: {f"{row.size:g}": {"patches": int(row.patches),
                                             "flip_target_rate": float(row.flip_target_rate),
                                             "flip_target_max": float(row.flip_target_max),
                                             "flip_other_rate": float(row.flip_other_rate),
                                             "mean_delta_target": float(row.mean_delta_target)}
                           for row in kinds[kinds["kind"] == kind].itertuples()}
                    for kind in KINDS},
    })
    title = f"{net} network, {layer}: patches favouring {target!r} pasted onto {source!r} test images"
    rates_figure(summary, title, len(images), int(images["correct_before"].sum()), out_rates)
    gallery_figure(best, candidates, test_manifest, data=data, source=source, target=target, title=title,
                   n=gallery, out=out_gallery)


def overview_stage(summary_jsons: Sequence[str | Path], *, networks: Sequence[str], out_table: str | Path,
                   out_margin: str | Path, out_figure: Sequence[str | Path]) -> pd.DataFrame:
    """Rule ``patches_overview``: :func:`.flips.overview_table` (CSV), :func:`.flips.atlas_margin` (CSV)
    and :func:`.figures.overview_figure` from every (network, direction)'s summary.json."""
    import json

    table = overview_table([json.loads(Path(p).read_text()) for p in summary_jsons], networks)
    write_csv(out_table, table)
    write_csv(out_margin, atlas_margin(table))
    overview_figure(table, networks, out_figure)
    log.info("%d (network, direction) experiments in the overview", len(table.drop_duplicates(
        ["network", "source", "target"])))
    return table
