"""The pairs stage's own jobs (workflow/rules/pairs.smk): the pairwise tables and figure,
from the files of the pairs' comparisons (vischange.compare.tables.pair_compare and
vischange.change.stages.pairs_change, which the same rule file runs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ..runtime import write_csv
from . import figures, tables

Pair = tuple[str, str]


def pairs_tables(
    config: Mapping[str, Any], *, change_layers: Mapping[Pair, str], compare_layers: Mapping[Pair, str],
    weights: Mapping[Pair, str], metrics: Mapping[str, str], out_layers: str | os.PathLike,
    out_weights: str | os.PathLike, out_networks: str | os.PathLike,
) -> None:
    """pairs/layers.csv, pairs/weights.csv and pairs/networks.csv (vischange.pairs.tables)
    from every pair's tables, in pair order. The study's own pair reads compare/ and change/,
    whose columns name base and finetuned; every other pair's tables are already a and b."""
    read = {pair: tables.as_pair_columns(pd.read_csv(path)) for pair, path in compare_layers.items()}
    write_csv(out_layers, tables.pair_layers({p: pd.read_csv(change_layers[p]) for p in read}, read))
    write_csv(out_weights, tables.pair_weights({p: pd.read_csv(path) for p, path in weights.items()}))
    write_csv(out_networks, tables.networks_table(config, metrics))


def pairs_figure(layers_csv: str | os.PathLike, weights_csv: str | os.PathLike, noise_csv: str | os.PathLike,
                 out: Sequence[str | os.PathLike]) -> None:
    """The figure of :func:`.figures.pairs_figure`; out: its PNG and PDF."""
    figures.pairs_figure(pd.read_csv(layers_csv), pd.read_csv(weights_csv), pd.read_csv(noise_csv),
                         [Path(p) for p in out])
