"""The render stage's tables: a layer's chunk tables joined into renders.csv, and the
per-layer quality summary. Light on purpose (pandas only): their jobs never import torch."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..runtime import write_csv


def merge_tables(chunk_tables: Sequence[str | Path], out: str | Path, dataset_stats: str | Path | None = None) -> pd.DataFrame:
    """Concatenate chunk tables, ordered by (channel, seed); each render must appear once.

    With `dataset_stats` (the layer's dataset.csv from :mod:`.dataset_examples`) each row
    gains the channel's `dataset_mean` activation and `activation_ratio` = objective /
    dataset_mean (empty where the dataset mean is not positive). `seconds` stays the last
    column: it is the only wall-clock value, so reruns differ only there.
    """
    table = pd.concat([pd.read_csv(p) for p in chunk_tables], ignore_index=True)
    table = table.sort_values(["channel", "seed"], kind="stable").reset_index(drop=True)
    duplicated = table.duplicated(["channel", "seed"])
    if duplicated.any():
        raise ValueError(f"renders listed twice: {table[duplicated][['channel', 'seed']].values.tolist()}")
    if dataset_stats is not None:
        stats = pd.read_csv(dataset_stats)[["channel", "dataset_mean"]]
        missing = set(table["channel"]) - set(stats["channel"])
        if missing:
            raise ValueError(f"{dataset_stats}: no statistics for channels {sorted(missing)}")
        table = table.merge(stats, on="channel", how="left", validate="many_to_one")
        positive = table["dataset_mean"] > 0
        table["activation_ratio"] = (table["objective"] / table["dataset_mean"]).where(positive)
    if "seconds" in table:
        table = table[[c for c in table.columns if c != "seconds"] + ["seconds"]]
    write_csv(out, table)
    return table


def quality_summary(tables: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Per (net, layer): how well renders drive their channels.

    tables: renders.csv frames keyed by (net, layer). Columns: net, layer, renders,
    median_activation_ratio (render activation / the channel's dataset mean),
    own_channel_fraction (share of renders with own_rank 1: no other channel's render
    of the same layer, job and seed drives this channel harder), median_seconds.
    """
    rows = []
    for (net, layer), table in tables.items():
        rows.append(
            {
                "net": net,
                "layer": layer,
                "renders": len(table),
                "median_activation_ratio": float(table["activation_ratio"].median()),
                "own_channel_fraction": float((table["own_rank"] == 1).mean()),
                "median_seconds": float(table["seconds"].median()),
            }
        )
    return pd.DataFrame(rows)
