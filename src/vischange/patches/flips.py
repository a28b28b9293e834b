"""Flip-rate arithmetic: per-image outcomes, the best corner per image, rates per patch, kind and size,
and the overview of every tested (network, direction)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .pasting import CORNERS

KINDS = ("atlas", "noise", "image")  # atlas patches, then the two baselines


BEST = "best"  # the corner column's value for the best corner per image



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
    target probability after pasting (ties: the first in :data:`.pasting.CORNERS`). The row keeps
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
