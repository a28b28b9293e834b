"""The null experiment: the base network against itself, a control of the per-channel test
that can fail.

The base network is rendered a second time with seeds disjoint from the render seeds
(`compare.null_seeds`, as many as `render.seeds`), and its two seed sets go through the
same pipeline as the real comparison, as if they came from two networks: the same
embedding and similarity scale (centred on the mean embedding of the null's renders), the
same gray cut (the real comparison's threshold), the same per-channel test and
Benjamini-Hochberg per layer (`inference.channel_inference`), the same changed-share
estimate (`inference.layer_inference`). Nothing changed between the two "networks", so
every significant channel is a false positive, and the share of significant channels per
layer, the null's false-positive share, should stay at or below the FDR level; its
changed share should be near 0. A miscalibrated test (a pooled null that is too narrow,
seeds that are not exchangeable, a bias of the statistic) shows here as a share above q.

The null seed set plays the fine-tuned network's part: null seed `null_seeds[i]` is
paired with render seed `seeds[i]` (the flips exchange those two renders). The real
comparison's same-seed renders share a random start; the null's do not. That makes the
null's seed pairs exchangeable at least as plainly as the real ones, so it checks the test
itself, not the shared starts.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from . import inference

NULL_NET = "basenull"


def as_two_networks(frame: pd.DataFrame, seeds: Sequence[int], null_seeds: Sequence[int], nets=(("net", "seed"),)) -> pd.DataFrame:
    """Rows of the null experiment with the null seed set renamed to the second network:
    net NULL_NET -> "finetuned" and null seed null_seeds[i] -> seeds[i], in every
    (net column, seed column) pair of `nets`. Other rows unchanged."""
    if len(seeds) != len(null_seeds):
        raise ValueError(f"{len(null_seeds)} null seeds for {len(seeds)} render seeds")
    mapping = dict(zip(map(int, null_seeds), map(int, seeds)))
    out = frame.copy()
    for net_col, seed_col in nets:
        mine = out[net_col] == NULL_NET
        unknown = set(out.loc[mine, seed_col].astype(int)) - set(mapping)
        if unknown:
            raise ValueError(f"null renders with seeds {sorted(unknown)}, not among the null seeds {list(null_seeds)}")
        out.loc[mine, seed_col] = out.loc[mine, seed_col].astype(int).map(mapping)
        out.loc[mine, net_col] = "finetuned"
    return out


def null_renders(base_renders: pd.DataFrame, null_scores: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The null's per-render gray table: the base renders' rows of the real comparison's
    table (net base, the layers the null renders) and the null renders' scores
    (`gray.score_tables`, net NULL_NET), flagged gray by the real comparison's cut
    `threshold` (the same rule for both)."""
    base = base_renders[(base_renders.net == "base") & base_renders.layer.isin(set(null_scores.layer))]
    null = null_scores.assign(net=NULL_NET, gray=null_scores.gray_score < threshold)
    return pd.concat([base, null[base.columns]], ignore_index=True)


def null_inference(
    cosine_pairs: pd.DataFrame,
    renders: pd.DataFrame,
    seeds: Sequence[int],
    null_seeds: Sequence[int],
    settings: Mapping,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real comparison's per-channel test and per-layer summary, run on the null.

    cosine_pairs: `features.compare_features` rows of the base renders and the null
    renders (net NULL_NET, its own seeds); renders: `null_renders`. settings: fdr,
    prior_df, pi0_lambda, n_boot, share_interval (the compare section); seed: seeds a bootstrap.
    Returns (channels: `inference.channel_inference`'s table, layers:
    `inference.layer_inference`'s rows plus false_positive_share, the share of tested
    channels significant at q = fdr, every one of them a false positive here).
    """
    pairs = as_two_networks(cosine_pairs, seeds, null_seeds, (("net_a", "seed_a"), ("net_b", "seed_b")))
    flags = as_two_networks(renders, seeds, null_seeds)
    channels, layers = inference.inference_tables(pairs, flags, settings, seed)
    layers["false_positive_share"] = layers.share_significant
    return channels, layers


NULL_COLUMNS = ["n_tested", "n_significant", "false_positive_share", "changed_share", "changed_share_low",
                "changed_share_high", "n_died", "n_born"]


def with_null(layers: pd.DataFrame, null_layers: pd.DataFrame | None) -> pd.DataFrame:
    """The real comparison's layers.csv rows with the null experiment's beside them, as
    null_<column> for NULL_COLUMNS (null_died/born: channels inactive in one seed set only).
    Layers the null did not run on (nothing trained up to them: bit-identical renders, no
    test), or no null at all (None), get empty values."""
    if null_layers is None:
        null_layers = pd.DataFrame(columns=["layer", *NULL_COLUMNS])
    extra = null_layers[["layer", *NULL_COLUMNS]].rename(columns={c: f"null_{c}" for c in NULL_COLUMNS})
    return layers.merge(extra, on="layer", how="left", validate="one_to_one")
