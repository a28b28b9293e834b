"""The domain-shift stages of the workflow, one function per rule.

* :func:`synthetic_target` (rule ``target_data``, synthetic source): the demo's target domain.
* :func:`scan` (rule ``domain_scan``): top-map-layer activations and the task head's
  decisions on the target domain.
* :func:`summarize` (rule ``domain_summary``): source against target for one network,
  tables and figures.
* :func:`compare` (rule ``domain_compare``): both networks side by side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from .. import models
from ..activations import head_input, manifest_activations, manifest_loader
from ..class_maps import class_sums, draw_sums, shown_classes, sums_table
from ..datasets import read_classes, read_manifest
from ..heads import head_probs, load_head, prediction_table
from ..metrics import accuracy_table, confusion
from ..runtime import write_csv, write_npz
from .figures import draw_compare, draw_confusions, draw_detector, draw_overlays
from .shift import DOMAINS, cross_domain_detector, overlays

log = logging.getLogger(__name__)


# --- the target domain's data ---------------------------------------------------------


def synthetic_target(out_csv: str | Path, *, task: str, per_class: int, image_size: int, seed: int, style: str,
                     classes_txt: str | Path) -> pd.DataFrame:
    """The demo's target domain: the fine-tuning task's test split redrawn in another style.

    Image i shows the same scene as test image i (same random stream, split "test"), in
    `style`; labels are the generator's, so they are exact. Images go to
    ``{out_csv without .csv}/images/test/<class>/*.png``, and out_csv (path,label) holds
    paths relative to its folder, like every manifest.
    """
    from ..datasets import synthetic

    if style == "default":
        raise ValueError("config key domain.style: 'default' is the source domain's own style; choose a shifted one")
    names = read_classes(classes_txt)
    if names != synthetic.class_names(task):
        raise ValueError(f"{classes_txt} does not hold the classes of the synthetic task {task!r}")
    out_csv = Path(out_csv)
    folder = out_csv.with_suffix("")
    frame = synthetic.write_split(folder, task, "test", per_class, image_size, seed, style=style)
    frame["path"] = [f"{folder.name}/{p}" for p in frame["path"]]
    write_csv(out_csv, frame)
    log.info("target domain (%s style): %d images", style, len(frame))
    return frame


# --- the network on the target domain -------------------------------------------------


def scan(model_path: str | Path, head_path: str | Path, *, manifest: str | Path, classes_txt: str | Path, layer: str,
         image_size: int, crop_fraction: float, device: torch.device, out_scores: str | Path,
         out_predictions: str | Path, workers: int = 0) -> pd.DataFrame:
    """Top-map-layer activations and the task head's decisions on the target domain.

    The same computations as the source's (spatial means of `layer` as in the topmaps scan,
    the classifier head's input as in the task head job, with the saved task head), on
    another manifest, in one forward pass per batch.
    out_scores: .npz with `acts` (N, C) spatial means of `layer`, `labels` (N,), `probs` (N, K).
    out_predictions: index, path, label, predicted, correct, prob_true, prob_predicted.
    """
    model, normalize, meta = models.load_network(model_path, device)
    names = read_classes(classes_txt)
    head = load_head(head_path, class_names=names)
    frame = read_manifest(manifest)
    if frame["label"].max() >= len(names):
        raise ValueError(f"{manifest}: labels beyond the task's {len(names)} classes")
    paths = frame["path"].tolist()
    features_key = head_input(model)
    found, labels = manifest_activations(
        model, [layer, features_key], manifest, image_size=image_size, crop_fraction=crop_fraction,
        normalize=normalize, device=device, reduce={layer: "mean"}, workers=workers, desc=f"target {layer}")
    acts, features = found[layer], found[features_key]
    probs = head_probs(features, head["weight"], head["bias"])
    write_npz(out_scores, {"acts": acts.astype(np.float32), "labels": labels, "probs": probs.astype(np.float32)},
              compressed=True)
    predictions = prediction_table(paths, labels, probs)
    write_csv(out_predictions, predictions)
    log.info("target domain: %d images, accuracy %.3f", len(labels), predictions["correct"].mean())
    return predictions


# --- the summary job: tables and figures for one network -----------------------------


def summarize(
    model_path: str | Path,
    *,
    net: str,
    layer: str,
    source_manifests: Mapping[str, str | Path],
    target_manifest: str | Path,
    classes_txt: str | Path,
    source_activations: str | Path,
    top_maps: str | Path,
    source_predictions: str | Path,
    source_scores: str | Path,
    target_scores: str | Path,
    target_predictions: str | Path,
    settings: Mapping,
    topmap_settings: Mapping,
    image_size: int,
    crop_fraction: float,
    seed: int,
    device: torch.device,
    out: Mapping[str, object],
) -> pd.DataFrame:
    """Accuracy, confusion, detector-versus-classifier table, class sums and overlays, source vs target.

    source_manifests: {"val": ..., "test": ...}; the source's activations, predictions and
    probabilities come from the topmaps and task-head jobs, the target's from :func:`scan`.
    Tables: out["accuracy"] (:func:`vischange.metrics.accuracy_table`), out["confusion_source"],
    out["confusion_target"] (:func:`vischange.metrics.confusion`), out["detector"]
    (:func:`.shift.cross_domain_detector`), out["sums"] (target domain: :func:`vischange.class_maps.sums_table`),
    out["overlays"] (:func:`.shift.overlays`). Figures ([png, pdf] each): confusion_figure,
    detector_figure, sums_figure, overlays_figure.
    """
    names = read_classes(classes_txt)
    k = len(names)
    acts = np.load(source_activations)
    tops = pd.read_csv(top_maps)
    top = {c: tops.loc[tops["label"] == c, "map"].astype(int).tolist() for c in range(k)}
    n_maps = [len(top[c]) for c in range(k)]
    target = np.load(target_scores)
    pred = pd.read_csv(source_predictions)
    source_test = pred[pred["split"] == "test"].reset_index(drop=True)
    source_probs = np.load(source_scores)["test_probs"]
    target_pred = pd.read_csv(target_predictions)
    if len(source_test) != len(acts["test_labels"]) or (source_test["label"].to_numpy() != acts["test_labels"]).any():
        raise ValueError("the source test split's predictions and top-map activations disagree")
    if (target_pred["label"].to_numpy() != target["labels"]).any():
        raise ValueError("the target domain's predictions and activations disagree")

    labels = {"source": acts["test_labels"], "target": target["labels"]}
    predicted = {"source": source_test["predicted"].to_numpy(), "target": target_pred["predicted"].to_numpy()}
    accuracy = accuracy_table(labels, predicted)
    write_csv(out["accuracy"], accuracy)
    confusions = {d: confusion(labels[d], predicted[d], names) for d in DOMAINS}
    write_csv(out["confusion_source"], confusions["source"])
    write_csv(out["confusion_target"], confusions["target"])

    sums = {"val": class_sums(acts["val_acts"], top), "source": class_sums(acts["test_acts"], top),
            "target": class_sums(target["acts"], top)}
    detector = cross_domain_detector(
        sums["val"], acts["val_labels"],
        {"source": {"sums": sums["source"], "labels": labels["source"], "probs": source_probs},
         "target": {"sums": sums["target"], "labels": labels["target"], "probs": target["probs"]}},
        names, n_maps,
    )
    write_csv(out["detector"], detector)
    target_paths = read_manifest(target_manifest)["path"].tolist()
    write_csv(out["sums"], sums_table(target_paths, labels["target"], sums["target"], "target", names))

    shown = shown_classes(names, topmap_settings.get("classes"), topmap_settings["max_classes"])
    head = "linear probe" if net == "base" else "its own head"
    title = f"{net} network ({head}), {layer}"
    acc = dict(zip(accuracy["domain"], accuracy["accuracy"]))
    draw_confusions(confusions, names, [f"source: test split, accuracy {acc['source']:.3f}",
                                        f"target: shifted domain, accuracy {acc['target']:.3f}"],
                    f"{title}: confusion matrices", out["confusion_figure"])
    draw_detector(detector, f"{title}, top maps chosen on the source", out["detector_figure"])
    target_view = detector.rename(columns={"target_auc": "test_auc"})
    draw_sums(sums["target"], labels["target"], target_view, names, shown,
                      f"{title}, target domain", out["sums_figure"], images="target-domain image", auc_label="target AUC")

    model, normalize, meta = models.load_network(model_path, device)
    datasets = {"source": manifest_loader(source_manifests["test"], image_size, crop_fraction)[0],
                "target": manifest_loader(target_manifest, image_size, crop_fraction)[0]}
    table, panels = overlays(model, layer, normalize, device, datasets, labels, top, shown, names,
                             int(settings["overlay_images"]), seed)
    write_csv(out["overlays"], table)
    draw_overlays(panels, names, f"{title}: each class's first top map (chosen on the source)", out["overlays_figure"])
    log.info("%s: accuracy %s; median detector AUC source %.3f, target %.3f", net, acc,
             np.nanmedian(detector["source_auc"]) if detector["source_auc"].notna().any() else np.nan,
             np.nanmedian(detector["target_auc"]) if detector["target_auc"].notna().any() else np.nan)
    return detector


# --- both networks --------------------------------------------------------------------


def compare(detectors: Mapping[str, str | Path], accuracies: Mapping[str, str | Path], out_table, out_summary, out_figure) -> pd.DataFrame:
    """Both networks side by side: does fine-tuning make the class maps more or less robust to the shift?

    out_table: net, label, class, n_maps, and per domain the classifier's recall and AUC and
    the detector's AUC, with the change from source to target (target - source).
    out_summary: net, domain, accuracy, mean classifier recall, median classifier AUC,
    median detector AUC (over classes that kept a top map), classes_with_maps.
    out_figure: per network, source against target for classifier recall and detector AUC.
    """
    rows, summary = [], []
    for net, path in detectors.items():
        det = pd.read_csv(path)
        acc = pd.read_csv(accuracies[net]).set_index("domain")["accuracy"]
        table = det[["label", "class", "n_maps"]].copy()
        table.insert(0, "net", net)
        for d in DOMAINS:
            table[f"head_recall_{d}"] = det[f"head_{d}_recall"]
            table[f"head_auc_{d}"] = det[f"head_{d}_auc"]
            table[f"detector_auc_{d}"] = det[f"{d}_auc"]
        table["detector_precision_target"] = det["target_precision"]
        table["detector_recall_target"] = det["target_recall"]
        for what in ("head_recall", "head_auc", "detector_auc"):
            table[f"{what}_change"] = table[f"{what}_target"] - table[f"{what}_source"]
        rows.append(table)
        with_maps = det["n_maps"] > 0
        for d in DOMAINS:
            summary.append({
                "net": net, "domain": d, "accuracy": float(acc[d]),
                "mean_head_recall": float(det[f"head_{d}_recall"].mean()),
                "median_head_auc": float(det[f"head_{d}_auc"].median()),
                "median_detector_auc": float(det.loc[with_maps, f"{d}_auc"].median()) if with_maps.any() else np.nan,
                "median_head_auc_same_classes": float(det.loc[with_maps, f"head_{d}_auc"].median()) if with_maps.any() else np.nan,
                "classes_with_maps": int(with_maps.sum()),
            })
    table = pd.concat(rows, ignore_index=True)
    summary = pd.DataFrame(summary)
    write_csv(out_table, table)
    write_csv(out_summary, summary)
    draw_compare(table, summary, out_figure)
    return table
