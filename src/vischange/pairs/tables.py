"""The pairwise tables: every pair's per-layer change, render-based and render-free, in
one table, and every pair's weight change per module. Pure pandas: no torch."""

from __future__ import annotations

import json
from typing import Any, Mapping

import pandas as pd

from ..names import pair_columns
from . import spec


def as_pair_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its columns named as a pair's (vischange.names.pair_columns)."""
    return frame.set_axis(pair_columns(frame.columns), axis=1)


def with_pair(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """`frame` (pair columns) with net_a, net_b and kind in front."""
    return pd.concat([pd.DataFrame({"net_a": [a] * len(frame), "net_b": [b] * len(frame),
                                    "kind": [spec.pair_kind(a, b)] * len(frame)}, index=frame.index),
                      as_pair_columns(frame)], axis=1)


LAYER_COLUMNS = [
    "net_a", "net_b", "kind", "layer", "fine_tuned", "identical_upstream", "cka", "cka_low", "cka_high", "cka_null",
    "corr_median", "n_used", "n_tested", "n_significant", "changed_share", "changed_share_low", "changed_share_high",
    "median_cosine", "null_false_positive_share",
]


def pair_layers(change: Mapping[tuple[str, str], pd.DataFrame],
                compare: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (pair, render layer), columns LAYER_COLUMNS: the render-free change
    (change/layers.csv's CKA with its interval and shuffled reference, median channel
    correlation) beside the render comparison (compare/layers.csv's calibrated test: tested
    and significant channels, changed share with its interval, median cosine, and the null
    experiment's false-positive share). change, compare: {(a, b): that pair's table}, in
    pair order; fine_tuned is the render table's (the layer lies in a module either
    network trained)."""
    parts = []
    for (a, b), cmp in compare.items():
        chg = change[(a, b)].drop(columns=["fine_tuned"])
        joined = cmp.merge(chg, on="layer", how="left", validate="one_to_one")
        for column in LAYER_COLUMNS[3:]:
            if column not in joined:
                joined[column] = float("nan")
        parts.append(with_pair(joined[LAYER_COLUMNS[3:]], a, b))
    return pd.concat(parts, ignore_index=True)[LAYER_COLUMNS]


WEIGHT_COLUMNS = ["net_a", "net_b", "kind", "module", "fine_tuned", "kernel_change", "other_change", "stat_change",
                  "identical", "replaced"]


def pair_weights(weights: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (pair, module), columns WEIGHT_COLUMNS, from each pair's weights.csv."""
    return pd.concat([with_pair(w, a, b) for (a, b), w in weights.items()], ignore_index=True)[WEIGHT_COLUMNS]


NETWORK_COLUMNS = ["net", "role", "description", "trainable", "epochs", "lr", "optimizer", "seed", "differs_from_finetuned",
                   "chosen_epoch", "val_accuracy", "test_accuracy"]


def networks_table(config: Mapping[str, Any], metrics: Mapping[str, str]) -> pd.DataFrame:
    """One row per fine-tuned network (the fine-tuned network and every variant), columns
    NETWORK_COLUMNS: its fine-tuning settings, how they differ from the fine-tuned
    network's ("-" for none) and its accuracies. metrics: {net: its metrics JSON path}."""
    rows = []
    described = {v["name"]: v.get("description", "") for v in spec.variants(config)}
    for net in spec.networks(config)[1:]:
        settings, seed = spec.settings(config, net)
        m = json.loads(open(metrics[net]).read())
        diff = spec.differences(config, "finetuned", net) if net != "finetuned" else {}
        source = config["model"]["finetuned"]["source"] if net == "finetuned" else "train"
        rows.append({
            "net": net, "role": "fine-tuned" if net == "finetuned" else "variant",
            "description": described.get(net, "" if source == "train" else "fine-tuned elsewhere"),
            "trainable": " ".join(settings["trainable"]), "epochs": settings["epochs"], "lr": settings["lr"],
            "optimizer": settings["optimizer"], "seed": seed,
            "differs_from_finetuned": "; ".join(f"{k}: {va} -> {vb}" for k, (va, vb) in diff.items()) or "-",
            "chosen_epoch": m.get("chosen_epoch"), "val_accuracy": m.get("val_accuracy"),
            "test_accuracy": m.get("test_accuracy"),
        })
    return pd.DataFrame(rows, columns=NETWORK_COLUMNS)
