"""From render pairs to per-channel scores, a render-noise floor and per-layer summaries.

Pair kinds (for one channel; s, t are render seeds, s != t):

* same_seed:       base seed s  vs fine-tuned seed s (shared random start)
* cross_seed:      base seed s  vs fine-tuned seed t (no shared start)
* noise_base:      base seed s  vs base seed t
* noise_finetuned: fine-tuned seed s vs fine-tuned seed t

Seed-vs-seed pairs measure how far the render optimization alone moves a render; they
share no random start, so the base-vs-fine-tuned comparison that is fair against them is
cross_seed (same_seed when only one seed was rendered, and then there is no floor).

The noise floor of a layer is the `percentile` (5th by default) of the seed-vs-seed
cosines of its usable channels, both networks pooled. A channel "changed beyond the
noise floor" when its base-vs-fine-tuned cosine falls below the floor. Its change score
is (1 - cosine) / (1 - floor): the embedding distance in units of the floor's distance,
above 1 exactly when the channel is below the floor. Channels with a gray render in
either network are kept in the tables, flagged, and left out of the floor and every
summary statistic.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

KINDS = ("same_seed", "cross_seed", "noise_base", "noise_finetuned")
KEY = ["layer", "channel"]


def pair_kind(net_a: str, seed_a: int, net_b: str, seed_b: int) -> str:
    """Which of KINDS the pair of renders (net_a, seed_a), (net_b, seed_b) is."""
    if net_a == net_b:
        if seed_a == seed_b:
            raise ValueError(f"a render compared with itself: {net_a} seed {seed_a}")
        return f"noise_{net_a}"
    return "same_seed" if seed_a == seed_b else "cross_seed"


def with_kind(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pair table with a `kind` column."""
    kinds = [pair_kind(*row) for row in pairs[["net_a", "seed_a", "net_b", "seed_b"]].itertuples(index=False)]
    return pairs.assign(kind=kinds)


def channel_means(pairs: pd.DataFrame, value: str, prefix: str, by: Sequence[str] = KEY) -> pd.DataFrame:
    """Mean of `value` per channel (grouped by `by`) and pair kind -> columns {prefix}_{kind}."""
    table = with_kind(pairs).pivot_table(index=list(by), columns="kind", values=value, aggfunc="mean")
    table = table.reindex(columns=list(KINDS))
    table.columns = [f"{prefix}_{k}" for k in KINDS]
    return table.reset_index()


def noise_floor(values: Sequence[float], percentile: float = 5.0) -> float:
    """The `percentile` of seed-vs-seed similarities (nan when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.percentile(values, percentile)) if len(values) else float("nan")


def is_fine_tuned(layer: str, trainable: Sequence[str]) -> bool:
    """Whether `layer` lies inside (or is) one of the trainable modules."""
    return any(layer == t or layer.startswith(t + ".") for t in trainable)


def gray_flags(renders: pd.DataFrame) -> pd.DataFrame:
    """Per channel from the per-render gray table: lowest gray score and any-gray flag per network."""
    out = None
    for net in ("base", "finetuned"):
        part = renders[renders.net == net].groupby(KEY).agg(
            **{f"gray_score_{net}": ("gray_score", "min"), f"gray_{net}": ("gray", "any")}
        )
        out = part if out is None else out.join(part, how="outer")
    out = out.reset_index()
    for net in ("base", "finetuned"):
        out[f"gray_{net}"] = out[f"gray_{net}"].fillna(False).astype(bool)
    out["gray"] = out.gray_base | out.gray_finetuned
    return out


def channel_table(
    cosine_pairs: pd.DataFrame,
    gram_pairs: pd.DataFrame,
    renders: pd.DataFrame,
    trainable: Sequence[str] = (),
    percentile: float = 5.0,
) -> pd.DataFrame:
    """One row per (layer, channel) with every score and flag.

    cosine_pairs / gram_pairs: from `features.compare_features`; renders: the per-render
    gray table (`gray.gray_table`). Columns: layer, channel, fine_tuned, n_seeds, gray
    scores and flags, cosine_{kind}, cosine (the change measure: cross_seed, or same_seed
    with one seed), noise_floor (of the layer), below_floor, change_score, noise_quantile
    (share of the layer's seed-vs-seed cosines at or below this channel's cosine),
    gram_{kind} (mean over Gram layers), gram (cross_seed or same_seed).
    """
    order = list(dict.fromkeys(cosine_pairs["layer"]))
    table = channel_means(cosine_pairs, "cosine", "cosine")
    gram = channel_means(gram_pairs, "gram_distance", "gram_layer", by=KEY + ["feature_layer"])
    gram = gram.groupby(KEY, as_index=False)[[f"gram_layer_{k}" for k in KINDS]].mean()
    gram.columns = KEY + [f"gram_{k}" for k in KINDS]
    seeds = renders.groupby(KEY)["seed"].nunique().rename("n_seeds").reset_index()
    table = table.merge(seeds, on=KEY, how="left").merge(gray_flags(renders), on=KEY, how="left").merge(gram, on=KEY, how="left")
    table["gray"] = table["gray"].fillna(False).astype(bool)
    table.insert(2, "fine_tuned", [is_fine_tuned(l, trainable) for l in table.layer])
    cross = table.cosine_cross_seed.notna()
    table["cosine"] = table.cosine_cross_seed.where(cross, table.cosine_same_seed)
    table["gram"] = table.gram_cross_seed.where(table.gram_cross_seed.notna(), table.gram_same_seed)

    noise = with_kind(cosine_pairs)
    noise = noise[noise.kind.str.startswith("noise_")].merge(table[KEY + ["gray"]], on=KEY)
    noise = noise[~noise.gray]
    floors, quantiles = {}, np.full(len(table), np.nan)
    for layer in order:
        values = np.sort(noise.loc[noise.layer == layer, "cosine"].to_numpy())
        floors[layer] = noise_floor(values, percentile)
        rows = np.flatnonzero((table.layer == layer).to_numpy())
        if len(values):
            quantiles[rows] = np.searchsorted(values, table.cosine.to_numpy()[rows], side="right") / len(values)
    table["noise_floor"] = table.layer.map(floors)
    table["below_floor"] = table.cosine < table.noise_floor
    table["change_score"] = (1 - table.cosine) / (1 - table.noise_floor)
    table["noise_quantile"] = quantiles
    table["layer"] = pd.Categorical(table.layer, order, ordered=True)
    table = table.sort_values(KEY).reset_index(drop=True)
    table["layer"] = table.layer.astype(str)
    columns = [
        "layer", "channel", "fine_tuned", "n_seeds",
        "gray_score_base", "gray_score_finetuned", "gray_base", "gray_finetuned", "gray",
        "cosine", "noise_floor", "below_floor", "change_score", "noise_quantile",
        *[f"cosine_{k}" for k in KINDS], "gram", *[f"gram_{k}" for k in KINDS],
    ]
    return table[columns]


def gram_table(gram_pairs: pd.DataFrame, channels: pd.DataFrame) -> pd.DataFrame:
    """One row per (layer, channel, feature_layer): gram_{kind} means, gram (the change measure),
    with the channel's fine_tuned and gray flags."""
    order = list(dict.fromkeys(gram_pairs["layer"]))
    features = list(dict.fromkeys(gram_pairs["feature_layer"]))
    table = channel_means(gram_pairs, "gram_distance", "gram", by=KEY + ["feature_layer"])
    table["gram"] = table.gram_cross_seed.where(table.gram_cross_seed.notna(), table.gram_same_seed)
    table = table.merge(channels[KEY + ["fine_tuned", "gray"]], on=KEY, how="left")
    table["layer"] = pd.Categorical(table.layer, order, ordered=True)
    table["feature_layer"] = pd.Categorical(table.feature_layer, features, ordered=True)
    table = table.sort_values(KEY + ["feature_layer"]).reset_index(drop=True)
    table["layer"] = table.layer.astype(str)
    table["feature_layer"] = table.feature_layer.astype(str)
    return table[KEY + ["feature_layer", "fine_tuned", "gray", "gram", *[f"gram_{k}" for k in KINDS]]]


def top_channels(channels: pd.DataFrame, layer: str, k: int, most_changed: bool) -> pd.DataFrame:
    """The k usable (non-gray) channels of `layer` with the lowest (most_changed) or highest
    base-vs-fine-tuned cosine; ties broken by channel number."""
    part = channels[(channels.layer == layer) & ~channels.gray]
    return part.sort_values(["cosine", "channel"], ascending=[most_changed, True], kind="stable").head(k)


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else float("nan")


def layer_summary(channels: pd.DataFrame, gram: pd.DataFrame, percentile: float = 5.0) -> pd.DataFrame:
    """One row per render layer: counts, medians and shares over its usable (non-gray) channels.

    Gram noise: the channel's seed-vs-seed Gram distance (mean of both networks); a channel's
    Gram change is beyond the floor when its Gram distance exceeds the (100 - percentile)th
    percentile of those.
    """
    rows = []
    for layer, part in channels.groupby("layer", sort=False):
        used = part[~part.gray]
        g_noise = used[["gram_noise_base", "gram_noise_finetuned"]].to_numpy().ravel()
        g_noise = g_noise[np.isfinite(g_noise)]
        g_floor = float(np.percentile(g_noise, 100 - percentile)) if len(g_noise) else float("nan")
        noise = used[["cosine_noise_base", "cosine_noise_finetuned"]].to_numpy().ravel()
        gram_layers = gram[(gram.layer == layer) & ~gram.gray]
        rows.append(
            {
                "layer": layer,
                "fine_tuned": bool(part.fine_tuned.iloc[0]),
                "n_channels": len(part),
                "n_gray": int(part.gray.sum()),
                "n_gray_base": int(part.gray_base.sum()),
                "n_gray_finetuned": int(part.gray_finetuned.sum()),
                "n_used": len(used),
                "median_cosine": _median(used.cosine),
                "q25_cosine": float(used.cosine.quantile(0.25)) if len(used) else float("nan"),
                "q75_cosine": float(used.cosine.quantile(0.75)) if len(used) else float("nan"),
                "median_cosine_same_seed": _median(used.cosine_same_seed),
                "median_noise_cosine": _median(pd.Series(noise)),
                "noise_floor": float(part.noise_floor.iloc[0]),
                "n_below_floor": int(used.below_floor.sum()),
                "share_below_floor": float(used.below_floor.mean()) if len(used) else float("nan"),
                "median_change_score": _median(used.change_score),
                "median_gram": _median(used.gram),
                "median_gram_noise": _median(pd.Series(g_noise)),
                "gram_noise_floor": g_floor,
                "share_gram_above_floor": float((used.gram > g_floor).mean()) if len(used) and np.isfinite(g_floor) else float("nan"),
                "n_feature_layers": int(gram_layers.feature_layer.nunique()),
            }
        )
    return pd.DataFrame(rows)


def separation(pairs: pd.DataFrame, columns: Sequence[str] = ("cosine_raw", "cosine_centered")) -> pd.DataFrame:
    """How well each similarity scale tells change from render noise, per layer.

    pairs: the cosine pair table (compare_features) with the `columns` to compare.
    For each column, distance = 1 - value; Cohen's d between the distances of
    base-vs-fine-tuned pairs of different seeds (cross_seed) and of same-network pairs of
    different seeds (noise_base and noise_finetuned), with the pooled standard deviation:
    the larger d, the better the scale separates change from noise (0 when the networks'
    renders are interchangeable, as in a frozen layer). Only columns present are used.
    Returns one row per layer: layer, n_cross, n_noise, separation_{name} per column
    (name without the cosine_ prefix).
    """
    kinds = with_kind(pairs)
    cross, noise = kinds.kind == "cross_seed", kinds.kind.str.startswith("noise_")
    rows = []
    for layer, part in kinds.groupby("layer", sort=False):
        row = {"layer": layer, "n_cross": int(cross[part.index].sum()), "n_noise": int(noise[part.index].sum())}
        for column in [c for c in columns if c in pairs]:
            a = 1.0 - part.loc[cross[part.index], column].to_numpy(np.float64)
            b = 1.0 - part.loc[noise[part.index], column].to_numpy(np.float64)
            row[f"separation_{column.removeprefix('cosine_')}"] = cohens_d(a, b)
        rows.append(row)
    return pd.DataFrame(rows)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a - mean b) / pooled standard deviation (ddof 1); nan with fewer than 2 values
    in either or a zero pooled spread."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / np.sqrt(pooled)) if pooled > 0 else float("nan")


def summary(layers: pd.DataFrame, gram: pd.DataFrame, cut: dict, renders: pd.DataFrame, percentile: float) -> dict:
    """Everything the paper quotes, as a JSON-ready dict: the gray cut and counts, the noise
    percentile, per-layer rows, and per (render layer, Gram layer) median distances."""
    used = gram[~gram.gray]
    by_feature = {
        layer: {
            feature: {
                "median_gram": _median(part.gram),
                "median_gram_noise": _median(pd.concat([part.gram_noise_base, part.gram_noise_finetuned])),
            }
            for feature, part in used[used.layer == layer].groupby("feature_layer", sort=False)
        }
        for layer in layers.layer
    }
    return {
        "gray": {
            **{k: _finite(v) for k, v in cut.items()},
            "n_renders": len(renders),
            "n_gray_renders": int(renders.gray.sum()),
            "gray_renders_by_net": {n: int(renders[renders.net == n].gray.sum()) for n in ("base", "finetuned")},
        },
        "noise_percentile": percentile,
        "n_channels": int(layers.n_channels.sum()),
        "n_used": int(layers.n_used.sum()),
        "layers": [{k: _finite(v) for k, v in row.items()} for row in layers.to_dict("records")],
        "gram_by_feature_layer": {l: {f: {k: _finite(v) for k, v in d.items()} for f, d in fs.items()} for l, fs in by_feature.items()},
    }


def _finite(value):
    """JSON has no NaN: None instead; numpy scalars to Python ones; floats rounded to 6 digits."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(f"{float(value):.6g}")
    return value
