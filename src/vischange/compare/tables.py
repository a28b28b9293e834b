"""From render pairs to the comparison's tables: what the compare_channels job computes,
shared with the pairwise comparison of fine-tuning variants (vischange.pairs)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pandas as pd

from ..names import pair_columns
from ..runtime import derive_seed, write_csv
from . import inference, null, stats

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def channel_tables(
    renders: pd.DataFrame,
    cosine: pd.DataFrame,
    gram_pairs: pd.DataFrame,
    cut: Mapping[str, Any],
    null_layers: pd.DataFrame | None,
    *,
    trainable: Sequence[str],
    percentile: float,
    inference_settings: Mapping[str, Any],
    similarity: str,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(channels, gram, layers, summary) of one comparison of two networks, named base and
    finetuned in `renders` and the pair tables.

    renders: the per-render gray table (net, layer, channel, seed, file, gray_score, gray);
    cosine, gram_pairs: from :func:`.features.compare_features`; cut: the gray cut's JSON;
    null_layers: the null experiment's per-layer table (None without one); trainable: the
    modules in which the two networks may differ. The changed share's bootstrap is seeded
    from `seed` alone, so the same pair gives the same tables in any job.
    """
    channels = stats.channel_table(cosine, gram_pairs, renders, trainable, percentile)
    gram = stats.gram_table(gram_pairs, channels)
    layers = stats.layer_summary(channels, gram, percentile)
    channels, layers = inference.with_inference(
        channels, layers, cosine, renders, inference_settings, derive_seed(seed, "changed-share")
    )
    # Which similarity scale the statistics used, and how well each one separates change from noise.
    layers = layers.assign(similarity=similarity).merge(stats.separation(cosine), on="layer", how="left")
    # The null experiment's false-positive share and changed share beside each layer's.
    layers = null.with_null(layers, null_layers)
    summary = {**stats.summary(layers, gram, cut, renders, percentile), "similarity": similarity}
    return channels, gram, layers, summary


def pair_compare(
    a: str, b: str, tables_a: Mapping[str, str | os.PathLike], tables_b: Mapping[str, str | os.PathLike],
    embedder: str | os.PathLike, cut_json: str | os.PathLike, null_layers_csv: str | os.PathLike | None, *,
    trainable: Sequence[str], similarity: str, image_size: int | None, gram_layers: Sequence[str] | None,
    batch_size: int, percentile: float, inference: Mapping[str, Any], seed: int, device: torch.device,
    out_renders: str | os.PathLike, out_channels: str | os.PathLike, out_layers: str | os.PathLike,
) -> pd.DataFrame:
    """The render comparison of network `a` against network `b`, exactly as the study's
    comparison of base and fine-tuned (vischange.compare: embedding cosine of every render
    pair, the per-channel test against the seed-vs-seed noise, the changed share), with the
    study's gray cut and the null experiment's per-layer table beside it.

    tables_a, tables_b: {layer: renders.csv} of each network; trainable: the modules in
    which the two may differ. Writes renders.csv (net is a or b), channels.csv and
    layers.csv, with the columns of compare/'s tables, _base and _finetuned parts of their
    names as _a and _b (vischange.names.pair_columns). Returns the layers table.
    """
    from . import features, gray

    keyed = {**{("base", layer): p for layer, p in tables_a.items()},
             **{("finetuned", layer): p for layer, p in tables_b.items()}}
    cut = json.loads(Path(cut_json).read_text())
    renders = gray.score_tables(keyed)
    renders["gray"] = renders.gray_score < cut["threshold"]
    cosine, gram_pairs = features.compare_features(keyed, embedder, device=device, image_size=image_size,
                                                   gram_layers=gram_layers, batch_size=batch_size,
                                                   similarity=similarity)
    null = pd.read_csv(null_layers_csv) if null_layers_csv else None
    channels, _, layers, _ = channel_tables(renders, cosine, gram_pairs, cut, null, trainable=trainable,
                                                    percentile=percentile, inference_settings=inference,
                                                    similarity=similarity, seed=seed)
    renders["net"] = renders.net.map({"base": a, "finetuned": b})
    write_csv(out_renders, renders)
    write_csv(out_channels, channels.set_axis(pair_columns(channels.columns), axis=1))
    write_csv(out_layers, layers.set_axis(pair_columns(layers.columns), axis=1))
    for row in layers.itertuples():
        log.info("%s vs %s, %s: %d of %d tested channels changed (changed share %.3g [%.3g, %.3g])", a, b, row.layer,
                 row.n_significant, row.n_tested, row.changed_share, row.changed_share_low, row.changed_share_high)
    return layers
