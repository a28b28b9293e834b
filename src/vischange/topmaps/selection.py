"""Question 1: which maps are a class's own.

Each image's N1 most activated maps (:func:`image_top_maps`); each class's N2 maps most
often among its images' top N1, with the maps other classes list too marked as shared
(:func:`class_top_maps`); the kept, unshared ones (:func:`unique_top_maps`,
:func:`top_maps_table`). Pure functions of an (N, C) activation matrix and labels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


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
