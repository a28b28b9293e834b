"""The classic views of what a classifier looks at, for one network on the fine-tuning task.

* Task head (:func:`task_head`): the classifier whose decisions the views explain. The
  fine-tuned network has its own head for the fine-tuning task. The base network's head
  predicts the *base* task's classes, so for it a linear probe is fitted on its frozen
  penultimate features (multinomial logistic regression on the standardized pooled
  features of the training split, sklearn, deterministic), and folded into one
  ``nn.Linear``: the base network's best linear reading of the new task, so both networks
  are judged on the same classes.
* Attributions (Captum): saliency (the absolute input gradient of the class logit,
  maximum over colour channels) and Grad-CAM at a layer (ReLU of the gradient-weighted
  sum of its maps), for the predicted and the true class (:func:`attribute`).
* First-layer filter weights (:func:`filter_grid`), feature maps of one image at chosen
  layers, the confusion matrix, and a decision-boundary view: a 2-D UMAP of the
  penultimate features of the test set, coloured by true class, misclassified images
  marked, shaded by the network's prediction of the nearest test images (:func:`embedding`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from . import models
from .activations import head_input, image_activations, manifest_activations, manifest_loader
from .datasets import read_classes, read_manifest
from .heads import TaskModel, fit_probe, head_probs, load_task_model, prediction_table, save_head
from .metrics import confusion
from .runtime import derive_seed, write_csv, write_json, write_npz

log = logging.getLogger(__name__)


# --- the task head --------------------------------------------------------------------


def task_head(
    model_path: str | Path,
    *,
    kind: str,
    manifests: Mapping[str, str | Path],
    classes_txt: str | Path,
    image_size: int,
    crop_fraction: float,
    probe_c: float,
    seed: int,
    device: torch.device,
    out_head: str | Path,
    out_scores: str | Path,
    out_predictions: str | Path,
    out_summary: str | Path,
    workers: int = 0,
) -> dict:
    """The head that decides the fine-tuning task for this network, and its predictions.

    kind: "own" (the network's classifier; it must have one output per class) or "probe"
    (:func:`vischange.heads.fit_probe` on the training split's penultimate features).
    out_head: torch file {kind, weight (K, D), bias (K,), class_names}.
    out_scores: .npz with `{split}_features` (N, D) penultimate features and `{split}_probs` (N, K).
    out_predictions: split, index, path, label, predicted, correct, prob_true, prob_predicted.
    out_summary: JSON with the head's kind, accuracy per split and probe settings.
    """
    model, normalize, meta = models.load_network(model_path, device)
    names = read_classes(classes_txt)
    features, labels, paths = {}, {}, {}
    for split, manifest in manifests.items():
        # The head's input only: the forward pass stops before the classifier.
        features[split], labels[split] = manifest_activations(
            model, head_input(model), manifest, image_size=image_size, crop_fraction=crop_fraction,
            normalize=normalize, device=device, reduce="none", workers=workers, desc=f"features {split}")
        paths[split] = read_manifest(manifest)["path"].tolist()
    if kind == "own":
        if meta["num_classes"] != len(names):
            raise ValueError(f"{model_path}: its head has {meta['num_classes']} outputs, the task {len(names)} classes")
        head = models.get_module(model, models.classifier_name(model))
    elif kind == "probe":
        head = fit_probe(features["train"], labels["train"], len(names), probe_c, seed)
    else:
        raise ValueError(f"head kind must be own or probe, got {kind!r}")
    weight, bias = head.weight.detach().float().cpu(), head.bias.detach().float().cpu()
    save_head(out_head, kind=kind, weight=weight, bias=bias, class_names=names)
    arrays, rows, summary = {}, [], {"kind": kind, "classes": len(names), "accuracy": {}}
    if kind == "probe":
        summary["probe"] = {"model": "multinomial logistic regression on standardized penultimate features",
                            "fitted_on": "train", "C": probe_c, "features": int(weight.shape[1])}
    for split in manifests:
        probs = head_probs(features[split], weight, bias)
        arrays[f"{split}_features"] = features[split].astype(np.float32)
        arrays[f"{split}_probs"] = probs.astype(np.float32)
        table = prediction_table(paths[split], labels[split], probs)
        summary["accuracy"][split] = float(table["correct"].mean())
        rows.append(table.assign(split=split)[["split", *table.columns]])
    write_npz(out_scores, arrays, compressed=True)
    write_csv(out_predictions, pd.concat(rows, ignore_index=True))
    write_json(out_summary, summary)
    log.info("task head (%s): accuracy %s", kind, summary["accuracy"])
    return summary


# --- attributions ---------------------------------------------------------------------


def saliency(task: nn.Module, images: Tensor, targets: Sequence[int]) -> Tensor:
    """Captum Saliency: |d logit_target / d pixel|, maximum over RGB: images (N, 3, H, W) -> (N, H, W) >= 0."""
    from captum.attr import Saliency

    x = images.clone().requires_grad_(True)
    attr = Saliency(task).attribute(x, target=[int(t) for t in targets], abs=True)
    return attr.detach().amax(1).cpu()


def grad_cam(task: TaskModel, layer: str, images: Tensor, targets: Sequence[int]) -> Tensor:
    """Captum LayerGradCam at `layer` (a module of the network), upsampled bilinearly to the image.

    images (N, 3, H, W) -> (N, H, W) >= 0 (the ReLU of the gradient-weighted map sum).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    module = models.get_module(task.net, layer)
    x = images.clone().requires_grad_(True)
    # Captum hooks the layer itself (it needs the layer's gradient), not through vischange.activations.
    cam = LayerGradCam(task, module).attribute(x, target=[int(t) for t in targets], relu_attributions=True)
    cam = LayerAttribution.interpolate(cam.detach(), tuple(images.shape[-2:]), interpolate_mode="bilinear")
    return cam[:, 0].clamp_min(0).cpu()


def attribute(task: TaskModel, layer: str, images: Tensor, labels: Sequence[int]) -> dict[str, Tensor]:
    """Saliency of the predicted class, Grad-CAM of the predicted and of the true class.

    Returns {"predicted": (N,) long, "saliency": (N, H, W), "gradcam_predicted": (N, H, W),
    "gradcam_true": (N, H, W)}, every map >= 0.
    """
    with torch.no_grad():
        predicted = task(images).argmax(1).cpu()
    return {
        "predicted": predicted,
        "saliency": saliency(task, images, predicted.tolist()),
        "gradcam_predicted": grad_cam(task, layer, images, predicted.tolist()),
        "gradcam_true": grad_cam(task, layer, images, list(labels)),
    }


def pick_images(predictions: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Up to n test rows: up to half misclassified, the rest correct, each drawn with a seeded generator; sorted."""
    rng = np.random.default_rng(derive_seed(seed, "attribution-images"))
    wrong = predictions.index[~predictions["correct"].astype(bool)].to_numpy()
    right = predictions.index[predictions["correct"].astype(bool)].to_numpy()
    n_wrong = min(len(wrong), n // 2)
    n_right = min(len(right), n - n_wrong)
    n_wrong = min(len(wrong), n - n_right)
    picks = np.concatenate([rng.choice(wrong, n_wrong, replace=False), rng.choice(right, n_right, replace=False)])
    return np.sort(picks.astype(int))


def first_conv_weights(model: nn.Module) -> tuple[str, Tensor]:
    """(name, weight (C_out, 3, k, k)) of the first Conv2d that sees the image."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module.weight.detach().float().cpu()
    raise ValueError("model has no Conv2d")


def filter_grid(weights: Tensor) -> np.ndarray:
    """Filters (C_out, 3, k, k) as RGB tiles (C_out, k, k, 3) in [0, 1].

    One symmetric scale for all filters (0.5 is a zero weight; the largest |weight|
    reaches 0 or 1), so filters compare in strength as well as in pattern.
    """
    w = weights.detach().float().cpu().numpy()
    scale = np.abs(w).max() or 1.0
    return np.clip(0.5 + 0.5 * w / scale, 0, 1).transpose(0, 2, 3, 1)


# --- embedding, decision regions, confusion ------------------------------------------


def umap_embedding(features: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """2-D UMAP of features (N, D) -> (N, 2) float64 (seeded: single-threaded, reproducible)."""
    import umap

    n = len(features)
    if n < 3:
        raise ValueError("a UMAP needs at least 3 images")
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist,
                        random_state=seed % 2**31, n_jobs=1, init="spectral" if n > 10 else "random")
    return reducer.fit_transform(np.asarray(features, dtype=np.float32)).astype(np.float64)


def decision_regions(xy: np.ndarray, predicted: np.ndarray, grid: int = 200, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's predicted class around the embedded images: a k-nearest-neighbour vote.

    A UMAP cannot be inverted exactly, so the map is shaded by the predictions of the k
    nearest embedded test images (ties to the nearest). Returns (xs (grid,), ys (grid,),
    classes (grid, grid)).
    """
    from sklearn.neighbors import KNeighborsClassifier

    pad = 0.05 * (xy.max(0) - xy.min(0) + 1e-9)
    lo, hi = xy.min(0) - pad, xy.max(0) + pad
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    knn = KNeighborsClassifier(n_neighbors=min(k, len(xy)), weights="distance").fit(xy, predicted)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, knn.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(grid, grid)


# --- the job: every view for one network ----------------------------------------------


def views(
    model_path: str | Path,
    head_path: str | Path,
    *,
    test_manifest: str | Path,
    scores: str | Path,
    predictions: str | Path,
    net: str,
    layer: str,
    layers: Sequence[str],
    maps: int,
    image: int,
    n_images: int,
    umap_settings: Mapping,
    image_size: int,
    crop_fraction: float,
    seed: int,
    device: torch.device,
    out: Mapping[str, object],
) -> None:
    """Attributions, embedding and confusion of the test split, tables and figures.

    out: tables `attributions`, `embedding`, `confusion` (CSV paths) and figures
    `weights`, `feature_maps`, `saliency`, `embedding_figure`, `confusion_figure`
    (each a [png, pdf] pair).
    attributions.csv: index, path, label, predicted, correct, and per map (saliency,
    gradcam_predicted, gradcam_true) its max and the share of its mass in the brightest
    10% of pixels (how concentrated it is).
    embedding.csv: index, path, label, predicted, correct, x, y (UMAP of penultimate features).
    confusion.csv: see :func:`vischange.metrics.confusion`.
    """
    task, meta = load_task_model(model_path, head_path, device)
    names = meta["class_names"]
    pred = pd.read_csv(predictions)
    test = pred[pred["split"] == "test"].reset_index(drop=True)
    dataset, _ = manifest_loader(test_manifest, image_size, crop_fraction)
    if not 0 <= image < len(dataset):
        raise ValueError(f"config key attribution.image: {image} is out of range for the {len(dataset)} test images")
    title = f"{net} network ({'linear probe on its features' if meta['head'] == 'probe' else 'its own head'})"

    # First-layer filters.
    conv_name, weights = first_conv_weights(task.net)
    draw_filters(filter_grid(weights), f"{title}: {conv_name} filters {tuple(weights.shape)}", out["weights"])

    # Feature maps of one image at the chosen layers: the `maps` most active channels of each.
    picture = dataset[image][0]
    rows = []
    for name in layers:
        fmap = image_activations(task.net, name, picture[None], normalize=task.normalize, device=device)[0]
        order = torch.argsort(fmap.mean((1, 2)), descending=True, stable=True)[:maps]
        rows.append((name, [(int(c), fmap[c].numpy()) for c in order]))
    label = int(test.loc[image, "label"])
    draw_feature_maps(picture, rows, f"{title}: test image {image} ({names[label]}), most active maps per layer",
                      out["feature_maps"])

    # Saliency and Grad-CAM of chosen test images.
    picks = pick_images(test, n_images, seed)
    images = torch.stack([dataset[int(i)][0] for i in picks]).to(device)
    found = attribute(task, layer, images, test.loc[picks, "label"].tolist())
    table = test.loc[picks, ["index", "path", "label", "predicted", "correct"]].reset_index(drop=True)
    if (found["predicted"].numpy() != table["predicted"].to_numpy()).any():
        log.warning("the task model's predictions differ from predictions.csv on some images (numerics)")
    for key in ("saliency", "gradcam_predicted", "gradcam_true"):
        flat = found[key].flatten(1).double()
        table[f"{key}_max"] = flat.max(1).values.numpy()
        top = flat.sort(1, descending=True).values[:, : max(1, flat.shape[1] // 10)].sum(1)
        table[f"{key}_top10_share"] = (top / flat.sum(1).clamp_min(1e-12)).numpy()
    write_csv(out["attributions"], table)
    draw_attributions(images.cpu(), table, found, names, layer, title, out["saliency"])

    # Decision-boundary view and confusion matrix.
    features = np.load(scores)["test_features"]
    xy = umap_embedding(features, umap_settings["n_neighbors"], umap_settings["min_dist"], seed)
    emb = test[["index", "path", "label", "predicted", "correct"]].copy()
    emb["x"], emb["y"] = xy[:, 0], xy[:, 1]
    write_csv(out["embedding"], emb)
    draw_embedding(emb, names, f"{title}: UMAP of penultimate features, test split", out["embedding_figure"])
    conf = confusion(test["label"].to_numpy(), test["predicted"].to_numpy(), names)
    write_csv(out["confusion"], conf)
    accuracy = float(test["correct"].mean())
    draw_confusion(conf, names, f"{title}: confusion on the test split (accuracy {accuracy:.3f})", out["confusion_figure"])


# --- figures --------------------------------------------------------------------------


def _grid_shape(n: int, max_cols: int = 16) -> tuple[int, int]:
    cols = min(max_cols, max(1, int(np.ceil(np.sqrt(n)))))
    return int(np.ceil(n / cols)), cols


def draw_filters(tiles: np.ndarray, title: str, out) -> None:
    """Filter tiles (C, k, k, 3) as a grid."""
    from . import plots

    rows, cols = _grid_shape(len(tiles))
    fig, axes = plots.plt.subplots(rows, cols, figsize=(0.55 * cols + 0.5, 0.55 * rows + 0.7), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(tiles):
            ax.imshow(tiles[i], interpolation="nearest")
    fig.suptitle(title + "\n(0.5 gray = zero weight, one scale for all)", fontsize=8)
    plots.save(fig, out)


def draw_feature_maps(image: Tensor, rows: Sequence[tuple[str, list]], title: str, out) -> None:
    """The image, then per layer its maps (each scaled to its own maximum), channel and mean in the title."""
    from . import plots

    cols = 1 + max(len(items) for _, items in rows)
    fig, axes = plots.plt.subplots(len(rows), cols, figsize=(1.1 * cols, 1.25 * len(rows) + 0.5), squeeze=False)
    for r, (name, items) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.imshow(image.permute(1, 2, 0).numpy())
                ax.set_ylabel(name, fontsize=7)
            elif c - 1 < len(items):
                channel, fmap = items[c - 1]
                ax.imshow(fmap, cmap="magma", vmin=0, vmax=max(float(fmap.max()), 1e-9))
                ax.set_title(f"c{channel} {fmap.mean():.2g}", fontsize=6)
            else:
                ax.axis("off")
    fig.suptitle(title, fontsize=8)
    plots.save(fig, out)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """image (H, W, 3) in [0, 1] blended with a jet colouring of heat (H, W) scaled to its max: -> (H, W, 3) in [0, 1]."""
    from matplotlib import colormaps

    scale = float(heat.max()) if heat.max() > 0 else 1.0
    coloured = colormaps["jet"](np.clip(heat / scale, 0, 1))[..., :3]
    return np.clip((1 - alpha) * image + alpha * coloured, 0, 1)


def draw_attributions(images: Tensor, table: pd.DataFrame, found: Mapping[str, Tensor], names, layer: str, title: str, out) -> None:
    """Per image: the image, saliency (predicted class), Grad-CAM of the predicted and of the true class."""
    from . import plots

    n = len(table)
    headers = ["image", "saliency (predicted)", f"Grad-CAM {layer} (predicted)", f"Grad-CAM {layer} (true)"]
    fig, axes = plots.plt.subplots(n, 4, figsize=(6.4, 1.65 * n + 0.6), squeeze=False)
    for i in range(n):
        picture = images[i].permute(1, 2, 0).numpy()
        row = table.iloc[i]
        panels = [
            picture,
            found["saliency"][i].numpy(),
            heat_overlay(picture, found["gradcam_predicted"][i].numpy()),
            heat_overlay(picture, found["gradcam_true"][i].numpy()),
        ]
        for j, (ax, panel) in enumerate(zip(axes[i], panels)):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(panel, cmap="gray" if j == 1 else None)
            if i == 0:
                ax.set_title(headers[j], fontsize=6.5)
        mark = "" if row["correct"] else "  WRONG"
        axes[i, 0].set_ylabel(f"#{int(row['index'])}\ntrue {names[int(row['label'])]}\npred {names[int(row['predicted'])]}{mark}",
                              fontsize=6, color="black" if row["correct"] else "tab:red")
    fig.suptitle(title, fontsize=8)
    plots.save(fig, out)


def draw_embedding(emb: pd.DataFrame, names: Sequence[str], title: str, out) -> None:
    """UMAP points coloured by true class, misclassified ones crossed; background: the network's predicted class nearby."""
    from matplotlib.colors import ListedColormap

    from . import plots

    xy = emb[["x", "y"]].to_numpy()
    colours = plots.class_colours(len(names))
    fig, ax = plots.plt.subplots(figsize=(6.2, 4.8))
    xs, ys, regions = decision_regions(xy, emb["predicted"].to_numpy())
    ax.pcolormesh(xs, ys, regions, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(names) - 0.5, alpha=0.18, shading="auto")
    right = emb["correct"].astype(bool).to_numpy()
    for k, name in enumerate(names):
        part = (emb["label"].to_numpy() == k)
        ax.scatter(xy[part & right, 0], xy[part & right, 1], s=12, color=colours[k], label=name if len(names) <= 20 else None)
        ax.scatter(xy[part & ~right, 0], xy[part & ~right, 1], s=40, color=colours[k], marker="X", edgecolors="black", linewidths=0.6)
    ax.scatter([], [], s=40, color="white", marker="X", edgecolors="black", label="misclassified")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title + f"\nshading: the network's prediction of the nearest test images; {int((~right).sum())} of {len(emb)} misclassified",
                 fontsize=8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plots.save(fig, out)


def draw_confusion(conf: pd.DataFrame, names: Sequence[str], title: str, out) -> None:
    """Row-normalized confusion matrix; counts written in the cells for up to 20 classes."""
    from . import plots

    k = len(names)
    side = min(14.0, 2.0 + 0.45 * k)
    fig, ax = plots.plt.subplots(figsize=(side + 1.0, side))
    shown = plots.confusion_axes(ax, conf, names, title)
    fig.colorbar(shown, ax=ax, fraction=0.046, label="fraction of the true class")
    plots.save(fig, out)


