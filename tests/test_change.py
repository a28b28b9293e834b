"""Change without renders: linear CKA, its bootstrap interval and reference, per-channel
correlation, relative weight change, and the job on two tiny ResNet-18 checkpoints that
differ only from layer4 on (the layers before it are the control: exactly 1)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from PIL import Image

from vischange import models, registry
from vischange.change import figures, measures, stages, variables
from vischange.change.measures import channel_correlation, cka_interval, cka_null, linear_cka, weight_change


def _related(n=300, c1=8, c2=12, noise=1.0, seed=0):
    """x (n, c1) and y (n, c2) = a linear map of x plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c1))
    return x, x @ rng.normal(size=(c1, c2)) + noise * rng.normal(size=(n, c2))


# Linear CKA ----------------------------------------------------------------------------


def test_cka_matches_hand_computations():
    # One channel each: linear CKA is the squared Pearson correlation. x - mean = (-1, 0, 1),
    # y - mean = (0, -1, 1): YᵀX = 1, XᵀX = YᵀY = 2, CKA = 1² / (2 * 2).
    assert linear_cka([[1.0], [2.0], [3.0]], [[1.0], [0.0], [2.0]]) == pytest.approx(0.25, abs=1e-15)
    # x is centred, XᵀX = 2 I (||.||_F = 2√2); y - mean = (3, -1, -1, -1) / 4: YᵀX = (1, 0),
    # YᵀY = 3/4. CKA = 1 / (2√2 · 3/4) = √2 / 3.
    x = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]
    y = [[1.0], [0.0], [0.0], [0.0]]
    assert linear_cka(x, y) == pytest.approx(np.sqrt(2) / 3, abs=1e-15)
    assert linear_cka(y, x) == pytest.approx(np.sqrt(2) / 3, abs=1e-15)


@pytest.mark.parametrize("n, c", [(3, 1), (50, 512), (200, 64), (37, 3), (500, 700)])
def test_identical_features_give_exactly_one(n, c):
    rng = np.random.default_rng(n * c)
    x = (rng.normal(size=(n, c)) * rng.uniform(0.01, 100)).astype(np.float32)
    assert linear_cka(x, x) == 1.0
    assert linear_cka(x, x.copy()) == 1.0
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(x.copy())) == 1.0
    # The same values at another address (offset by one element) as from another network's pass.
    buffer = np.empty(n * c + 1, dtype=np.float32)
    shifted = buffer[1:].reshape(n, c)
    shifted[...] = x
    assert linear_cka(x, shifted) == 1.0


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling_only():
    x, y = _related()
    value = linear_cka(x, y)
    assert 0.1 < value < 0.99
    qx = scipy.stats.ortho_group.rvs(x.shape[1], random_state=1)
    qy = scipy.stats.ortho_group.rvs(y.shape[1], random_state=2)
    assert linear_cka(x @ qx, y @ qy) == pytest.approx(value, abs=1e-12)
    assert linear_cka(3.7 * x, 0.02 * y) == pytest.approx(value, abs=1e-12)
    assert linear_cka(x + 5.0, y - 2.0) == pytest.approx(value, abs=1e-12)  # centring
    # Not invariant to scaling channels unequally: the tests above can fail.
    assert abs(linear_cka(x * np.arange(1, x.shape[1] + 1), y) - value) > 1e-3


def test_cka_of_independent_features_is_small_with_many_images_and_not_with_few():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    assert linear_cka(x, y) < 0.02
    # Channels outnumbering images: unrelated features still give a large CKA, and the
    # shuffled-images reference shows it.
    x, y = rng.normal(size=(30, 500)), rng.normal(size=(30, 500))
    few = linear_cka(x, y)
    assert few > 0.5
    assert np.mean(cka_null(x, y, n_perm=20, rng=0)) == pytest.approx(few, abs=0.05)


def test_cka_null_pairs_each_image_of_x_with_a_shuffled_image_of_y():
    x, y = _related(n=60)
    null = cka_null(x, y, n_perm=3, rng=7)
    rng = np.random.default_rng(7)
    direct = [linear_cka(x, y[rng.permutation(60)]) for _ in range(3)]
    assert null == pytest.approx(direct, abs=1e-12)
    assert np.all(null < linear_cka(x, y) / 2)
    assert cka_null(x, y, n_perm=3, rng=7).tolist() == null.tolist()


def test_constant_features_give_nan():
    x = np.full((10, 3), 0.1)
    assert np.isnan(linear_cka(x, np.random.default_rng(0).normal(size=(10, 2))))
    assert np.isnan(cka_interval(x, x, n_boot=10)[0])
    with pytest.raises(ValueError, match="numbers of images"):
        linear_cka(np.ones((4, 2)), np.ones((5, 2)))


# Bootstrap interval -----------------------------------------------------------------------


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    x, y = _related(n=150)
    value = linear_cka(x, y)
    low, high = cka_interval(x, y, n_boot=200, rng=5)
    assert low < value < high and high - low < 0.2
    assert cka_interval(x, y, n_boot=200, rng=5) == (low, high)
    assert cka_interval(x, y, n_boot=200, rng=6) != (low, high)
    assert cka_interval(x, y, n_boot=200, confidence=0.5, rng=5)[1] - cka_interval(
        x, y, n_boot=200, confidence=0.5, rng=5)[0] < high - low
    assert cka_interval(x, x.copy(), n_boot=50) == (1.0, 1.0)


def test_bootstrap_interval_contains_the_estimate_when_channels_outnumber_images():
    # Resampling repeats images and raises CKA here; a percentile interval misses the estimate.
    x, y = _related(n=40, c1=300, c2=300, noise=8.0, seed=2)
    value = linear_cka(x, y)
    low, high = cka_interval(x, y, n_boot=200, rng=0)
    assert low < value < high


def test_bootstrap_spread_matches_fresh_draws_of_images():
    """The interval's width tracks how CKA varies over new draws of the same number of images."""
    rng = np.random.default_rng(11)
    mix = rng.normal(size=(6, 6))

    def draw(n):
        z = rng.normal(size=(n, 6))
        return z, z @ mix + 2.0 * rng.normal(size=(n, 6))

    spread = np.std([linear_cka(*draw(100)) for _ in range(150)])
    low, high = cka_interval(*draw(100), n_boot=300, confidence=0.6827, rng=0)  # ±1 sd
    assert 0.5 < (high - low) / 2 / spread < 2.0


# Per-channel correlation ----------------------------------------------------------------


def test_channel_correlation_identical_is_exactly_one_and_agrees_with_scipy():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(50, 400)) * rng.uniform(0.01, 100, size=400)).astype(np.float32)
    assert (channel_correlation(x, x.copy()) == 1.0).all()
    y = x + rng.normal(size=x.shape).astype(np.float32) * 30
    r = channel_correlation(x, y)
    expected = scipy.stats.pearsonr(x.astype(np.float64), y.astype(np.float64), axis=0).statistic
    assert r == pytest.approx(expected, abs=1e-12)
    assert (channel_correlation(x, -2 * x) == -1.0).all()


def test_constant_channels_have_no_correlation():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 4))
    y = x.copy()
    x[:, 1] = 0.1  # 0.1 * 9 / 9 != 0.1 in floating point: centring alone would not give 0
    y[:, 2] = 0.0  # a dead channel in one network only
    r = channel_correlation(x, y)
    assert np.isnan(r[1]) and np.isnan(r[2])
    assert r[0] == 1.0 and r[3] == 1.0
    with pytest.raises(ValueError, match="same shape"):
        channel_correlation(x, y[:, :3])


# Weights ------------------------------------------------------------------------------


def _state(**tensors):
    return {k.replace("__", "."): torch.tensor(v, dtype=torch.float32 if k[-7:] != "tracked" else torch.long)
            for k, v in tensors.items()}


def test_weight_change_hand_case():
    base = _state(block__conv__weight=[[[[3.0]], [[4.0]]]], block__fc__weight=[[0.0, 12.0]], block__fc__bias=[0.0],
                  block__bn__weight=[1.0, 1.0], block__bn__bias=[0.0, 0.0], block__bn__running_mean=[0.0, 0.0],
                  block__bn__running_var=[1.0, 1.0], block__bn__num_batches_tracked=0,
                  frozen__weight=[[1.0, 2.0]], frozen__bias=[0.5], head__weight=[[1.0, 2.0]], head__bias=[0.0])
    ft = copy.deepcopy(base)
    ft["block.fc.weight"] = torch.tensor([[5.0, 12.0]])  # kernels: ||Δ|| = 5, ||W|| = sqrt(9 + 16 + 144) = 13
    ft["block.bn.weight"] = torch.tensor([1.0, 2.0])  # other: ||Δ|| = 1, ||θ|| = sqrt(2)
    ft["block.bn.running_var"] = torch.tensor([1.0, 3.0])  # stats: ||Δ|| = 2, ||s|| = sqrt(2)
    ft["block.bn.num_batches_tracked"] = torch.tensor(7)  # a counter: in no norm
    ft["head.weight"] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # a new head with another class count
    table = weight_change(base, ft, ["block", "frozen", "head"]).set_index("module")
    assert table.loc["block", "kernel_change"] == pytest.approx(5 / 13)
    assert table.loc["block", "other_change"] == pytest.approx(1 / np.sqrt(2))
    assert table.loc["block", "stat_change"] == pytest.approx(np.sqrt(2))
    assert table.loc["block", "n_kernel"] == 4 and table.loc["block", "kernel_norm"] == pytest.approx(13)
    assert not table.loc["block", "identical"] and not table.loc["block", "replaced"]
    assert table.loc["frozen", "kernel_change"] == 0.0 and table.loc["frozen", "other_change"] == 0.0
    assert np.isnan(table.loc["frozen", "stat_change"]) and table.loc["frozen", "identical"]
    assert table.loc["head", "replaced"] and np.isnan(table.loc["head", ["kernel_change", "other_change"]]).all()
    # A re-initialised head of the same shape is named, not detected.
    same = weight_change(base, base, ["head", "block"], replaced=["head"]).set_index("module")
    assert same.loc["head", "replaced"] and np.isnan(same.loc["head", "kernel_change"])
    assert same.loc["block", ["kernel_change", "other_change", "stat_change"]].tolist() == [0.0, 0.0, 0.0]
    tensors = measures.tensor_change(base, ft).set_index("tensor")
    assert tensors.loc["block.bn.num_batches_tracked", "kind"] == "counter"
    assert tensors.loc["block.conv.weight", ["kind", "shape"]].tolist() == ["kernel", "1x2x1x1"]
    assert tensors.loc["block.fc.bias", "kind"] == "other" and tensors.loc["block.bn.running_var", "kind"] == "stat"
    with pytest.raises(KeyError, match="nothing"):
        weight_change(base, ft, ["nothing"])


def test_frozen_modules_of_a_resnet_change_by_exactly_zero():
    torch.manual_seed(0)
    base = models.build("resnet18", 4)
    ft = copy.deepcopy(base)
    with torch.no_grad():
        for p in ft.layer4.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    names = measures.weight_modules(base)
    assert names[:4] == ["conv1", "bn1", "layer1.0", "layer1.1"] and names[-3:] == ["layer4.0", "layer4.1", "fc"]
    table = weight_change(base.state_dict(), ft.state_dict(), names).set_index("module")
    frozen = [n for n in names if not n.startswith("layer4")]
    assert (table.loc[frozen, ["kernel_change", "other_change", "stat_change"]].fillna(0.0) == 0.0).all().all()
    assert table.loc[frozen, "identical"].all()
    assert (table.loc[["layer4.0", "layer4.1"], "kernel_change"] > 0).all()
    order = models.module_names(base)
    state_b, state_f = base.state_dict(), ft.state_dict()
    assert measures.identical_upstream(state_b, state_f, order, "layer3")
    assert measures.identical_upstream(state_b, state_f, order, "layer3.1.relu")
    assert not measures.identical_upstream(state_b, state_f, order, "layer4.0")
    assert measures.touches("layer4", ["layer4.0"]) and measures.touches("layer4.0.conv1", ["layer4"])
    assert not measures.touches("layer3", ["layer4.0", "fc"]) and not measures.touches("layer4.1", ["layer4.0"])


# The job ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def change_run(tmp_path_factory):
    """Two ResNet-18 checkpoints, the second with layer4 moved (weights and BatchNorm
    statistics) and a new 3-class head; 12 images, 10 of them used; run twice."""
    folder = tmp_path_factory.mktemp("change")
    torch.manual_seed(0)
    base = models.build("resnet18", 4).eval()
    ft = copy.deepcopy(base)
    with torch.no_grad():
        for p in ft.layer4.parameters():
            p.add_(0.005 * torch.randn_like(p))
        ft.layer4[0].bn1.running_mean.add_(0.1)
    models.replace_head(ft, 3, torch.Generator().manual_seed(1))
    stats = dict(mean=[0.5] * 3, std=[0.25] * 3)
    models.save_checkpoint(folder / "base.pt", base, arch="resnet18", class_names=list("abcd"), **stats)
    models.save_checkpoint(folder / "finetuned.pt", ft, arch="resnet18", class_names=list("xyz"), **stats)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "test.csv").write_text("path,label\n" + "".join(f"{i}.png,{i % 3}\n" for i in range(12)))
    runs = []
    for run in ("a", "b"):
        out = {k: folder / run / f"{k}.csv" for k in ("layers", "channels", "weights", "tensors")}
        stages.activation_change(
            folder / "base.pt", folder / "finetuned.pt", folder / "test.csv",
            layers=["conv1", "layer1", "layer2.1", "layer3", "layer4.0", "layer4"],
            settings=dict(max_images=10, batch_size=5, n_boot=50, confidence=0.95, n_null=5),
            data=dict(image_size=32, eval_crop=1.0), seed=0, device="cpu", trainable=["layer4"],
            **{f"out_{k}": v for k, v in out.items()},
        )
        runs.append(out)
    return folder, runs


def test_layers_before_the_fine_tuned_block_give_exactly_one(change_run):
    _, (out, _) = change_run
    layers = pd.read_csv(out["layers"]).set_index("layer")
    assert list(layers.columns) == stages.LAYER_COLUMNS[1:]
    assert (layers.n_images == 10).all()
    assert layers.n_channels.tolist() == [64, 64, 128, 256, 512, 512]
    control = ["conv1", "layer1", "layer2.1", "layer3"]
    assert layers.loc[control, "identical_upstream"].all() and not layers.loc[control, "fine_tuned"].any()
    assert (layers.loc[control, ["cka", "cka_low", "cka_high", "corr_median"]] == 1.0).all().all()
    moved = ["layer4.0", "layer4"]
    assert not layers.loc[moved, "identical_upstream"].any() and layers.loc[moved, "fine_tuned"].all()
    assert (layers.loc[moved, "cka"] < 1).all() and (layers.loc[moved, "cka_low"] <= layers.loc[moved, "cka"]).all()
    channels = pd.read_csv(out["channels"])
    assert list(channels.columns) == stages.CHANNEL_COLUMNS and len(channels) == layers.n_channels.sum()
    early = channels[channels.layer.isin(control)]
    # Random weights on 32 px images leave a few channels dead (0 for every image): no correlation.
    dead = early.correlation.isna()
    assert dead.sum() == layers.loc[control, "n_constant"].sum() < 0.05 * len(early)
    assert (early[dead].base_mean == 0).all() and (early.correlation[~dead] == 1.0).all()
    assert (early.base_mean == early.finetuned_mean).all()
    late = channels[channels.layer.isin(moved)].correlation.dropna()
    assert len(late) and (late < 1.0).any()


def test_weights_table_marks_frozen_fine_tuned_and_replaced_modules(change_run):
    _, (out, _) = change_run
    weights = pd.read_csv(out["weights"]).set_index("module")
    assert list(weights.index[:3]) == ["conv1", "bn1", "layer1.0"] and list(weights.index[-2:]) == ["fc", "layer4"]
    frozen = [m for m in weights.index if not m.startswith(("layer4", "fc"))]
    changes = weights.loc[frozen, ["kernel_change", "other_change", "stat_change"]]
    assert ((changes == 0.0) | changes.isna()).all().all() and (changes.kernel_change.dropna() == 0.0).sum() == 7
    assert weights.loc[frozen, "identical"].all()
    assert not weights.loc[frozen, "fine_tuned"].any()
    assert (weights.loc[["layer4.0", "layer4.1", "layer4"], "kernel_change"] > 0).all()
    assert weights.loc[["layer4.0", "layer4.1", "fc", "layer4"], "fine_tuned"].all()
    assert weights.loc["layer4.0", "stat_change"] > 0 and weights.loc["fc", "replaced"]
    assert np.isnan(weights.loc["fc", "kernel_change"])
    tensors = pd.read_csv(out["tensors"])
    assert tensors.tensor.iloc[0] == "conv1.weight" and tensors[tensors.tensor.str.startswith("layer1.")].identical.all()


def test_reruns_write_identical_tables_and_the_figure(change_run):
    folder, (a, b) = change_run
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    out = [folder / "change.png", folder / "change.pdf"]
    stages.activation_change_figure(a["layers"], a["channels"], a["weights"], out)
    assert all(p.stat().st_size > 1000 for p in out)
    # Without the fine-tuning config the flags stay empty and the figure still draws.
    layers = pd.read_csv(a["layers"]).assign(fine_tuned=None)
    weights = pd.read_csv(a["weights"]).assign(fine_tuned=None)
    figures.change_figure(layers, pd.read_csv(a["channels"]), weights, [folder / "unknown.png"])
    assert (folder / "unknown.png").exists()


def test_crosscheck_ranks_agree_when_both_measures_see_the_same_change(tmp_path):
    """Spearman's rho across channels: +1 for a monotone relation, about 0 for unrelated
    measures; channels without an effect size (gray, identical) or a correlation are left out."""
    from vischange.change import crosscheck

    rng = np.random.default_rng(0)
    render = pd.DataFrame({"layer": ["a"] * 12 + ["b"] * 12, "channel": list(range(12)) * 2,
                           "effect_size": np.r_[np.arange(12.0), rng.normal(size=12)]})
    render.loc[3, "effect_size"] = np.nan  # a gray channel: no effect size
    activation = pd.DataFrame({"layer": ["a"] * 20 + ["b"] * 20, "channel": list(range(20)) * 2,
                               "correlation": np.r_[1 - np.exp(np.arange(20.0) / 5) / 100, rng.uniform(0, 1, 20)]})
    joined = crosscheck.joined_channels(render, activation)
    assert len(joined) == 23 and 3 not in set(joined[joined.layer == "a"].channel)
    table = crosscheck.crosscheck_table(joined, n_boot=200, confidence=0.9, seed=1).set_index("layer")
    assert table.loc["a", "spearman"] == pytest.approx(1.0) and table.loc["a", "n_channels"] == 11
    assert table.loc["a", "spearman_low"] <= 1.0 and table.loc["a", "p_value"] < 0.01
    # Three perfectly ranked channels: the exact permutation p-value is 2/3! = 1/3, not 0.
    three = crosscheck.crosscheck_table(joined[joined.layer == "a"].head(3), n_boot=100, confidence=0.9, seed=1)
    assert three.spearman.iloc[0] == 1.0 and three.p_value.iloc[0] == pytest.approx(1 / 3)
    assert abs(table.loc["b", "spearman"]) < 0.7 and table.loc["b", "spearman_low"] < table.loc["b", "spearman"] < table.loc["b", "spearman_high"]
    again = crosscheck.crosscheck_table(joined, n_boot=200, confidence=0.9, seed=1).set_index("layer")
    pd.testing.assert_frame_equal(table, again)


# Paper variables -----------------------------------------------------------------------


def _variables_files(tmp_path, control_cka=1.0):
    layers = pd.DataFrame({
        "layer": ["layer3.1", "layer4.1"], "fine_tuned": [False, True], "identical_upstream": [True, False],
        "n_images": [18, 18], "n_channels": [256, 512], "cka": [control_cka, 0.9981], "cka_low": [1.0, 0.9952],
        "cka_high": [1.0, 1.0], "cka_null": [0.071, 0.066], "corr_median": [1.0, 0.7612],
        "corr_q25": [1.0, 0.6], "corr_q75": [1.0, 0.9], "n_constant": [0, 0],
    })
    weights = pd.DataFrame({
        "module": ["layer3.1", "layer4.0", "layer4.1", "fc"], "fine_tuned": [False, True, True, True],
        "n_kernel": [100, 100, 100, 50], "kernel_norm": [1.0] * 4, "kernel_change": [0.0, 0.04, 0.08, np.nan],
        "other_change": [0.0] * 4, "stat_change": [0.0] * 4, "identical": [True, False, False, False],
        "replaced": [False, False, False, True],
    })
    cross = pd.DataFrame({"layer": ["layer3.1", "layer4.1"], "n_channels": [0, 3], "spearman": [np.nan, 1.0],
                          "spearman_low": [np.nan, 0.5], "spearman_high": [np.nan, 1.0],
                          "p_value": [np.nan, 1 / 3], "confidence": [0.95, 0.95]})
    files = {"layers": tmp_path / "layers.csv", "weights": tmp_path / "weights.csv", "crosscheck": tmp_path / "cross.csv"}
    layers.to_csv(files["layers"], index=False)
    weights.to_csv(files["weights"], index=False)
    cross.to_csv(files["crosscheck"], index=False)
    return files


def test_paper_variables_quote_the_tables(tmp_path):
    got = variables.paper_variables(_variables_files(tmp_path))
    assert got["n_images"] == 18 and got["n_layers"] == 2
    assert got["first"] == {"layer": "`layer3.1`", "cka": "1.000", "interval": "[1.000, 1.000]", "null": "0.071",
                            "corr_median": "1.00"}
    assert got["last"]["cka"] == "0.998" and got["last"]["interval"] == "[0.995, 1.000]"
    assert got["control_exact"] == "1 of 1"
    # moved: layer4.0 and layer4.1 (layer3.1 is identical, fc replaced)
    assert got["n_moved_modules"] == 2 and got["kernel_change_median"] == "0.06"
    assert got["crosscheck"] == {"layer": "`layer4.1`", "n": 3, "rho": "1.00", "interval": "[0.50, 1.00]", "p": "0.33",
                                 "verdict": variables._verdict(0.5, 1.0)}
    assert "tracks the activation change here" in got["crosscheck"]["verdict"]


@pytest.mark.parametrize("low, high, words", [(-0.5, 0.9, "cannot be told"), (-0.9, -0.2, "opposite orders"),
                                              (np.nan, np.nan, "too few channels")])
def test_the_crosscheck_verdict_follows_its_interval(low, high, words):
    assert words in variables._verdict(low, high)


def test_paper_variables_report_a_failed_control(tmp_path):
    """A layer with nothing trained upstream whose CKA is not exactly 1 shows in the count."""
    got = variables.paper_variables(_variables_files(tmp_path, control_cka=0.9999))
    assert got["control_exact"] == "0 of 1"


def test_the_registry_finds_the_stage_variables(tmp_path):
    files = _variables_files(tmp_path)
    assert "change" in registry.stage_variables()
    assert registry.paper_variables({"change": files})["change"] == variables.paper_variables(files)
    with pytest.raises(ValueError, match="no vischange.<stage>.variables"):
        registry.paper_variables({"nosuchstage": files})
