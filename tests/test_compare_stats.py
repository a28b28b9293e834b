"""Per-channel scores, the noise floor and summaries, on made-up pair tables."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from vischange.compare import stats


def test_pair_kind():
    assert stats.pair_kind("base", 0, "finetuned", 0) == "same_seed"
    assert stats.pair_kind("base", 0, "finetuned", 1) == "cross_seed"
    assert stats.pair_kind("base", 0, "base", 1) == "noise_base"
    assert stats.pair_kind("finetuned", 1, "finetuned", 0) == "noise_finetuned"
    with pytest.raises(ValueError):
        stats.pair_kind("base", 1, "base", 1)


def test_noise_floor_is_the_percentile():
    values = np.arange(101, dtype=float) / 100  # 0.00 .. 1.00
    assert stats.noise_floor(values, 5) == pytest.approx(0.05)
    assert np.isnan(stats.noise_floor([np.nan]))


def test_is_fine_tuned():
    assert stats.is_fine_tuned("layer4.1", ["layer4"])
    assert stats.is_fine_tuned("layer4.1", ["layer4.1"])
    assert not stats.is_fine_tuned("layer4.10", ["layer4.1"])


def make_pairs(values: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """values: (layer, channel) -> {kind: cosine}; 2 seeds. Returns cosine, gram, render tables."""
    keys = [("base", 0), ("base", 1), ("finetuned", 0), ("finetuned", 1)]
    cos, gram, renders = [], [], []
    for (layer, channel), kinds in values.items():
        for a, b in itertools.combinations(keys, 2):
            kind = stats.pair_kind(*a, *b)
            head = {"layer": layer, "channel": channel, "net_a": a[0], "seed_a": a[1], "net_b": b[0], "seed_b": b[1]}
            cos.append({**head, "cosine": kinds[kind]})
            for f, scale in (("conv1", 1.0), ("layer1.0", 3.0)):
                gram.append({**head, "feature_layer": f, "gram_distance": scale * (1 - kinds[kind])})
        for net, seed in keys:
            renders.append({"net": net, "layer": layer, "channel": channel, "seed": seed, "file": "x", "gray_score": 500.0, "gray": False})
    return pd.DataFrame(cos), pd.DataFrame(gram), pd.DataFrame(renders)


def test_channel_table_scores_and_floor():
    # Layer "a": 20 channels whose seed-vs-seed cosines are 0.90 .. 0.995; channel 0 changed a lot.
    values = {}
    for c in range(20):
        noise = 0.90 + 0.005 * c
        values[("a", c)] = {"same_seed": 0.99, "cross_seed": 0.5 if c == 0 else noise, "noise_base": noise, "noise_finetuned": noise}
    cos, gram, renders = make_pairs(values)
    table = stats.channel_table(cos, gram, renders, ["a"], percentile=5)
    pooled = np.repeat(0.90 + 0.005 * np.arange(20), 2)
    floor = np.percentile(pooled, 5)
    assert table.noise_floor.unique() == pytest.approx([floor])
    row = table.set_index("channel").loc[0]
    assert row.cosine == pytest.approx(0.5) and row.below_floor
    assert row.change_score == pytest.approx(0.5 / (1 - floor))
    assert row.noise_quantile == 0
    others = table[table.channel > 0]
    assert not others.below_floor.any() and (others.change_score <= 1).all()
    # Channel 5: cross-seed equals its own noise value 0.925; 12 of 40 pooled values are <= it.
    assert table.set_index("channel").loc[5].noise_quantile == pytest.approx(12 / 40)
    # Gram columns: mean over feature layers of scale * (1 - cosine) = 2 * (1 - cosine).
    assert row.gram == pytest.approx(2 * 0.5) and row.gram_same_seed == pytest.approx(2 * 0.01)
    assert table.fine_tuned.all() and (table.n_seeds == 2).all()


def test_gray_channels_are_flagged_and_left_out_of_the_floor():
    values = {("a", c): {"same_seed": 1.0, "cross_seed": 0.95, "noise_base": 0.95, "noise_finetuned": 0.95} for c in range(5)}
    values[("a", 9)] = {"same_seed": 0.1, "cross_seed": 0.1, "noise_base": 0.1, "noise_finetuned": 0.1}
    cos, gram, renders = make_pairs(values)
    renders.loc[(renders.channel == 9) & (renders.net == "finetuned") & (renders.seed == 1), ["gray_score", "gray"]] = [0.5, True]
    table = stats.channel_table(cos, gram, renders, [])
    row = table.set_index("channel").loc[9]
    assert row.gray and row.gray_finetuned and not row.gray_base
    assert row.gray_score_finetuned == 0.5 and row.gray_score_base == 500
    assert table.noise_floor.iloc[0] == pytest.approx(0.95)  # the gray channel's 0.1 is not in it
    gram_table = stats.gram_table(gram, table)
    layers = stats.layer_summary(table, gram_table)
    summary = layers.iloc[0]
    assert summary.n_channels == 6 and summary.n_gray == 1 and summary.n_used == 5
    assert summary.median_cosine == pytest.approx(0.95) and summary.share_below_floor == 0
    assert not summary.fine_tuned


def test_single_seed_has_no_floor():
    cos = pd.DataFrame([{"layer": "a", "channel": 0, "net_a": "base", "seed_a": 0, "net_b": "finetuned", "seed_b": 0, "cosine": 0.8}])
    gram = cos.drop(columns="cosine").assign(feature_layer="conv1", gram_distance=0.3)
    renders = pd.DataFrame(
        [{"net": n, "layer": "a", "channel": 0, "seed": 0, "file": "x", "gray_score": 900.0, "gray": False} for n in ("base", "finetuned")]
    )
    row = stats.channel_table(cos, gram, renders).iloc[0]
    assert row.cosine == pytest.approx(0.8) and row.gram == pytest.approx(0.3)
    assert np.isnan(row.noise_floor) and not row.below_floor and np.isnan(row.change_score)


def test_gram_table_and_summary_json():
    values = {(l, c): {"same_seed": 0.9, "cross_seed": 0.8, "noise_base": 0.97, "noise_finetuned": 0.96} for l in ("a", "b") for c in range(3)}
    cos, gram, renders = make_pairs(values)
    channels = stats.channel_table(cos, gram, renders, ["b"])
    table = stats.gram_table(gram, channels)
    assert len(table) == 2 * 3 * 2
    assert list(table.feature_layer[:2]) == ["conv1", "layer1.0"]
    assert table.set_index(["layer", "channel", "feature_layer"]).loc[("a", 0, "layer1.0")].gram == pytest.approx(3 * 0.2)
    layers = stats.layer_summary(channels, table)
    assert list(layers.layer) == ["a", "b"] and list(layers.fine_tuned) == [False, True]
    assert (layers.share_below_floor == 1.0).all()
    cut = {"threshold": 100.0, "method": "fallback", "jump": float("nan")}
    out = stats.summary(layers, table, cut, renders, 5)
    text = json.dumps(out, allow_nan=False)  # no NaN in the JSON the paper reads
    assert out["gray"]["jump"] is None and out["n_used"] == 6
    assert out["gram_by_feature_layer"]["a"]["conv1"]["median_gram"] == pytest.approx(0.2)
    assert "NaN" not in text


def test_top_channels_skip_gray_and_break_ties_by_channel():
    channels = pd.DataFrame(
        {
            "layer": ["a"] * 5 + ["b"],
            "channel": [0, 1, 2, 3, 4, 0],
            "cosine": [0.9, 0.5, 0.9, 0.1, 0.99, 0.0],
            "gray": [False, False, False, True, False, False],
        }
    )
    assert list(stats.top_channels(channels, "a", 2, True).channel) == [1, 0]  # 3 is gray
    assert list(stats.top_channels(channels, "a", 3, False).channel) == [4, 0, 2]
    assert len(stats.top_channels(channels, "a", 10, True)) == 4


def test_cohens_d_by_hand():
    a, b = np.array([3.0, 5.0]), np.array([1.0, 2.0, 3.0])
    pooled = (1 * 2.0 + 2 * 1.0) / 3  # ddof-1 variances 2 and 1
    assert stats.cohens_d(a, b) == pytest.approx((4.0 - 2.0) / np.sqrt(pooled))
    assert np.isnan(stats.cohens_d(np.array([1.0]), b))
    assert np.isnan(stats.cohens_d(np.array([1.0, 1.0]), np.array([1.0, 1.0])))


def test_separation_prefers_the_scale_that_separates():
    rows = []
    for channel in range(4):
        for (na, sa), (nb, sb) in itertools.combinations([("base", 0), ("base", 1), ("finetuned", 0), ("finetuned", 1)], 2):
            cross = na != nb and sa != sb
            rows.append({"layer": "l", "channel": channel, "net_a": na, "seed_a": sa, "net_b": nb, "seed_b": sb,
                         # raw: change and noise alike; centred: change clearly further apart
                         "cosine_raw": 0.99 - 0.001 * channel,
                         "cosine_centered": (0.2 if cross else 0.8) - 0.01 * channel})
    sep = stats.separation(pd.DataFrame(rows)).iloc[0]
    assert sep.n_cross == 8 and sep.n_noise == 8  # 2 cross-seed and 2 same-network pairs per channel
    assert sep.separation_centered > 5 and abs(sep.separation_raw) < 1e-9
