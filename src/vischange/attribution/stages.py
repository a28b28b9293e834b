"""The attribution stages of the workflow, one function per rule.

* :func:`task_head` (rule ``task_head``): the head that decides the fine-tuning task for a
  network (its own, or a linear probe) and its predictions on every split.
* :func:`views` (rule ``attribution``): filters, feature maps, saliency and Grad-CAM, the
  embedding and the confusion matrix of the test split (tables and :mod:`.figures`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .. import models
from ..activations import head_input, image_activations, manifest_activations, manifest_loader
from ..datasets import read_classes, read_manifest
from ..heads import fit_probe, head_probs, load_task_model, prediction_table, save_head
from ..metrics import confusion
from ..runtime import write_csv, write_json, write_npz
from .embedding import umap_embedding
from .figures import draw_attributions, draw_confusion, draw_embedding, draw_feature_maps, draw_filters
from .filters import filter_grid, first_conv_weights
from .methods import attribute, pick_images

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
