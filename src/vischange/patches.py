"""Atlas patches: do the concepts an atlas ties to a class really steer the classifier?

The activation-atlas article's experiment, for each network and each two-class
comparison ``pair/{a}_vs_{b}`` of ``atlas.class_pairs``: take the cells whose
activations the atlas ties most to one class (the *target* T), render them as small
patches, paste them onto test images of the other class (the *source* S), and count how
often the network's prediction flips to T, against patches that carry no concept.

Stages (one function per rule):

* :func:`render_stage` (rule ``patches_render``): candidates and their renders. In a pair
  atlas ``a_vs_b`` the x axis is ``attribution(a) - attribution(b)`` (cells.csv column
  ``attribution_difference``); the patches favouring T are the filled cells with the
  largest signed difference toward T (``+`` for T = a, ``-`` for T = b), at most
  ``top_k``, only cells whose difference does favour T. Each is rendered exactly as its
  atlas icon (:func:`vischange.render.render_directions`: the cell's whitened mean
  direction, ``dot x cos^n``, the icon's seed and parameterization), but at patch
  resolution (``patches.render_size``, default the largest patch in pixels) and with
  ``patches.steps`` steps.
* :func:`experiment_stage` (rule ``patches_experiment``): every source-class test image
  of the network's own task, every patch (the atlas patches and the baselines), every
  size (fraction of the image side) and each of the four corners; the network's top-1
  class and the probabilities of T and S before and after. Baselines, drawn with seeds
  from the config seed: uniform random noise, and a square cut at native scale from a
  random training image of the network's task that is not of class T.
* :func:`summary_stage` (rule ``patches_summary``): flip rates per (patch, size,
  corner), and per image the best corner as the article does; figures.

Which images each network is tested on (its classes are its own): the fine-tuned
network on the fine-tuning task's test split (``data/test.csv``); the base network,
when it was pretrained here on the synthetic base task (``model.base.source:
pretrain``), on that task's test split (``data/base/test.csv``). With torchvision or
file weights there is no test set of the base network's classes (ImageNet's validation
set is not part of the workflow), so the workflow plans no base-network patches and
says why when it parses the config (workflow/rules/patches.smk).

Flip rates count only images the network classifies correctly (top-1 = S) before
pasting: an image already called T, or something else, cannot flip *to* T from S.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from . import models, plots
from .datasets import eval_transform, read_classes, read_manifest
from .heads import predict
from .names import pair_atlas_id
from .render import param_arguments, render_directions, save_png
from .runtime import derive_seed, read_npz, write_csv, write_json

log = logging.getLogger(__name__)

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
KINDS = ("atlas", "noise", "image")  # atlas patches, then the two baselines
BEST = "best"  # the corner column's value for the best corner per image


# Pairs and candidates -----------------------------------------------------------------


def pair_directions(a: str, b: str, both: bool = True) -> list[tuple[str, str]]:
    """(source, target) class names of the pair atlas ``a_vs_b``.

    The pair's x axis is attribution(a) - attribution(b), so its right side holds
    what favours ``a``: target ``a`` takes patches from there and pastes them onto
    images of ``b``. With ``both`` the left side does the same the other way round.
    """
    return [(b, a), (a, b)] if both else [(b, a)]


def select_candidates(cells: pd.DataFrame, *, toward_first: bool, top_k: int) -> pd.DataFrame:
    """The filled cells of a pair atlas that most favour the target class.

    cells: the pair atlas's cells.csv (row, col, filled, attribution_difference =
    mean attribution(a) - attribution(b) over the cell's samples). toward_first: the
    target is ``a`` (largest differences) rather than ``b`` (most negative).
    Returns at most ``top_k`` rows, ordered from the strongest, with a ``score``
    column (the difference signed toward the target, > 0); cells whose difference does
    not favour the target are never picked. Ties break by (row, col).
    """
    filled = cells[cells["filled"].astype(bool)].copy()
    sign = 1.0 if toward_first else -1.0
    filled["score"] = sign * filled["attribution_difference"].astype(float)
    filled = filled[filled["score"] > 0]
    filled = filled.sort_values(["score", "row", "col"], ascending=[False, True, True], kind="stable")
    return filled.head(top_k).reset_index(drop=True)


def patch_id(row: int, col: int) -> str:
    return f"r{int(row):03d}_c{int(col):03d}"


# Pasting ------------------------------------------------------------------------------


def patch_pixels(fraction: float, side: int) -> int:
    """Side in pixels of a patch ``fraction`` of the image side (rounded, at least 1)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"patch size {fraction} is not a fraction in (0, 1]")
    return max(1, min(side, int(round(fraction * side))))


def corner_origin(corner: str, height: int, width: int, pixels: int) -> tuple[int, int]:
    """(top, left) pixel of a ``pixels``-square patch flush with ``corner`` of an image."""
    if corner not in CORNERS:
        raise ValueError(f"corner {corner!r} is not one of {CORNERS}")
    top = 0 if corner.startswith("top") else height - pixels
    left = 0 if corner.endswith("left") else width - pixels
    return top, left


def paste(images: torch.Tensor, patch: torch.Tensor, corner: str) -> torch.Tensor:
    """A copy of ``images`` (N, 3, H, W) with ``patch`` (3, p, p) pasted over ``corner``;
    every other pixel is unchanged."""
    _, _, height, width = images.shape
    p = patch.shape[-1]
    if patch.shape[-2] != p or p > min(height, width):
        raise ValueError(f"patch {tuple(patch.shape)} is not a square that fits {height}x{width} images")
    top, left = corner_origin(corner, height, width, p)
    out = images.clone()
    out[:, :, top : top + p, left : left + p] = patch.to(out.dtype)
    return out


def resize_patch(patch: torch.Tensor, pixels: int) -> torch.Tensor:
    """(3, R, R) in [0, 1] -> (3, pixels, pixels), antialiased when shrinking."""
    if patch.shape[-1] == pixels:
        return patch.clone()
    out = F.interpolate(patch[None].float(), size=(pixels, pixels), mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp(0, 1)


# Baselines ----------------------------------------------------------------------------


def baseline_seed(seed: int, kind: str, source: str, target: str, draw: int, *extra) -> int:
    """Seed of one baseline draw; independent of the network, so the base and the
    fine-tuned network of a shared pair see the very same baseline patches."""
    return derive_seed(seed, "patch-baseline", kind, source, target, int(draw), *[str(e) for e in extra])


def noise_patch(pixels: int, seed: int) -> torch.Tensor:
    """Uniform random noise in [0, 1], (3, pixels, pixels)."""
    return torch.rand(3, pixels, pixels, generator=torch.Generator().manual_seed(seed))


def crop_box(height: int, width: int, pixels: int, seed: int) -> tuple[int, int]:
    """Seeded (top, left) of a ``pixels``-square crop inside an image."""
    rng = np.random.default_rng(seed)
    return int(rng.integers(0, height - pixels + 1)), int(rng.integers(0, width - pixels + 1))


def crop_patch(image: torch.Tensor, pixels: int, seed: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """A ``pixels``-square cut at native scale from ``image`` (3, H, W) at a seeded
    position; returns (patch (3, pixels, pixels), (top, left))."""
    top, left = crop_box(image.shape[1], image.shape[2], pixels, seed)
    return image[:, top : top + pixels, left : left + pixels].clone(), (top, left)


def pick_crop_image(labels: np.ndarray, exclude: int, seed: int) -> int:
    """Index of a seeded random image whose label is not ``exclude`` (the target)."""
    allowed = np.flatnonzero(np.asarray(labels) != exclude)
    if len(allowed) == 0:
        raise ValueError("every image of the manifest is of the target class: no image to cut a baseline from")
    return int(np.random.default_rng(seed).choice(allowed))


# Images -------------------------------------------------------------------------------


def load_images(paths: Sequence[str], size: int, crop_fraction: float) -> torch.Tensor:
    """Images as the network sees them before normalization: (N, 3, size, size) in [0, 1]."""
    transform = eval_transform(size, crop_fraction=crop_fraction)
    out = []
    for path in paths:
        with Image.open(path) as image:
            out.append(transform(image.convert("RGB")))
    return torch.stack(out)


def load_png(path: str | Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1).float() / 255


# Arithmetic ---------------------------------------------------------------------------


def flip_columns(frame: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """Add per-row outcomes to a per-image table (columns top1_before, top1_after,
    p_target_before, p_target_after): ``correct_before`` (top-1 was the source),
    ``flip_target`` (correct before, target after), ``flip_other`` (correct before,
    neither source nor target after) and ``delta_target`` (change in target probability)."""
    out = frame.copy()
    out["correct_before"] = out["top1_before"] == source
    out["flip_target"] = out["correct_before"] & (out["top1_after"] == target)
    out["flip_other"] = out["correct_before"] & (out["top1_after"] != target) & (out["top1_after"] != source)
    out["delta_target"] = out["p_target_after"] - out["p_target_before"]
    return out


def best_corner(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (kind, patch, size, image): the corner that serves the target best.

    As in the article, a patch may sit at whichever corner works: the best corner is one
    where the prediction flips to the target if any does, else the one with the highest
    target probability after pasting (ties: the first in :data:`CORNERS`). The row keeps
    that corner's outcome with ``corner`` = ``best`` and ``best_corner`` naming it.
    frame: rows with ``flip_target`` (see :func:`flip_columns`).
    """
    keys = ["kind", "patch", "size", "image"]
    order = frame.assign(_corner=frame["corner"].map({c: i for i, c in enumerate(CORNERS)}))
    order = order.sort_values(keys + ["flip_target", "p_target_after", "_corner"],
                              ascending=[True] * len(keys) + [False, False, True], kind="stable")
    best = order.groupby(keys, sort=False).head(1).drop(columns="_corner")
    best = best.rename(columns={"corner": "best_corner"}).assign(corner=BEST)
    return best.sort_values(keys, kind="stable").reset_index(drop=True)


def flip_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Rates per (kind, patch, size, corner), over the images classified correctly before.

    frame: per-image rows with the :func:`flip_columns` outcomes, the four corners and
    (from :func:`best_corner`) ``best``. Columns: kind, patch, size, pixels, corner,
    images (correctly classified source images), flip_target_rate, flip_other_rate,
    mean_delta_target (mean change in target probability), mean_p_target_after.
    """
    used = frame[frame["correct_before"]]
    keys = ["kind", "patch", "size", "pixels", "corner"]
    groups = used.groupby(keys, sort=False)
    out = groups.agg(
        images=("image", "size"),
        flip_target_rate=("flip_target", "mean"),
        flip_other_rate=("flip_other", "mean"),
        mean_delta_target=("delta_target", "mean"),
        mean_p_target_after=("p_target_after", "mean"),
    ).reset_index()
    out["kind"] = pd.Categorical(out["kind"], KINDS, ordered=True)
    out["corner"] = pd.Categorical(out["corner"], list(CORNERS) + [BEST], ordered=True)
    out = out.sort_values(["kind", "patch", "size", "corner"], kind="stable").reset_index(drop=True)
    out["kind"] = out["kind"].astype(str)
    out["corner"] = out["corner"].astype(str)
    return out


def kind_summary(summary: pd.DataFrame, corner: str = BEST) -> pd.DataFrame:
    """Per (kind, size) at ``corner``: the mean, min and max over a kind's patches (atlas
    patches or baseline draws) of the flip rates and the mean change in target probability."""
    part = summary[summary["corner"] == corner]
    out = part.groupby(["kind", "size"], sort=False).agg(
        patches=("patch", "nunique"),
        flip_target_rate=("flip_target_rate", "mean"),
        flip_target_min=("flip_target_rate", "min"),
        flip_target_max=("flip_target_rate", "max"),
        flip_other_rate=("flip_other_rate", "mean"),
        mean_delta_target=("mean_delta_target", "mean"),
    ).reset_index()
    return out


# Stages -------------------------------------------------------------------------------


def render_stage(
    model_path: str | Path,
    manifest: str | Path,
    directions: str | Path,
    cells: str | Path,
    *,
    pair: Sequence[str],
    source: str,
    target: str,
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
    :func:`pair_directions`). settings: the config's ``patches`` section;
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
            model, _layer_of(directions), todo["vectors"][rows], todo["seed"][rows], whitening=whitening,
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


def render_size(settings: dict, image_size: int) -> int:
    """Side in pixels the atlas patches are rendered at: ``render_size``, else the largest
    patch (at least 16 px, the render engine's smallest sensible image)."""
    if settings.get("render_size"):
        return int(settings["render_size"])
    return max(16, patch_pixels(max(settings["sizes"]), image_size))


def _layer_of(directions: str | Path) -> str:
    # atlas/{net}/{layer}/directions.npz
    return Path(directions).parent.name


def source_images(manifest: str | Path, classes: str | Path, name: str, max_images: int | None,
                  seed: int) -> tuple[list[str], list[str]]:
    """The test images of class ``name``, a seeded subset of at most ``max_images`` kept
    in manifest order: (paths as the manifest writes them, absolute paths)."""
    frame = read_manifest(manifest)
    names = read_classes(classes)
    if name not in names:
        raise ValueError(f"{name!r} is not a class of {classes}")
    part = frame[frame["label"] == names.index(name)]
    if max_images is not None and len(part) > max_images:
        picks = np.random.default_rng(derive_seed(seed, "patch-images", name)).choice(len(part), max_images, replace=False)
        part = part.iloc[np.sort(picks)]
    return [str(p) for p in part["path"]], [str(p) for p in part["abspath"]]


def baseline_patches(
    train_manifest: str | Path, classes: str | Path, *, source: str, target: str, sizes: Sequence[float],
    draws: int, image_size: int, crop_fraction: float, seed: int,
) -> list[dict]:
    """The baseline patches at every size: ``draws`` uniform-noise patches and ``draws``
    squares cut from random training images not of the target class. Each item: kind,
    patch (``draw{j}``), size, pixels, tensor (3, p, p), origin (what it was cut from)."""
    frame = read_manifest(train_manifest)
    target_label = read_classes(classes).index(target)
    out = []
    for j in range(draws):
        k = pick_crop_image(frame["label"].to_numpy(), target_label, baseline_seed(seed, "image", source, target, j))
        picture = load_images([frame["abspath"].iloc[k]], image_size, crop_fraction)[0]
        for size in sizes:
            p = patch_pixels(size, image_size)
            noise = noise_patch(p, baseline_seed(seed, "noise", source, target, j, f"{size:g}"))
            out.append({"kind": "noise", "patch": f"draw{j}", "size": size, "pixels": p, "tensor": noise,
                        "origin": "uniform noise in [0, 1]"})
            crop, (top, left) = crop_patch(picture, p, baseline_seed(seed, "image", source, target, j, f"{size:g}"))
            out.append({"kind": "image", "patch": f"draw{j}", "size": size, "pixels": p, "tensor": crop,
                        "origin": f"{frame['path'].iloc[k]} at (top {top}, left {left})"})
    return out


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
    included; see :func:`flip_summary`), the headline numbers (``summary.json``), the
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


# Figures ------------------------------------------------------------------------------

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


# Across networks ----------------------------------------------------------------------

OVERVIEW_COLUMNS = ["network", "layer", "source", "target", "source_images", "correct_before", "kind", "size",
                    "patches", "flip_target_rate", "flip_target_max", "flip_other_rate", "mean_delta_target"]


def overview_table(summaries: Sequence[dict], networks: Sequence[str]) -> pd.DataFrame:
    """Every tested (network, direction) in one long table: one row per kind and patch
    size, best corner per image (the ``by_kind`` numbers of each ``summary.json``).

    summaries: the parsed summary.json files; networks: their order (base first).
    flip_target_rate: mean over a kind's patches (atlas patches or baseline draws) of
    the flip rate to the target; flip_target_max: its best patch. Rates are shares of
    ``correct_before`` images, in [0, 1].
    """
    rank = {net: i for i, net in enumerate(networks)}
    rows = []
    for s in sorted(summaries, key=lambda s: (rank.get(s["network"], len(rank)), s["source"], s["target"])):
        for kind in KINDS:
            for size, v in sorted(s["by_kind"].get(kind, {}).items(), key=lambda kv: float(kv[0])):
                rows.append({**{k: s[k] for k in ("network", "layer", "source", "target", "source_images",
                                                   "correct_before")},
                             "kind": kind, "size": float(size), **v})
    return pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)


def atlas_margin(table: pd.DataFrame) -> pd.DataFrame:
    """Per (network, source, target, size): the best atlas patch's flip rate to the
    target minus the best baseline draw's (noise or image crop). > 0: some atlas patch
    beat every baseline draw at that size."""
    keys = ["network", "source", "target", "size"]
    wide = table.pivot_table(index=keys, columns="kind", values="flip_target_max", sort=False)
    baselines = [k for k in KINDS if k != "atlas" and k in wide.columns]
    out = pd.DataFrame({
        "atlas_best": wide["atlas"] if "atlas" in wide.columns else np.nan,
        "baseline_best": wide[baselines].max(axis=1) if baselines else np.nan,
    })
    out["margin"] = out["atlas_best"] - out["baseline_best"]
    return out.reset_index()


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


def overview_stage(summary_jsons: Sequence[str | Path], *, networks: Sequence[str], out_table: str | Path,
                   out_margin: str | Path, out_figure: Sequence[str | Path]) -> pd.DataFrame:
    """Rule ``patches_overview``: :func:`overview_table` (CSV), :func:`atlas_margin` (CSV)
    and :func:`overview_figure` from every (network, direction)'s summary.json."""
    import json

    table = overview_table([json.loads(Path(p).read_text()) for p in summary_jsons], networks)
    write_csv(out_table, table)
    write_csv(out_margin, atlas_margin(table))
    overview_figure(table, networks, out_figure)
    log.info("%d (network, direction) experiments in the overview", len(table.drop_duplicates(
        ["network", "source", "target"])))
    return table
