"""Does feature visualization see what the activations show? Per layer, the rank
correlation across channels between render-based change (the calibrated test's effect
size, `vischange.compare.inference`) and activation-based change (1 - the channel's
correlation of base and fine-tuned activations, `measures.channel_correlation`).

Only channels with both measures enter: rendered, tested (not gray, died, born or
bit-identical) and not constant over the images. The interval is a percentile bootstrap
over channels (`scipy.stats.bootstrap`, seeded); with the demo's 8 channels per layer it
is wide, and the table says how many channels it rests on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

__all__ = ["CROSSCHECK_COLUMNS", "joined_channels", "crosscheck_table"]

CROSSCHECK_COLUMNS = ["layer", "n_channels", "spearman", "spearman_low", "spearman_high", "p_value", "confidence"]


def joined_channels(render_channels: pd.DataFrame, activation_channels: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, channel) with both measures: render_change (effect_size of
    compare/channels.csv) and activation_change (1 - correlation of change/channels.csv)."""
    render = render_channels[["layer", "channel", "effect_size"]].rename(columns={"effect_size": "render_change"})
    act = activation_channels[["layer", "channel", "correlation"]].assign(activation_change=lambda t: 1 - t.correlation)
    both = render.merge(act[["layer", "channel", "activation_change"]], on=["layer", "channel"], how="inner")
    return both[np.isfinite(both.render_change) & np.isfinite(both.activation_change)].reset_index(drop=True)


def crosscheck_table(joined: pd.DataFrame, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """One row per layer of `joined` (:func:`joined_channels`): Spearman's rho, its
    bootstrap interval at `confidence` (from 4 channels), and the two-sided permutation
    p-value of rho = 0 (exact for up to 6 channels at 1,000 resamples). Layers with fewer
    than 3 channels or a constant measure get NaN."""
    rows = []
    for i, (layer, part) in enumerate(joined.groupby("layer", sort=False)):
        x, y = part.render_change.to_numpy(float), part.activation_change.to_numpy(float)
        rho = p = low = high = np.nan
        if len(part) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(sstats.spearmanr(x, y).statistic)
            # A permutation test of the pairing: exact while n! <= n_boot (scipy's own
            # p-value is an asymptotic t approximation, 0 for 3 perfectly ranked channels).
            p = float(sstats.permutation_test(
                (x,), lambda a: sstats.spearmanr(a, y).statistic, permutation_type="pairings",
                n_resamples=n_boot, random_state=np.random.default_rng(seed + 1000 + i),
            ).pvalue)
            if len(part) >= 4:
                boot = sstats.bootstrap(
                    (x, y), lambda a, b: sstats.spearmanr(a, b).statistic, paired=True, vectorized=False,
                    n_resamples=n_boot, confidence_level=confidence, method="percentile",
                    random_state=np.random.default_rng(seed + i),
                )
                low, high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
        rows.append({"layer": layer, "n_channels": len(part), "spearman": rho, "spearman_low": low,
                     "spearman_high": high, "p_value": p, "confidence": confidence})
    return pd.DataFrame(rows, columns=CROSSCHECK_COLUMNS)
