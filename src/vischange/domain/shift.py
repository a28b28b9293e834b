"""Source against target domain: the top-map detector scored on each, and the class top maps on both.

:func:`cross_domain_detector` scores the summed class top maps and the classifier on each
domain with thresholds from the source validation split; :func:`overlays` shows each
class's first top map on images of its class in both domains.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..activations import image_activations
from ..class_maps import select_images
from ..metrics import one_vs_rest_table

DOMAINS = ("source", "target")



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


# --- a class's top map on both domains -------------------------------------------------


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
