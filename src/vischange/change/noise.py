"""Is fine-tuning's change larger than fine-tuning's own noise? A paired test per layer.

For two fine-tuned networks X and Y of one base network (two seeds, or two settings) and a
layer, the render-free change of fine-tuning is ``1 - CKA(base, X)`` and
``1 - CKA(base, Y)``; the two fine-tunings differ from each other by ``1 - CKA(X, Y)``.
The statistic is

    d = CKA(X, Y) - (CKA(base, X) + CKA(base, Y)) / 2,

positive when the two fine-tuned networks are closer to each other than to the base
network: the change is shared by both fine-tunings, larger than what a second fine-tuning
moves. All three CKAs are computed on the same images, and the images are resampled
together (a paired bootstrap), so the interval of d carries the image sampling of all
three at once. The p-value (two-sided, normal approximation of the bootstrap
distribution) is Holm-corrected over every tested layer of every pair. A layer that
nothing trained up to in any of the three networks gives d = 0 exactly (a control): it
is reported, not tested.

What this does not cover: the spread over more fine-tuning seeds. With one pair of
fine-tunings, d says whether this pair's distance is smaller than its change, not how
that distance varies from pair to pair.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from . import measures
from ..runtime import derive_seed

COLUMNS = ["net_x", "net_y", "layer", "n_images", "cka_xy", "cka_base_x", "cka_base_y", "d", "d_low", "d_high",
           "p_value", "q_value", "significant", "status"]


def paired_ckas(base: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(3,) linear CKA of (x, y), (base, x) and (base, y), each (N, C) of the same N images."""
    return np.array([measures.linear_cka(x, y), measures.linear_cka(base, x), measures.linear_cka(base, y)])


def statistic(ckas: np.ndarray) -> float:
    """d from (CKA(x, y), CKA(base, x), CKA(base, y))."""
    return float(ckas[0] - (ckas[1] + ckas[2]) / 2)


def layer_test(base: np.ndarray, x: np.ndarray, y: np.ndarray, *, n_boot: int, confidence: float,
               rng: int) -> dict:
    """d of one layer with its paired-bootstrap interval (normal, as the CKA intervals of
    the change stage) and two-sided p-value. base, x, y: (N, C) activations of the same N
    images. status "identical" when the three are bit-identical (no test)."""
    ckas = paired_ckas(base, x, y)
    out = {"n_images": len(base), "cka_xy": ckas[0], "cka_base_x": ckas[1], "cka_base_y": ckas[2],
           "d": statistic(ckas)}
    if np.array_equal(base, x) and np.array_equal(base, y):
        return {**out, "d_low": 0.0, "d_high": 0.0, "p_value": np.nan, "status": "identical"}
    if not np.isfinite(out["d"]):
        return {**out, "d_low": np.nan, "d_high": np.nan, "p_value": np.nan, "status": "untestable"}
    kb, kx, ky = measures.centred_grams(base, x, y)

    def resampled(rows):
        return (measures.cka_of_subsample(kx, ky, rows)
                - (measures.cka_of_subsample(kb, kx, rows) + measures.cka_of_subsample(kb, ky, rows)) / 2)

    result = scipy.stats.bootstrap((np.arange(len(base)),), resampled, n_resamples=int(n_boot), method="percentile",
                                   vectorized=False, rng=np.random.default_rng(rng))
    se = float(result.standard_error)
    half = scipy.stats.norm.ppf(0.5 + confidence / 2) * se
    p = float(2 * scipy.stats.norm.sf(abs(out["d"]) / se)) if se > 0 else (0.0 if out["d"] != 0 else 1.0)
    return {**out, "d_low": out["d"] - half, "d_high": out["d"] + half, "p_value": p, "status": "tested"}


def noise_table(acts: Mapping[str, Mapping[str, np.ndarray]], pairs: Sequence[tuple[str, str]],
                layers: Sequence[str], *, n_boot: int, confidence: float, alpha: float, seed: int) -> pd.DataFrame:
    """One row per (pair of fine-tuned networks, layer), columns COLUMNS. acts: {net:
    {layer: (N, C)}} with "base" among the nets; pairs: (X, Y) of fine-tuned networks.
    q_value: Holm-adjusted over the tested rows; significant: q_value <= alpha."""
    from statsmodels.stats.multitest import multipletests

    rows = []
    for x, y in pairs:
        for layer in layers:
            rng = derive_seed(seed, "pairs-noise", x, y, layer)
            row = layer_test(acts["base"][layer], acts[x][layer], acts[y][layer], n_boot=n_boot,
                             confidence=confidence, rng=rng)
            rows.append({"net_x": x, "net_y": y, "layer": layer, **row})
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("q_value", "significant")])
    tested = (table.status == "tested").to_numpy()
    table["q_value"] = np.nan
    if tested.any():
        table.loc[tested, "q_value"] = multipletests(table.loc[tested, "p_value"].to_numpy(), method="holm")[1]
    table["significant"] = tested & (table.q_value <= alpha)
    return table[COLUMNS]
