"""The per-channel change test of compare.inference: calibration and power by simulation,
BH by hand, pi0 and its interval, died/born status, and the channel/layer tables.

Simulated renders. Each channel has a mean render embedding (a random direction in D
dimensions) and its own render noise: a level sigma (log-normal across channels, so
seed-vs-seed cosines range from about 0.99 to 0.3) and a shape (per-dimension scales
decaying with a random exponent: some channels vary along one direction, others along
many). Seed s of both networks shares a random start (correlation rho). A changed
channel's fine-tuned mean moves by `shift * sigma / 2` in a random direction. Renders are
normalised and every pair's cosine is taken, as `features.channel_pairs` does, so the
pairs share renders exactly as in the workflow. Everything is seeded.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from vischange.compare import inference, stats


def simulate(rng, n_layers, m, n_seeds, changed=0.0, shift=6.0, dim=16, rho=0.5, spread=0.8):
    """-> distances (n_layers, m, 2S, 2S) (1 - cosine; base seeds then fine-tuned seeds),
    changed (n_layers, m) bool, level (n_layers, m) sigma."""
    shape = (n_layers, m)
    mean = rng.standard_normal(shape + (dim,))
    mean /= np.linalg.norm(mean, axis=-1, keepdims=True)
    sigma = np.exp(rng.normal(np.log(0.35), spread, shape))
    scales = np.arange(1, dim + 1) ** -rng.uniform(0, 2, shape + (1,))
    scales /= np.linalg.norm(scales, axis=-1, keepdims=True)
    start = rng.standard_normal(shape + (1, n_seeds, dim))
    own = rng.standard_normal(shape + (2, n_seeds, dim))
    noise = (np.sqrt(rho) * start + np.sqrt(1 - rho) * own) * scales[:, :, None, None, :]
    x = mean[:, :, None, None, :] + sigma[:, :, None, None, None] * noise
    is_changed = rng.random(shape) < changed
    direction = rng.standard_normal(shape + (dim,))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    x[:, :, 1] += (is_changed * shift * sigma / 2)[:, :, None, None] * direction[:, :, None, :]
    x = x.reshape(shape + (2 * n_seeds, dim))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return 1 - np.einsum("lmid,lmjd->lmij", x, x), is_changed, sigma


def old_rule(distance):
    """stats' rule: mean cross-seed cosine below the layer's 5th percentile of seed-vs-seed
    cosines (both networks pooled; `stats.noise_floor`) -> (n_layers, m) bool."""
    n = distance.shape[-1] // 2
    s, t = np.triu_indices(n, 1)
    noise = np.concatenate([distance[:, :, s, t], distance[:, :, n + s, n + t]], axis=2)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    cross = 1 - distance[:, :, i, n + j].mean(axis=-1)
    floors = np.array([stats.noise_floor(1 - layer.ravel(), 5.0) for layer in noise])
    return cross < floors[:, None]


def new_rule(distance, fdr=0.05):
    """compare.inference per layer, as channel_inference runs it -> significant, p, pi0 (n_layers,)."""
    sig, p, pi0 = np.zeros(distance.shape[:2], bool), np.zeros(distance.shape[:2]), np.zeros(len(distance))
    for k, layer in enumerate(distance):
        s = inference.channel_statistics(layer)
        flips = inference.flip_pvalues(layer)
        pi0[k] = inference.storey_pi0(flips)
        p[k] = inference.pooled_pvalues(s["effect_size"], s["flipped_effect"], inference.storey_pi0(flips, plus_one=True))
        sig[k] = inference.bh_qvalues(p[k]) <= fdr
    return sig, p, pi0


def share_se(flags, among=None):
    """Share of True among `among` in (n_layers, m) arrays and its standard error with
    layers as clusters (ratio estimator): channels of a layer share its null pool."""
    among = np.ones_like(flags, dtype=bool) if among is None else among
    hits, sizes = (flags & among).sum(axis=1), among.sum(axis=1)
    share = hits.sum() / sizes.sum()
    return share, np.sqrt(np.sum((hits - share * sizes) ** 2)) / sizes.sum()


@pytest.fixture(scope="module")
def demo_null():
    """No change; the demo's shape: 2 seeds, layers of 8 channels."""
    return simulate(np.random.default_rng(11), 1600, 8, 2)


@pytest.fixture(scope="module")
def study_null():
    """No change; 3 seeds (the issue's default), layers of 64 channels."""
    return simulate(np.random.default_rng(12), 200, 64, 3)


@pytest.fixture(scope="module")
def planted():
    """20% of channels changed; 3 seeds, layers of 64 channels."""
    return simulate(np.random.default_rng(13), 120, 64, 3, changed=0.2, shift=6.0)


# ---------------------------------------------------------------- calibration and power


@pytest.mark.parametrize("case", ["demo_null", "study_null"])
def test_no_change_false_positive_share(case, request):
    distance, _, sigma = request.getfixturevalue(case)
    sig, p, _ = new_rule(distance)
    old = old_rule(distance)
    noisy = sigma > np.quantile(sigma, 2 / 3)
    # The new test at q = 0.05: no more than 5% of the (all null) channels significant, and
    # no more than 5% of layers with any false discovery (the FDR when nothing changed).
    assert sig.mean() <= 0.05
    assert sig.any(axis=1).mean() <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / len(sig))
    # Its p-values are calibrated overall and among the noisiest third of channels.
    for part in (None, noisy):
        share, se = share_se(p <= 0.05, part)
        assert share <= 0.05 + 2 * se
    # The old rule's errors follow render noise: the noisiest third of channels is flagged
    # far more than 5% of the time, and almost every layer has a false "change".
    assert old[noisy].mean() > 0.09
    assert old.any(axis=1).mean() > 0.3


def test_old_rule_exceeds_five_percent_on_demo_sized_layers(demo_null):
    # Layers of 8 channels: a 5th percentile of 16 seed-vs-seed cosines, including the
    # channel's own, sits too high.
    share, se = share_se(old_rule(demo_null[0]))
    assert share > 0.05 + 3 * se


def test_old_rule_helper_matches_stats_channel_table():
    distance, _, _ = simulate(np.random.default_rng(5), 2, 10, 2)
    cos, gram, renders = pair_tables(distance)
    table = stats.channel_table(cos, gram, renders)
    assert (table.below_floor.to_numpy() == old_rule(distance).ravel()).all()


def test_planted_changes_are_found(planted):
    distance, changed, _ = planted
    sig, _, pi0 = new_rule(distance)
    power = sig[changed].mean()
    fdp = (sig & ~changed).sum(axis=1) / np.maximum(sig.sum(axis=1), 1)
    assert power > 0.6
    assert fdp.mean() <= 0.05
    old = old_rule(distance)
    old_fdp = (old & ~changed).sum(axis=1) / np.maximum(old.sum(axis=1), 1)
    assert old_fdp.mean() > 0.2  # the old rule has no FDR control
    # pi0 ~ the true null share (0.8); weak changes with a negative statistic make it conservative.
    assert abs((1 - pi0).mean() - changed.mean()) < 0.04


@pytest.mark.parametrize("n_seeds", [2, 3])
def test_null_pvalues_are_uniform(n_seeds):
    # One channel per simulated layer, so the p-values are independent; pi0 estimated.
    distance, _, _ = simulate(np.random.default_rng(20 + n_seeds), 300, 128, n_seeds)
    p = []
    for layer in distance:
        s = inference.channel_statistics(layer)
        pi0 = inference.storey_pi0(inference.flip_pvalues(layer))
        p.append(inference.pooled_pvalues(s["effect_size"], s["flipped_effect"], pi0)[0])
    assert sstats.kstest(p, "uniform").pvalue > 0.01


def test_pi0_is_one_without_change(study_null):
    distance = study_null[0][:60]
    flip_p = np.array([inference.flip_pvalues(layer) for layer in distance])
    # Storey's estimate before clipping, all layers pooled: 1 within Monte Carlo error.
    raw = np.mean(flip_p > 0.5) / 0.5
    assert abs(raw - 1) < 3 * 2 * np.sqrt(0.25 / flip_p.size)
    # Per layer (64 channels) it is clipped at 1, so it averages a little below 1.
    pi0 = np.array([inference.storey_pi0(p) for p in flip_p])
    assert (pi0 <= 1).all() and pi0.mean() > 0.9


def test_flip_pvalues_are_exact_and_coarse(study_null):
    distance = study_null[0][:20].reshape(-1, 6, 6)
    p = inference.flip_pvalues(distance)
    assert set(np.unique(p)) <= {0.25, 0.5, 0.75, 1.0}  # 4 relabelings with 3 seeds
    assert np.mean(p > 0.5) == pytest.approx(0.5, abs=0.05)
    assert inference.seed_flips(2).tolist() == [[1, 1], [1, -1]]


# ---------------------------------------------------------------- hand computations


def test_excess_matches_pair_kinds():
    distance, _, _ = simulate(np.random.default_rng(1), 1, 4, 3)
    cos, _, _ = pair_tables(distance)
    kinds = stats.with_kind(cos).assign(d=lambda t: 1 - t.cosine)
    means = kinds.pivot_table(index="channel", columns="kind", values="d")
    b = means.cross_seed
    w = kinds[kinds.kind.str.startswith("noise")].groupby("channel").d.mean()
    excess, level = inference.relabeled_excess(distance[0])
    assert excess[:, 0] == pytest.approx((b - w).to_numpy())
    assert level == pytest.approx(((b + w) / 2).to_numpy())


def test_effect_size_sign_and_flip():
    # Two seeds: renders base 0, base 1, fine-tuned 0, fine-tuned 1.
    near, far = 0.1, 0.5
    d = np.full((4, 4), far)
    d[0, 1] = d[1, 0] = d[2, 3] = d[3, 2] = near  # each network's seeds close: changed
    d[0, 2] = d[2, 0] = d[1, 3] = d[3, 1] = 0.05  # same-seed pairs: never used
    np.fill_diagonal(d, 0)
    other = d.copy()
    other[0, 1] = other[1, 0] = other[2, 3] = other[3, 2] = far
    other[0, 3] = other[3, 0] = other[1, 2] = other[2, 1] = near  # cross pairs closer
    s = inference.channel_statistics(np.stack([d, other]))
    assert s["statistic"] == pytest.approx([far - near, near - far])
    assert s["effect_size"][0] > 0 > s["effect_size"][1]
    assert s["flipped_effect"][:, 0] == pytest.approx(-s["effect_size"])  # the one flip negates
    assert s["noise_sd"] * s["effect_size"] == pytest.approx(s["statistic"])


def test_bh_qvalues_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan, 0.005])
    # Sorted finite p: 0.005, 0.01, 0.03, 0.04, 0.20 (m = 5); p * m / rank:
    # 0.025, 0.025, 0.05, 0.05, 0.20; running minimum from the top: the same.
    q = inference.bh_qvalues(p)
    assert q[[5, 0, 2, 1, 3]] == pytest.approx([0.025, 0.025, 0.05, 0.05, 0.20])
    assert np.isnan(q[4])
    # A case where the running minimum matters: p = 0.02, 0.021 -> 0.04 and 0.021 both -> 0.021.
    assert inference.bh_qvalues([0.02, 0.021]) == pytest.approx([0.021, 0.021])


def test_pooled_pvalues_by_hand():
    effect = np.array([3.0, 0.5, -1.0, 1.5])
    flipped = np.array([[-3.0], [2.0], [1.0], [-1.5]])
    # Each channel against the other three flips, (1 + #flips >= e) / (1 + 3):
    # 3.0: none -> 1/4; 0.5: 1.0 -> 2/4; -1.0: 2.0 (its own 1.0 left out) -> 2/4; 1.5: 2.0 -> 2/4.
    p = inference.pooled_pvalues(effect, flipped, 1.0)
    assert p == pytest.approx([1 / 4, 2 / 4, 2 / 4, 2 / 4])
    # pi0 = 0.5 halves the pool's size: (1 + 0) / (1 + 1.5).
    assert inference.pooled_pvalues(effect, flipped, 0.5)[0] == pytest.approx(1 / 2.5)
    assert np.isnan(inference.pooled_pvalues([np.nan, 1.0], [[1.0], [0.0]], 1.0)[0])


def test_storey_pi0_and_bootstrap_interval():
    assert inference.storey_pi0([0.1, 0.2, 0.6, 0.9], 0.5) == pytest.approx(1.0)
    assert inference.storey_pi0([0.1, 0.2, 0.3, 0.9], 0.5) == pytest.approx(0.5)
    # Flip p-values of 2 seeds: a null channel has p = 1/2 or 1 with equal chance, a changed
    # one p = 1/2. True changed share 0.3; the 95% interval covers it in about 95% of layers.
    rng = np.random.default_rng(4)
    truth, covered = 0.3, []
    for _ in range(100):
        changed = rng.random(400) < truth
        p = np.where(changed | (rng.random(400) < 0.5), 0.5, 1.0)
        est, lo, hi = inference.changed_share(p, n_boot=400, seed=int(rng.integers(1 << 30)), method="bootstrap")
        covered.append(lo <= truth <= hi)
        assert lo <= est <= hi
    assert np.mean(covered) >= 0.88
    assert inference.changed_share(p, seed=1, method="bootstrap") == inference.changed_share(p, seed=1, method="bootstrap")
    assert inference.storey_pi0([0.1, 0.2, 0.3, 0.4], 0.5, plus_one=True) == pytest.approx(0.5)  # (1 + 0) / 2


@pytest.mark.parametrize("m, truth", [(8, 0.0), (8, 0.5), (32, 0.2), (200, 0.3)])
def test_exact_changed_share_interval_keeps_its_level(m, truth):
    """Flip p-values of 3 seeds (a null channel's is 1/4, 1/2, 3/4 or 1 with equal chance, a
    changed one's 1/4): the exact interval covers the true changed share in 95% of layers,
    within Monte Carlo error (1,000 layers: standard error 0.7 points), also with 8 channels."""
    rng = np.random.default_rng(m)
    covered = []
    for _ in range(1000):
        changed = rng.random(m) < truth
        p = np.where(changed, 0.25, rng.choice([0.25, 0.5, 0.75, 1.0], m))
        est, lo, hi = inference.changed_share(p, method="exact")
        assert lo <= est <= hi
        covered.append(lo <= truth <= hi)
    assert np.mean(covered) >= 0.94


def test_the_bootstrap_interval_collapses_where_the_exact_one_does_not():
    """8 channels, every flip p-value at its smallest (1/4 with 3 seeds): the percentile
    bootstrap says [1, 1]; the exact interval keeps what 8 channels cannot exclude."""
    p = [0.25] * 8
    assert inference.changed_share(p, method="bootstrap") == (1.0, 1.0, 1.0)
    est, lo, hi = inference.changed_share(p, method="exact")
    assert est == hi == 1.0 and lo == pytest.approx(1 - (1 - 0.025 ** (1 / 8)) / 0.5)
    with pytest.raises(ValueError, match="interval method"):
        inference.changed_share([0.5], method="wald")


def test_a_layer_where_every_channel_changed_keeps_small_pvalues():
    """Every channel changed: the plain pi0 estimate is 0 and would leave no null pool
    (p = 1 for all); the finite-sample pi0 keeps the pooled p-values small."""
    distance, changed, _ = simulate(np.random.default_rng(2), 1, 16, 3, changed=1.0, shift=10.0)
    cos, _, renders = pair_tables(distance)
    table = inference.channel_inference(cos, renders)
    assert changed.all() and (table.p_value < 0.2).all()


# ---------------------------------------------------------------- status and tables


def test_died_born_and_gray_status():
    rows = []
    gray = {
        0: {"base": [0, 0], "finetuned": [1, 1]},  # died
        1: {"base": [1, 1], "finetuned": [0, 0]},  # born
        2: {"base": [1, 0], "finetuned": [0, 1]},  # gray in both networks
        3: {"base": [0, 0], "finetuned": [1, 0]},  # partly gray in one network
        4: {"base": [0, 0], "finetuned": [0, 0]},
        5: {"base": [0, 0], "finetuned": [0, 0]},  # nearly inactive in fine-tuned
    }
    for channel, nets in gray.items():
        for net, flags in nets.items():
            for seed, flag in enumerate(flags):
                ratio = 0.01 if channel == 5 and net == "finetuned" else 1.0
                rows.append({"net": net, "layer": "a", "channel": channel, "seed": seed, "gray": bool(flag), "activation_ratio": ratio})
    renders = pd.DataFrame(rows)
    status = inference.render_status(renders).set_index("channel").render_status
    assert status.to_dict() == {0: "died", 1: "born", 2: "gray_both", 3: "partly_gray", 4: "ok", 5: "ok"}
    status = inference.render_status(renders, inactive_ratio=0.1).set_index("channel").render_status
    assert status[5] == "died"


def pair_tables(distance):
    """(n_layers, m, 2S, 2S) -> cosine pair rows, Gram pair rows and render rows, layers "l0"...."""
    n = distance.shape[-1] // 2
    keys = [("base", s) for s in range(n)] + [("finetuned", s) for s in range(n)]
    cos, renders = [], []
    for li, layer in enumerate(distance):
        for c, d in enumerate(layer):
            for (i, a), (j, b) in itertools.combinations(enumerate(keys), 2):
                cos.append({"layer": f"l{li}", "channel": c, "net_a": a[0], "seed_a": a[1], "net_b": b[0], "seed_b": b[1], "cosine": 1 - d[i, j]})
            for net, seed in keys:
                renders.append({"net": net, "layer": f"l{li}", "channel": c, "seed": seed, "file": "x", "gray_score": 500.0, "gray": False})
    cos = pd.DataFrame(cos)
    gram = cos.drop(columns="cosine").assign(feature_layer="conv1", gram_distance=1 - cos.cosine)
    return cos, gram, pd.DataFrame(renders)


def test_channel_and_layer_tables():
    distance, changed, _ = simulate(np.random.default_rng(8), 2, 48, 3, changed=0.4, shift=10.0)
    cos, _, renders = pair_tables(distance)
    died = (renders.layer == "l0") & (renders.channel == 0) & (renders.net == "finetuned")
    renders.loc[died, "gray"] = True
    renders.loc[(renders.layer == "l0") & (renders.channel == 1) & (renders.seed == 0), "gray"] = True
    # A render missing: fine-tuned seed 2 of l1 channel 2.
    gone = lambda t, net, seed: (t.layer == "l1") & (t.channel == 2) & (t[net] == "finetuned") & (t[seed] == 2)
    cos = cos[~(gone(cos, "net_a", "seed_a") | gone(cos, "net_b", "seed_b"))]
    renders = renders[~gone(renders, "net", "seed")]
    channels = inference.channel_inference(cos, renders)
    assert len(channels) == 96 and list(channels.columns[:2]) == ["layer", "channel"]
    assert set(channels.status) <= set(inference.STATUSES)
    row = channels.set_index(["layer", "channel"])
    assert row.loc[("l0", 0)].status == "died" and np.isnan(row.loc[("l0", 0)].p_value)
    assert row.loc[("l0", 1)].status == "gray_both"
    assert row.loc[("l1", 2)].n_seeds_tested == 2  # tested on the seeds it has in both networks
    tested = channels.dropna(subset=["effect_size"])
    for _, part in tested.groupby("layer"):
        assert part.q_value.to_numpy() == pytest.approx(inference.bh_qvalues(part.p_value))
    assert (channels.status == "changed").sum() > 0
    assert channels.significant.to_numpy()[~changed.ravel()].sum() <= 1
    layers = inference.layer_inference(channels)
    first = layers.set_index("layer").loc["l0"]
    assert first.n_channels == 48 and first.n_died == 1 and first.n_gray_both == 1 and first.n_tested == 46
    assert first.n_changed_all == first.n_significant + 1
    assert first.changed_share_low <= first.changed_share <= first.changed_share_high
    assert first.pi0 == pytest.approx(1 - first.changed_share)


def test_with_inference_appends_columns_and_keeps_todays():
    """The compare_channels job's tables: today's columns unchanged, the test's appended;
    a channel gray in every fine-tuned render only is counted as died, not dropped."""
    from .test_compare_stats import make_pairs

    rng = np.random.default_rng(3)
    values = {}
    for c in range(12):
        noise = 0.90 + 0.005 * c
        jitter = rng.uniform(-0.01, 0.01, 3)
        values[("a", c)] = {"same_seed": 0.99, "cross_seed": (0.3 if c == 0 else noise) + jitter[0],
                            "noise_base": noise + jitter[1], "noise_finetuned": noise + jitter[2]}
    cos, gram, renders = make_pairs(values)
    renders.loc[(renders.channel == 5) & (renders.net == "finetuned"), "gray"] = True
    channels = stats.channel_table(cos, gram, renders, ["a"], percentile=5)
    layers = stats.layer_summary(channels, stats.gram_table(gram, channels), 5)
    settings = {"fdr": 0.05, "prior_df": 2.0, "pi0_lambda": 0.5, "n_boot": 50}
    new_channels, new_layers = inference.with_inference(channels, layers, cos, renders, settings, seed=1)
    pd.testing.assert_frame_equal(new_channels[channels.columns], channels)
    pd.testing.assert_frame_equal(new_layers[layers.columns], layers)
    assert {"effect_size", "p_value", "q_value", "significant", "status"} <= set(new_channels.columns)
    assert new_channels.set_index("channel").status[5] == "died"
    row = new_layers.iloc[0]
    assert row.n_died == 1 and row.n_tested == 11 and row.n_changed_all == row.n_significant + 1
    assert 0 <= row.changed_share_low <= row.changed_share_high <= 1


def test_bit_identical_renders_are_the_determinism_check_not_a_test():
    """A frozen channel (every same-seed cosine exactly 1) is 'identical', never tested."""
    from .test_compare_stats import make_pairs

    cos, _, renders = make_pairs({("frozen", 0): {"same_seed": 1.0, "cross_seed": 0.9, "noise_base": 0.9, "noise_finetuned": 0.9},
                                  ("frozen", 1): {"same_seed": 1.0, "cross_seed": 0.95, "noise_base": 0.95, "noise_finetuned": 0.95}})
    table = inference.channel_inference(cos, renders)
    assert list(table.status) == ["identical", "identical"] and table.effect_size.isna().all()
    layer = inference.layer_inference(table, n_boot=20).iloc[0]
    assert layer.n_identical == 2 and layer.n_tested == 0 and layer.n_changed_all == 0
