"""Domain shift: do a class's top feature maps still find the object when accuracy collapses?

The feature-map article's fourth and fifth questions, asked across domains: the network
fine-tuned on one domain (the source: the fine-tuning task's own test split) is shown a
second test set of the same classes from another domain (the target: X-ray scans for a
model of web photos; in the demo the same test scenes rendered as gray radiographs by
:mod:`vischange.datasets.synthetic`'s ``xray`` style). For each network (base with its
linear probe, fine-tuned with its own head: the task head files the attribution stage
writes, read with :mod:`vischange.heads`):

* the classifier's accuracy, confusion matrix and per-class recall on both domains
  (:func:`vischange.metrics.accuracy_table`, :func:`vischange.metrics.confusion`);
* the class top maps the topmaps stage chose on the *source* training split (its
  top_maps.csv and activations.npz), summed (:mod:`vischange.class_maps`) into one-vs-rest detectors whose threshold is chosen on the *source* validation
  split, evaluated on the source test split and on the target domain, beside the
  classifier's own AUC, precision and recall there (:func:`cross_domain_detector`);
* one top map per class overlaid on images of its class in both domains, on one
  brightness scale per class (:func:`overlays`): does the map still fire on the object?

Nothing is refitted on the target domain: its labels are used only to score.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from . import models, plots
from .activations import head_input, image_activations, manifest_activations, manifest_loader
from .class_maps import class_sums, draw_sums, select_images, shown_classes, sums_table
from .datasets import read_classes, read_manifest
from .heads import head_probs, load_head, prediction_table
from .metrics import accuracy_table, confusion, one_vs_rest_table
from .runtime import write_csv, write_npz

log = logging.getLogger(__name__)

DOMAINS = ("source", "target")


# --- the target domain's data ---------------------------------------------------------


def synthetic_target(out_csv: str | Path, *, task: str, per_class: int, image_size: int, seed: int, style: str,
                     classes_txt: str | Path) -> pd.DataFrame:
    """The demo's target domain: the fine-tuning task's test split redrawn in another style.

    Image i shows the same scene as test image i (same random stream, split "test"), in
    `style`; labels are the generator's, so they are exact. Images go to
    ``{out_csv without .csv}/images/test/<class>/*.png``, and out_csv (path,label) holds
    paths relative to its folder, like every manifest.
    """
    from .datasets import synthetic

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


# --- the detector on each domain ------------------------------------------------------


def cross_domain_detector(
    val_sums: np.ndarray,
    val_labels: np.ndarray,
    domains: Mapping[str, Mapping[str, np.ndarray]],
    class_names: Sequence[str],
    n_maps: Sequence[int],
) -> pd.DataFrame:
    """Per class: the top-map detector and the classifier on each domain, threshold from source validation.

    val_sums (N, K), val_labels (N,): the *source* validation split, where each class's
    threshold is chosen (best F1; :func:`vischange.metrics.best_threshold`); it is never
    re-chosen on a domain being evaluated. domains: {name: {"sums" (N, K), "labels" (N,),
    "probs" (N, K)}}, e.g. {"source": test split, "target": target domain}.
    Columns: label, class, n_maps, threshold, val_f1, then per domain d:
    {d}_images (of the class), {d}_auc, {d}_precision, {d}_recall (detector at the
    threshold), {d}_mean_sum (mean summed activation over the class's images),
    head_{d}_auc, head_{d}_precision, head_{d}_recall (the classifier: AUC of its class
    probability, precision and recall of its argmax decision).
    """
    out = None
    for d, data in domains.items():
        labels = np.asarray(data["labels"])
        probs = np.asarray(data["probs"])
        table = one_vs_rest_table(val_sums, val_labels, data["sums"], labels, probs, probs.argmax(1),
                                       class_names, n_maps)
        table = table.rename(columns={"test_auc": f"{d}_auc", "test_precision": f"{d}_precision",
                                      "test_recall": f"{d}_recall", "head_auc": f"head_{d}_auc",
                                      "head_precision": f"head_{d}_precision", "head_recall": f"head_{d}_recall"})
        table.insert(5, f"{d}_images", [int(np.sum(labels == k)) for k in range(len(class_names))])
        sums = np.asarray(data["sums"], dtype=np.float64)
        means = [float(np.mean(sums[labels == k, k])) if n_maps[k] and np.any(labels == k) else np.nan
                 for k in range(len(class_names))]
        table.insert(9, f"{d}_mean_sum", means)
        out = table if out is None else out.merge(table.drop(columns=["class", "n_maps", "threshold", "val_f1"]), on="label")
    return out


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
    (:func:`cross_domain_detector`), out["sums"] (target domain: :func:`vischange.class_maps.sums_table`),
    out["overlays"] (:func:`overlays`). Figures ([png, pdf] each): confusion_figure,
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


def overlays(model, layer: str, normalize, device, datasets: Mapping, labels: Mapping[str, np.ndarray],
             top: Mapping[int, Sequence[int]], shown: Sequence[int], names: Sequence[str], n: int, seed: int):
    """Each shown class's first kept top map on up to n images of its class in each domain.

    Images are drawn with :func:`vischange.class_maps.select_images` (seeded by class), so
    when the target domain is a paired copy of the source test split (the demo) both rows
    show the same scenes. Returns (table: class, label, map, domain, index, path,
    activation (the map's spatial mean); panels: [(label, map, {domain: (images, maps, rows)})]).
    """
    rows, panels = [], []
    for k in shown:
        if not top[k]:
            continue
        the_map = int(top[k][0])
        by_domain = {}
        for d in DOMAINS:
            picks = select_images(labels[d], k, n, True, seed)
            if len(picks) == 0:
                by_domain[d] = (torch.zeros(0), torch.zeros(0), picks)
                continue
            images = torch.stack([datasets[d][int(i)][0] for i in picks])
            maps = image_activations(model, layer, images, normalize=normalize, device=device)[:, the_map]
            by_domain[d] = (images, maps, picks)
            for i, row in enumerate(picks):
                rows.append({"class": names[k], "label": k, "map": the_map, "domain": d, "index": int(row),
                             "path": datasets[d].frame["path"].iloc[int(row)], "activation": float(maps[i].mean())})
        panels.append((k, the_map, by_domain))
    table = pd.DataFrame(rows, columns=["class", "label", "map", "domain", "index", "path", "activation"])
    return table, panels


# --- figures --------------------------------------------------------------------------


def draw_confusions(confusions: Mapping[str, pd.DataFrame], names: Sequence[str], titles: Sequence[str], suptitle: str, out) -> None:
    """The source and the target confusion matrices side by side (row-normalized, one colour scale)."""
    side = min(12.0, 2.2 + 0.42 * len(names))
    fig, axes = plots.plt.subplots(1, len(confusions), figsize=(2 * side + 1.5, side), squeeze=False)
    shown = None
    for ax, (d, conf), title in zip(axes[0], confusions.items(), titles):
        shown = plots.confusion_axes(ax, conf, names, title)
    fig.colorbar(shown, ax=list(axes[0]), fraction=0.025, label="fraction of the true class")
    fig.suptitle(suptitle, fontsize=9)
    plots.save(fig, out)


def draw_detector(detector: pd.DataFrame, title: str, out) -> None:
    """Per class, on the target domain (filled) and the source test split (hollow, faint): the top-map
    detector's ROC AUC, precision and recall (threshold from source validation) beside the classifier's."""
    x = np.arange(len(detector))
    fig, panels = plots.detector_grid(list(detector["class"]), 3.6)
    axes = [ax for ax, _ in panels]
    for ax, metric in panels:
        ax.plot(x - 0.12, detector[f"source_{metric}"], "o", color="tab:green", ms=4, mfc="none", alpha=0.5,
                label="top maps, source")
        ax.plot(x - 0.12, detector[f"head_source_{metric}"], "s", color="tab:blue", ms=3.5, mfc="none", alpha=0.5,
                label="classifier, source")
        ax.plot(x + 0.12, detector[f"target_{metric}"], "o", color="tab:green", ms=4.5, label="top maps, target")
        ax.plot(x + 0.12, detector[f"head_target_{metric}"], "s", color="tab:blue", ms=4, label="classifier, target")
    axes[0].legend(fontsize=5.5, loc="lower left")
    fig.suptitle(f"{title}:\nsummed top maps as a one-vs-rest detector (threshold from source validation) "
                 "vs the classifier, source test split and target domain", fontsize=8)
    plots.save(fig, out)


def draw_overlays(panels, names: Sequence[str], title: str, out) -> None:
    """Per class two rows, source images over target images, its top map overlaid (the seed's mask
    overlay) on one brightness scale per class, so a map that goes quiet on the target shows dark."""
    if not panels:
        plots.draw_message(f"{title}: no shown class kept a top map of its own", out)
        return
    cols = max(1, max(len(g[2]) for _, _, by in panels for g in by.values()))
    # Square image panels with a one-line title each: ~1.25 in per row, plus the suptitle.
    fig, axes = plots.plt.subplots(2 * len(panels), cols, figsize=(1.05 * cols + 1.2, 2.5 * len(panels) + 0.7),
                                   squeeze=False, layout="constrained")
    for r, (k, the_map, by_domain) in enumerate(panels):
        vmax = plots.overlay_vmax([m.numpy() for _, maps, _ in by_domain.values() for m in maps])
        for j, d in enumerate(DOMAINS):
            images, maps, picks = by_domain[d]
            for c in range(cols):
                ax = axes[2 * r + j, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c >= len(picks):
                    ax.axis("off")
                    continue
                ax.imshow(plots.mask_overlay(images[c], maps[c], vmax))
                ax.set_title(f"{float(maps[c].mean()):.3g}", fontsize=5.5)
            axes[2 * r + j, 0].set_ylabel(f"{names[k]}\nmap {the_map}\n{d}", fontsize=6)
    fig.suptitle(f"{title},\non images of its class: source (upper) and target domain (lower) rows, one brightness scale"
                 " per class;\nnumber: the map's mean activation", fontsize=7)
    plots.save(fig, out)


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


def draw_compare(table: pd.DataFrame, summary: pd.DataFrame, out) -> None:
    """Source (x) against target (y) per class: the classifier's recall and AUC, the detector's AUC; one colour per network."""
    colours = {"base": "tab:orange", "finetuned": "tab:purple"}
    fig, axes = plots.plt.subplots(1, 3, figsize=(10.5, 3.6))
    for ax, (what, label) in zip(axes, (("head_recall", "classifier recall"), ("head_auc", "classifier ROC AUC"),
                                        ("detector_auc", "top-map detector ROC AUC"))):
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="--")
        for net, part in table.groupby("net", sort=False):
            acc = summary[(summary["net"] == net)].set_index("domain")["accuracy"]
            ax.scatter(part[f"{what}_source"], part[f"{what}_target"], s=18, color=colours.get(net, "0.3"),
                       label=f"{net} (accuracy {acc['source']:.2f} -> {acc['target']:.2f})")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_xlabel("source test split", fontsize=7)
        ax.set_ylabel("target domain", fontsize=7)
        ax.set_title(f"{label}, per class", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, loc="upper left")
    fig.suptitle("Domain shift: per class, source against target (below the diagonal: worse on the target)", fontsize=9)
    plots.save(fig, out)
