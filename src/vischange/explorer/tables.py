"""What the explorer shows, as plain tables and JSON-ready records (no files, no browser).

The site's channel table joins, per (layer, channel) that was rendered:

* ``compare/channels.csv`` (the render comparison and its calibrated test): effect size,
  p- and q-value, status, cosine, noise floor, gray flags;
* ``change/channels.csv`` (render-free): activation correlation across images, shown as
  ``activation_change = 1 - correlation``;
* each network's ``renders.csv``: the renders' mean activation ratio over seeds
  (how strongly a render drives its channel against the dataset's mean).

Sorting is defined here once (:func:`sort_order`) and the page's script does the same:
missing values last in either direction, ties by channel number.
"""

from __future__ import annotations

import json
import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "TABLE_COLUMNS",
    "SORTABLE",
    "channel_table",
    "sort_order",
    "records",
    "js_payload",
    "example_lists",
    "atlas_cells",
    "grid_size",
    "plain",
]

# compare/channels.csv columns the table carries as they are.
_COMPARE = ["status", "effect_size", "p_value", "q_value", "significant", "cosine", "noise_floor", "change_score",
            "gray_base", "gray_finetuned"]

# The table's columns, in order; the page shows them with these names as keys.
TABLE_COLUMNS = ["channel", *_COMPARE, "died", "born", "correlation", "activation_change",
                 "activation_ratio_base", "activation_ratio_finetuned", "dataset_mean_base", "dataset_mean_finetuned"]
# Columns the page can sort by (numbers and flags; status sorts as text).
SORTABLE = [c for c in TABLE_COLUMNS]


def channel_table(
    compare_channels: pd.DataFrame,
    activation_channels: pd.DataFrame | None,
    render_tables: Mapping[tuple[str, str], pd.DataFrame],
    layer: str,
    nets: Sequence[str] = ("base", "finetuned"),
) -> pd.DataFrame:
    """One row per rendered channel of `layer`, columns :data:`TABLE_COLUMNS`, in channel order.

    `render_tables`: {(net, layer): renders.csv} (one row per channel and seed, with
    ``activation_ratio`` and ``dataset_mean``). The channels are those rendered in the first
    network; a channel missing from compare/channels.csv (it should not be) raises, since the
    explorer would otherwise show a row with no test. `activation_channels` may be None
    (no change stage): the correlation columns are then empty.
    """
    first = render_tables[(nets[0], layer)]
    channels = np.sort(first.channel.unique())
    out = pd.DataFrame({"channel": channels.astype(int)})
    cmp = compare_channels[compare_channels.layer == layer].set_index("channel")
    missing = sorted(int(c) for c in set(channels) - set(cmp.index))
    if missing:
        raise ValueError(f"compare/channels.csv has no row for rendered channels {missing[:5]} of layer {layer!r}")
    for column in _COMPARE:
        out[column] = cmp[column].reindex(channels).to_numpy() if column in cmp else np.nan
    out["died"] = out.status.eq("died")
    out["born"] = out.status.eq("born")
    if activation_channels is not None and len(activation_channels):
        act = activation_channels[activation_channels.layer == layer].set_index("channel")
        out["correlation"] = act.correlation.reindex(channels).to_numpy(float)
    else:
        out["correlation"] = np.nan
    out["activation_change"] = 1 - out["correlation"]
    for net in nets:
        table = render_tables[(net, layer)]
        means = table.groupby("channel")[["activation_ratio", "dataset_mean"]].mean()
        out[f"activation_ratio_{net}"] = means.activation_ratio.reindex(channels).to_numpy(float)
        out[f"dataset_mean_{net}"] = means.dataset_mean.reindex(channels).to_numpy(float)
    return out[TABLE_COLUMNS]


def _sort_key(value):
    """(missing, value) with missing values flagged; booleans sort as 0/1, text as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0)
    if isinstance(value, (bool, np.bool_)):
        return (0, int(value))
    return (0, value)


def sort_order(values: Sequence, channels: Sequence[int], descending: bool = False) -> list[int]:
    """Row positions that sort `values` (one per row) as the page does: ascending or
    descending, missing values (None, NaN) last either way, ties by ascending channel."""
    keys = [_sort_key(v) for v in values]
    present = [i for i, k in enumerate(keys) if k[0] == 0]
    absent = [i for i, k in enumerate(keys) if k[0] == 1]
    # Two stable sorts: by channel first, then by value (reversed for descending).
    present.sort(key=lambda i: channels[i])
    present.sort(key=lambda i: keys[i][1], reverse=descending)
    absent.sort(key=lambda i: channels[i])
    return present + absent


def plain(value):
    """A JSON-safe scalar: NaN and None as null, numpy numbers as Python numbers."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return None
    return value


def records(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> dict:
    """A table as ``{"columns": [...], "rows": [[...], ...]}`` with JSON-safe cells
    (column arrays of names once, rather than one dict per row: a third of the size)."""
    columns = list(frame.columns if columns is None else columns)
    rows = [[plain(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]
    return {"columns": columns, "rows": rows}


def js_payload(kind: str, key: str | int, data) -> str:
    """A data file for the page: ``VX.put(kind, key, data);``. Loaded with a <script> tag,
    which works from file:// where fetch() of local JSON does not. Floats keep their
    shortest exact form, so the page sorts exactly as the CSV does."""
    body = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    # "</" inside a string would end an inline script; harmless in a file, but keep it safe.
    body = body.replace("</", "<\\/")
    return f"VX.put({json.dumps(kind)},{json.dumps(key)},{body});\n"


def example_lists(examples: pd.DataFrame, class_names: Sequence[str]) -> dict[int, list]:
    """{channel: [[class name, activation], ...] by rank} from a renders/{net}/{layer}/examples.csv."""
    out: dict[int, list] = {}
    for channel, rows in examples.sort_values(["channel", "rank"]).groupby("channel", sort=True):
        out[int(channel)] = [
            [class_names[int(label)] if 0 <= int(label) < len(class_names) else str(label), plain(act)]
            for label, act in zip(rows.label, rows.activation)
        ]
    return out


def grid_size(cells: pd.DataFrame) -> int:
    """The side n of an atlas's n x n grid from its cells.csv (one row per cell)."""
    n = int(max(cells["row"].max(), cells["col"].max())) + 1
    if len(cells) != n * n:
        raise ValueError(f"cells.csv has {len(cells)} rows for an {n} x {n} grid")
    return n


def atlas_cells(cells: pd.DataFrame, nets: Iterable[str] | None = None) -> dict:
    """An atlas's cells for the page: ``{"n", "columns", "rows"}`` with the columns the hover
    panel shows. `nets`: for the comparison atlas, the networks whose suffixed columns
    (``count_base``, ...) it has; None for a single network's atlas."""
    base = ["count", "filled", "top_class", "top_classes", "label", "label_share"]
    extra = ["attribution_difference"] if "attribution_difference" in cells else []
    if nets is None:
        columns = ["row", "col", *[c for c in base if c in cells], *extra]
    else:
        columns = ["row", "col", *[f"{c}_{net}" for net in nets for c in base if f"{c}_{net}" in cells]]
        columns += [c for c in ("moved_cosine", "moved_distance", "same_cell") if c in cells]
    ordered = cells.sort_values(["row", "col"]).reset_index(drop=True)
    return {"n": grid_size(cells), **records(ordered, columns)}
