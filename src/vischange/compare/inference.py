"""Per-channel test of "changed beyond render noise", FDR control, changed share, died/born.

Data. For one channel, S seeds are rendered in each network (the same seeds in both);
`features.compare_features` compares every pair of its 2S renders and writes the cosine
of their embeddings. Here d = 1 - cosine is the pair's distance. With the render
embeddings normalised to unit length, d = |x - y|^2 / 2.

Statistic. Over pairs of *different* seeds (same-seed pairs share a random start and
are left out), let b = mean distance of base-vs-fine-tuned pairs (cross_seed), w = mean
distance of same-network pairs (noise_base and noise_finetuned, equally many), and
a = (b + w) / 2, the channel's render-noise level. Both sets hold S(S - 1) pairs, and
every render lies in S - 1 pairs of each set, so one odd render moves b and w alike.

* statistic T = b - w. With unit embeddings of mean m_base and m_finetuned,
  E[T] = |m_base - m_finetuned|^2 / 2 >= 0 (an energy distance): 0 when the renders of
  both networks come from one distribution, positive for any change of the mean render
  (a change of spread alone, around the same mean, is not what T measures).
* r = T / a: the excess in units of the channel's own seed-vs-seed level. a is the same
  under every seed flip below, so r is comparable between a quiet and a noisy channel.
* Seed flips. Swapping the network labels of the two renders of seed s maps, for every
  other seed t, the seed pair's contribution u_st = d(b_s, f_t) + d(f_s, b_t)
  - d(b_s, b_t) - d(f_s, f_t) to -u_st, and T = sum_{s<t} u_st / (S (S - 1)). There are
  2^(S-1) distinct relabelings (flipping every seed changes nothing): 2 for S = 2 (the
  flip maps T to -T), 4 for S = 3, 8 for S = 4.
* Moderated variance (after Smyth 2004, limma's moderated t): v = mean of r^2 over all
  2^(S-1) relabelings is the channel's own estimate of the null variance of r (the
  identity is included so that v is the same under every flip);
  v~ = (d0 v0 + dc v) / (d0 + dc), v0 the median of v over the layer's channels with the
  same S, dc = 2^(S-1) - 1, d0 = `prior_df` (2 by default: in simulation 0.5 to 4 gave
  the same power, a fully pooled variance less). With S = 2, v = r^2 carries nothing
  beyond r and the test ranks channels by r; with more seeds the channel's own spread
  counts more.
* effect_size = r / sqrt(v~) = T / noise_sd with noise_sd = a sqrt(v~): the excess
  distance in units of the channel's (moderated) seed-vs-seed spread of that excess.
  It is also the test statistic: the null and the alternative use the same number.

Null hypothesis, per channel: the channel's renders are exchangeable between the
networks seed by seed (swapping the base and fine-tuned render of any seed leaves their
joint distribution unchanged, shared random start included): the channel renders the
same in both networks up to render noise. Then every seed flip leaves the law of the
effect size unchanged (a, v and v~ are the same under every flip; v0 too).

Why not a per-channel permutation test. With S seeds per network, exchanging network
labels among one channel's 2S renders gives at most C(2S, S) / 2 distinct splits (3 for
S = 2, 10 for S = 3), the seed flips 2^(S-1) (2, 4), so the smallest p-value is 1/3 or
1/10 (1/2, 1/4): it can never pass Benjamini-Hochberg at 0.05. `flip_pvalues` computes
the exact flip p-value anyway: it estimates pi0 (below) and serves many seeds.

p-value: a layer-wise pooled flip null (`pooled_pvalues`). The flipped effect sizes of
the layer's other channels sample the null (each has its channel's null law; they are
standardised by that channel's own level and spread, which is what lets channels with
very different render noise share one null). Flips of a changed channel mix the networks
and fall below 0, so only null channels feed the upper tail, and the count is divided by
pi0 times the pool size. Assumptions: channels of a layer independent given the networks;
seed-wise exchangeability under the null; changed channels' flips not in the upper tail.
When null channels differ in the shape of their noise as well as its level, p-values are
calibrated on average over the layer's null channels rather than for each one. Limits:
the smallest p-value is about 1 / (pi0 (G - 1) m) for m channels with G - 1 flips each,
so BH at q needs at least about 1 / (q pi0 (G - 1)) discoveries to make any: 20 / pi0
with 2 seeds, 7 / pi0 with 3. A layer of 8 channels with 2 seeds (the demo) can have no
discovery; its changed share (below) is still estimated.

Changed share. Storey's pi0 at lambda = 1/2 on the exact flip p-values: under the null
P(p_flip > 1/2) = 1/2 exactly (without ties), whatever the shape of the channel's
noise. lambda is fixed, not tuned, because a layer may have few channels and the flip
p-values take few values (1/2 and 1 with 2 seeds, where pi0 = twice the share of
channels with a negative statistic). The changed share is 1 - pi0 (pi0 clipped to
[0, 1]); its interval is by default exact: the count of flip p-values above lambda is
binomial, and its Clopper-Pearson interval bounds pi0 (`changed_share`). A percentile
bootstrap over channels is the option; with the demo's 8 channels and coarse p-values it
collapsed to [1, 1] whenever every channel fell on one side of lambda, and the null
experiment (`null`) showed it excluding 0 where nothing changed. The pooled p-values
divide by the finite-sample pi0 ((1 + #{p > lambda}) / (m (1 - lambda)), Storey, Taylor
and Siegmund 2004), which never reaches 0: with the plain estimate, a layer in which
every channel looked changed got p = 1 for all of them.

Died and born channels. A render is "inactive" when it is gray (`gray.gray_table`) or,
if a threshold is given and the render table has `activation_ratio`, when its ratio is
below it. A channel inactive in every render of the fine-tuned network and in no render
of the base network "died"; the reverse "born"; inactive renders in both networks:
"gray_both"; inactive in some but not all renders of one network only: "untestable" (a
gray render is not render noise of the same kind). None of these is in the test family;
each is counted and listed in its own category.

Measured in tests/test_compare_inference.py's simulation (heterogeneous noise level and
shape, shared seed starts): without change, the share of null p-values <= 0.05 is 0.045
(0.042 in the noisiest third of channels) and no channel is significant at q = 0.05,
where the pooled-floor rule of `stats` flags 6.7% of channels on demo-sized layers
(8 channels, 2 seeds) and 11-18% of the noisiest third; with 20% of channels changed
(3 seeds, 64 channels) power is 0.76 at an FDR of 0.028 and 1 - pi0 averages 0.198
(truth 0.191).
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sstats

KEY = ["layer", "channel"]
NETS = ("base", "finetuned")
STATUSES = ("changed", "unchanged", "identical", "died", "born", "gray_both", "untestable")


# ---------------------------------------------------------------- relabelings


def seed_flips(n_seeds: int) -> np.ndarray:
    """The 2^(S-1) distinct seed flips as signs (G, S), identity first, seed 0 never flipped."""
    if n_seeds < 2:
        raise ValueError(f"need at least 2 seeds per network, got {n_seeds}")
    rows = [(1,) + tuple(1 - 2 * np.array(bits)) for bits in itertools.product((0, 1), repeat=n_seeds - 1)]
    return np.array(rows, dtype=np.int8)


def _seed_pair_terms(distance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """distance (m, 2S, 2S), renders ordered base seeds then fine-tuned seeds ->
    u (m, P): u_st per seed pair s < t, level a (m,), index pairs (P, 2)."""
    n = distance.shape[-1] // 2
    s, t = np.triu_indices(n, 1)
    bb = distance[:, s, t]
    ff = distance[:, n + s, n + t]
    bf = distance[:, s, n + t]
    fb = distance[:, n + s, t]
    u = bf + fb - bb - ff
    level = (bf + fb + bb + ff).sum(axis=1) / (4 * len(s))
    return u, level, np.stack([s, t], axis=1)


def relabeled_excess(distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Excess T = b - w under every seed flip.

    distance: (m, 2S, 2S) symmetric pair distances (1 - cosine) of m channels, renders in
    the order base seed 1..S, fine-tuned seed 1..S (the same seeds in both networks).
    Returns (T (m, G), level a (m,)): column 0 is the observed labelling, the others the
    2^(S-1) - 1 non-identity seed flips; a = (b + w) / 2 is the same under every flip.
    """
    u, level, st = _seed_pair_terms(np.asarray(distance, dtype=np.float64))
    signs = seed_flips(distance.shape[-1] // 2).astype(np.float64)
    pair_signs = signs[:, st[:, 0]] * signs[:, st[:, 1]]  # (G, P)
    # b - w = sum_pairs u / (2 * P): P seed pairs, each with 2 cross and 2 same-net distances.
    excess = u @ pair_signs.T / (2 * u.shape[1])
    return excess, level


def channel_statistics(distance: np.ndarray, prior_df: float = 2.0, prior_var: float | None = None) -> dict[str, np.ndarray]:
    """The per-channel statistic, its moderated noise scale and effect size.

    distance: (m, 2S, 2S) as in `relabeled_excess`, all channels with the same S >= 2.
    prior_var: v0; None for the median of the channels' own v (the layer's channels with
    this S). Returns arrays of shape (m,):
      statistic: T = b - w, in units of 1 - cosine;
      level: a = (b + w) / 2, the channel's seed-vs-seed distance level;
      own_var: v, mean of (T/a)^2 over all 2^(S-1) relabelings (identity included, so
        that v, and with it the standardisation, is the same under every seed flip);
      noise_sd: a * sqrt(v~), the channel's moderated null spread of T;
      effect_size: T / noise_sd (dimensionless; the test statistic);
    and, shape (m, G - 1), flipped_effect: effect_size under each non-identity flip.
    """
    excess, level = relabeled_excess(distance)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = excess / level[:, None]
    own_var = np.mean(ratio**2, axis=1)  # over all relabelings: the same under every flip
    df_own = ratio.shape[1] - 1
    v0 = float(np.nanmedian(own_var)) if prior_var is None and len(own_var) else prior_var
    moderated = (prior_df * v0 + df_own * own_var) / (prior_df + df_own)
    scale = np.sqrt(moderated)
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = ratio / scale[:, None]
    return {
        "statistic": excess[:, 0],
        "level": level,
        "own_var": own_var,
        "noise_sd": level * scale,
        "effect_size": effect[:, 0],
        "flipped_effect": effect[:, 1:],
    }


# ---------------------------------------------------------------- p-values


def flip_pvalues(distance: np.ndarray) -> np.ndarray:
    """Exact per-channel seed-flip p-values (m,): share of the 2^(S-1) relabelings
    (identity included) whose excess is at least the observed one.

    Valid for each channel alone under the null, but its smallest value is 2^-(S-1)
    (1/2 for S = 2, 1/4 for S = 3, 1/16 for S = 5): below about 6 seeds per network it
    can never pass Benjamini-Hochberg at 0.05. (A full exchange of labels among the 2S
    renders would allow C(2S, S) / 2 splits, 3, 10, 35 for S = 2, 3, 4, and ignores the
    shared starts of same-seed renders.) Used here to estimate pi0 (`storey_pi0` at
    lambda = 1/2, where P(p > 1/2) = 1/2 exactly under the null), and for diagnostics.
    """
    excess, _ = relabeled_excess(distance)
    return np.mean(excess >= excess[:, :1] - 1e-12 * np.abs(excess[:, :1]), axis=1)


def pooled_pvalues(effect: Sequence[float], flipped: np.ndarray, pi0: float = 1.0) -> np.ndarray:
    """One-sided p-values of a layer's channels against the layer's pooled seed-flip null.

    effect: (m,) observed effect sizes; flipped: (m, K) their values under the non-identity
    seed flips (NaN-padded where a channel has fewer flips; channels with a NaN effect or
    no flips are neither tested nor in the pool); pi0: the estimated share of null
    channels. With K_c the number of other channels' flipped values >= e_c and N_c the
    number of other channels' flipped values,

        p_c = min(1, (1 + K_c) / (1 + pi0 N_c)).

    Every flipped value of a null channel has that channel's null distribution, so the
    pool samples the layer's null mixture; a channel's own flips are left out (they are
    not independent of its statistic). Why pi0: the flips of a changed channel mix the two
    networks and lie below 0, so only the null channels feed the upper tail; dividing by
    pi0 N_c keeps null p-values calibrated when many channels changed (as in Storey's
    adaptive BH). Channels with more seeds contribute more flips. The smallest p-value is
    about 1 / (pi0 N): Benjamini-Hochberg at q needs at least 1 / (q pi0 (G - 1))
    discoveries (G - 1 flips per channel) before it can make any, 20 / pi0 with 2 seeds.
    """
    e = np.asarray(effect, dtype=np.float64)
    f = np.asarray(flipped, dtype=np.float64).reshape(len(e), -1)
    p = np.full(e.shape, np.nan)
    ok = np.isfinite(e) & np.isfinite(f).any(axis=1)
    if not ok.any():
        return p
    e, f = e[ok], f[ok]
    finite = np.isfinite(f)
    values = np.sort(f[finite])
    above = len(values) - np.searchsorted(values, e, side="left")  # every flip >= e_c
    own = np.sum(finite & (np.where(finite, f, -np.inf) >= e[:, None]), axis=1)
    n_other = len(values) - finite.sum(axis=1)
    p[ok] = np.minimum(1.0, (1 + above - own) / (1 + max(pi0, 0.0) * n_other))
    return p


def bh_qvalues(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of one family; NaN stays NaN and is
    not counted in the family size (scipy.stats.false_discovery_control, method "bh")."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = sstats.false_discovery_control(p[ok], method="bh")
    return q


def storey_pi0(p: Sequence[float], lam: float = 0.5, plus_one: bool = False) -> float:
    """Storey's (2002) estimate of the share of true nulls, #{p > lam} / (n (1 - lam)),
    clipped to [0, 1]; NaN for no p-values. plus_one: (1 + #{p > lam}) / (n (1 - lam)),
    the finite-sample version of Storey, Taylor and Siegmund (2004) that adaptive FDR
    control needs; it never reaches 0, so a layer in which every channel looks changed
    still has a null pool to divide by (`pooled_pvalues`)."""
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if not len(p):
        return float("nan")
    return float(min(1.0, (np.sum(p > lam) + (1 if plus_one else 0)) / (len(p) * (1 - lam))))


INTERVALS = ("exact", "bootstrap")


def changed_share(
    p: Sequence[float], lam: float = 0.5, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
    method: str = "exact",
) -> tuple[float, float, float]:
    """Estimated share of changed channels 1 - pi0 (Storey) and its interval at `level`.

    method "exact": each null channel's exact flip p-value exceeds lam with probability
    1 - lam, so the count above lam is binomial with mean pi0 (1 - lam) n (taking, as
    Storey's estimate does, a changed channel's p-value to fall below lam); the
    Clopper-Pearson interval of that proportion, divided by 1 - lam, bounds pi0. It keeps
    its level with few channels and coarse p-values, where the percentile bootstrap
    collapses (every channel on one side of lam gives the interval [1, 1]).
    "bootstrap": a percentile bootstrap over channels (n_boot resamples, numpy Generator
    seeded by `seed`). Returns (estimate, low, high); NaNs for no p-values.
    """
    if method not in INTERVALS:
        raise ValueError(f"interval method must be one of {INTERVALS}, got {method!r}")
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if not len(p):
        return (float("nan"),) * 3
    est = 1 - storey_pi0(p, lam)
    if method == "exact":
        ci = sstats.binomtest(int(np.sum(p > lam)), len(p)).proportion_ci(confidence_level=level, method="exact")
        return float(est), float(1 - min(1.0, ci.high / (1 - lam))), float(1 - min(1.0, ci.low / (1 - lam)))
    rng = np.random.default_rng(seed)
    above = (p > lam)[rng.integers(0, len(p), size=(n_boot, len(p)))]
    boot = 1 - np.minimum(1.0, above.mean(axis=1) / (1 - lam))
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(est), float(lo), float(hi)


# ---------------------------------------------------------------- tables


def render_status(renders: pd.DataFrame, inactive_ratio: float | None = None) -> pd.DataFrame:
    """Per channel, from the per-render table (net, layer, channel, seed, gray
    [, activation_ratio]): renders and inactive renders per network, and a status in
    {died, born, gray_both, partly_gray, ok}.

    A render is inactive when gray, or when `inactive_ratio` is given and its
    activation_ratio is below it (a missing ratio never counts as inactive).
    """
    inactive = renders["gray"].astype(bool).to_numpy()
    if inactive_ratio is not None and "activation_ratio" in renders:
        ratio = pd.to_numeric(renders["activation_ratio"], errors="coerce").to_numpy()
        inactive = inactive | (np.nan_to_num(ratio, nan=np.inf) < inactive_ratio)
    frame = renders[KEY + ["net"]].assign(inactive=inactive)
    counts = frame.groupby(KEY + ["net"]).inactive.agg(["size", "sum"]).unstack("net").fillna(0).astype(int)
    out = pd.DataFrame(index=counts.index)
    for net in NETS:
        out[f"n_renders_{net}"] = counts["size"][net] if net in counts["size"] else 0
        out[f"n_inactive_{net}"] = counts["sum"][net] if net in counts["sum"] else 0
    nb, ib, nf, i_f = (out[c].to_numpy() for c in ("n_renders_base", "n_inactive_base", "n_renders_finetuned", "n_inactive_finetuned"))
    status = np.full(len(out), "ok", dtype=object)
    status[(ib > 0) | (i_f > 0)] = "partly_gray"
    status[(ib > 0) & (i_f > 0)] = "gray_both"
    status[(i_f == nf) & (nf > 0) & (ib == 0)] = "died"
    status[(ib == nb) & (nb > 0) & (i_f == 0)] = "born"
    out["render_status"] = status
    return out.reset_index()


def distance_arrays(pairs: pd.DataFrame) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """Cosine pair rows (layer, channel, net_a, seed_a, net_b, seed_b, cosine) -> groups of
    channels with the same seeds: [(keys (m rows: layer, channel), distance (m, 2S, 2S))].

    Only seeds rendered in both networks are used. A channel with fewer than 2 such seeds,
    or a missing pair among them, is in no group.
    """
    groups: dict[tuple, list] = {}
    for (layer, channel), part in pairs.groupby(KEY, sort=False):
        seeds = {n: set(part.loc[part.net_a == n, "seed_a"]) | set(part.loc[part.net_b == n, "seed_b"]) for n in NETS}
        common = tuple(sorted(seeds["base"] & seeds["finetuned"]))
        if len(common) < 2:
            continue
        pos = {s: i for i, s in enumerate(common)}
        n = len(common)
        d = np.full((2 * n, 2 * n), np.nan)
        np.fill_diagonal(d, 0.0)
        for na, sa, nb, sb, c in part[["net_a", "seed_a", "net_b", "seed_b", "cosine"]].itertuples(index=False):
            if sa in pos and sb in pos:
                i, j = NETS.index(na) * n + pos[sa], NETS.index(nb) * n + pos[sb]
                d[i, j] = d[j, i] = 1.0 - c
        if np.isnan(d).any():
            continue
        groups.setdefault(common, []).append(((layer, channel), d))
    return [
        (pd.DataFrame([k for k, _ in items], columns=KEY), np.stack([d for _, d in items]))
        for items in groups.values()
    ]


def with_kind_same_seed(cosine_pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, channel): identical = it has same-seed pairs and every one has cosine
    exactly 1 (base and fine-tuned renders bit-identical)."""
    same = cosine_pairs[(cosine_pairs.net_a != cosine_pairs.net_b) & (cosine_pairs.seed_a == cosine_pairs.seed_b)]
    return same.groupby(KEY, sort=False).cosine.apply(lambda c: bool((c == 1.0).all())).rename("identical").reset_index()


def channel_inference(
    cosine_pairs: pd.DataFrame,
    renders: pd.DataFrame,
    fdr: float = 0.05,
    prior_df: float = 2.0,
    inactive_ratio: float | None = None,
) -> pd.DataFrame:
    """One row per (layer, channel) with the new per-channel columns.

    cosine_pairs: `features.compare_features` rows; renders: the per-render gray table
    (`gray.gray_table`: net, layer, channel, seed, gray; activation_ratio optional).
    Columns: layer, channel, n_seeds_tested, statistic (T = b - w), noise_level (a),
    noise_sd, effect_size, flip_p_value (exact, coarse; feeds pi0), p_value (pooled flip
    null), q_value (Benjamini-Hochberg per layer over its tested channels),
    significant (q <= fdr), status in STATUSES. Tested: channels with >= 2 seeds in both
    networks, every pair present and no inactive render; the rest have NaN statistics and
    status died / born / gray_both (see `render_status`) or untestable. A channel whose
    renders are bit-identical in the two networks (every same-seed cosine exactly 1: a
    frozen layer with nothing changed upstream, where the flip null is degenerate) has
    status identical: the determinism check, not a test.
    """
    status = render_status(renders, inactive_ratio)
    table = cosine_pairs[KEY].drop_duplicates().merge(status, on=KEY, how="outer")
    table["render_status"] = table["render_status"].fillna("untestable")
    ok = set(map(tuple, table.loc[table.render_status == "ok", KEY].to_numpy().tolist()))
    usable = cosine_pairs[[k in ok for k in zip(cosine_pairs.layer, cosine_pairs.channel)]]

    groups = distance_arrays(usable)
    width = max([d.shape[-1] // 2 for _, d in groups], default=2)
    width = 2 ** (width - 1) - 1
    cols = ["n_seeds_tested", "statistic", "noise_level", "noise_sd", "effect_size", "flip_p_value", "p_value", "q_value"]
    parts = []
    for layer in dict.fromkeys(cosine_pairs.layer):
        keys, flipped = [], []
        for group_keys, distance in groups:
            mine = (group_keys.layer == layer).to_numpy()
            if not mine.any():
                continue
            s = channel_statistics(distance[mine], prior_df)
            keys.append(group_keys[mine].assign(
                n_seeds_tested=distance.shape[-1] // 2, statistic=s["statistic"], noise_level=s["level"],
                noise_sd=s["noise_sd"], effect_size=s["effect_size"], flip_p_value=flip_pvalues(distance[mine]),
            ))
            pad = np.full((int(mine.sum()), width), np.nan)
            pad[:, : s["flipped_effect"].shape[1]] = s["flipped_effect"]
            flipped.append(pad)
        if not keys:
            continue
        part = pd.concat(keys, ignore_index=True)
        pi0 = storey_pi0(part.flip_p_value, 0.5, plus_one=True)
        part["p_value"] = pooled_pvalues(part.effect_size.to_numpy(), np.concatenate(flipped), pi0)
        part["q_value"] = bh_qvalues(part.p_value.to_numpy())
        parts.append(part)
    tested = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=KEY + cols)
    table = table.merge(tested, on=KEY, how="left")
    table["significant"] = table.q_value <= fdr
    tested_mask = table.effect_size.notna()
    table["status"] = np.where(
        tested_mask,
        np.where(table.significant, "changed", "unchanged"),
        table.render_status.where(table.render_status.isin(["died", "born", "gray_both"]), "untestable"),
    )
    same = with_kind_same_seed(cosine_pairs)
    identical = table[KEY].merge(same, on=KEY, how="left").identical.fillna(False).to_numpy(bool)
    table.loc[identical & ~tested_mask.to_numpy(), "status"] = "identical"
    order = list(dict.fromkeys(list(cosine_pairs.layer) + list(renders.layer)))
    table["layer"] = pd.Categorical(table.layer, order, ordered=True)
    table = table.sort_values(KEY).reset_index(drop=True)
    table["layer"] = table.layer.astype(str)
    table["n_seeds_tested"] = table.n_seeds_tested.astype("Int64")
    return table[KEY + cols + ["significant", "status"]]


def layer_inference(
    channels: pd.DataFrame, fdr: float = 0.05, lam: float = 0.5, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
    interval: str = "exact",
) -> pd.DataFrame:
    """One row per layer from `channel_inference`'s table.

    Columns: layer, n_channels, n_tested, n_significant, share_significant (of tested),
    n_identical, n_died, n_born, n_gray_both, n_untestable, n_changed_all (significant + died + born),
    pi0 (Storey, lambda = lam), changed_share (1 - pi0, of tested), changed_share_low /
    _high (`changed_share`'s interval of kind `interval`, at `level`), fdr, pi0_lambda.
    """
    rows = []
    for i, (layer, part) in enumerate(channels.groupby("layer", sort=False)):
        tested = part[part.effect_size.notna()]
        counts = part.status.value_counts()
        est, lo, hi = changed_share(tested.flip_p_value, lam, n_boot, level, seed + i, interval)
        n_sig = int(tested.significant.sum())
        rows.append({
            "layer": layer,
            "n_channels": len(part),
            "n_tested": len(tested),
            "n_significant": n_sig,
            "share_significant": n_sig / len(tested) if len(tested) else float("nan"),
            **{f"n_{k}": int(counts.get(k, 0)) for k in ("identical", "died", "born", "gray_both", "untestable")},
            "n_changed_all": n_sig + int(counts.get("died", 0)) + int(counts.get("born", 0)),
            "pi0": 1 - est if np.isfinite(est) else float("nan"),
            "changed_share": est,
            "changed_share_low": lo,
            "changed_share_high": hi,
            "fdr": fdr,
            "pi0_lambda": lam,
        })
    return pd.DataFrame(rows)


def inference_tables(
    cosine_pairs: pd.DataFrame, renders: pd.DataFrame, settings: Mapping, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`channel_inference` and `layer_inference` with the config's compare settings (fdr,
    prior_df, pi0_lambda, n_boot, share_interval, which defaults to exact); seed seeds a
    bootstrap interval. Returns (per channel, per layer)."""
    per_channel = channel_inference(cosine_pairs, renders, fdr=settings["fdr"], prior_df=settings["prior_df"])
    per_layer = layer_inference(per_channel, fdr=settings["fdr"], lam=settings["pi0_lambda"],
                                n_boot=settings["n_boot"], seed=seed, interval=settings.get("share_interval", "exact"))
    return per_channel, per_layer


def with_inference(
    channels: pd.DataFrame,
    layers: pd.DataFrame,
    cosine_pairs: pd.DataFrame,
    renders: pd.DataFrame,
    settings: dict,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`stats.channel_table`'s and `stats.layer_summary`'s tables with this module's
    columns appended (today's columns untouched): per channel those of
    `channel_inference`, per layer those of `layer_inference` (its n_channels, which
    equals the summary's, left out).

    settings, seed: as `inference_tables`.
    """
    per_channel, per_layer = inference_tables(cosine_pairs, renders, settings, seed)
    channels = channels.merge(per_channel, on=KEY, how="left", validate="one_to_one")
    layers = layers.merge(per_layer.drop(columns="n_channels"), on="layer", how="left", validate="one_to_one")
    return channels, layers
