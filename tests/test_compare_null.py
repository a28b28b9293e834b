"""The null experiment (compare.null): the null seed set relabelled as a second network,
its gray flags by the real cut, the same test on it, and a control that can fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vischange import config as vcfg
from vischange.compare import null

from .test_compare_inference import pair_tables, simulate

SEEDS, NULL_SEEDS = [0, 1, 2], [3, 4, 5]
SETTINGS = {"fdr": 0.05, "prior_df": 2.0, "pi0_lambda": 0.5, "n_boot": 200}


def as_null_tables(distance):
    """Simulated renders of two 'networks' -> the null job's cosine pairs and render rows:
    the second network named basenull, with the null seeds."""
    cos, _, renders = pair_tables(distance)
    mapping = dict(zip(SEEDS, NULL_SEEDS))
    for net, seed in (("net_a", "seed_a"), ("net_b", "seed_b"), ("net", "seed")):
        frame = renders if net == "net" else cos
        second = frame[net] == "finetuned"
        frame.loc[second, seed] = frame.loc[second, seed].map(mapping)
        frame.loc[second, net] = null.NULL_NET
    return cos, renders


def test_as_two_networks_maps_the_null_seeds_onto_the_render_seeds():
    frame = pd.DataFrame({"net": ["base", "basenull", "basenull"], "seed": [1, 4, 3], "x": [7, 8, 9]})
    out = null.as_two_networks(frame, SEEDS, NULL_SEEDS)
    assert list(out.net) == ["base", "finetuned", "finetuned"] and list(out.seed) == [1, 1, 0]
    assert list(out.x) == [7, 8, 9] and list(frame.net) == ["base", "basenull", "basenull"]  # input untouched
    with pytest.raises(ValueError, match="not among the null seeds"):
        null.as_two_networks(frame.assign(seed=[0, 9, 3]), SEEDS, NULL_SEEDS)
    with pytest.raises(ValueError, match="null seeds"):
        null.as_two_networks(frame, SEEDS, [3, 4])


def test_null_renders_flag_gray_by_the_real_cut():
    base = pd.DataFrame({"net": ["base", "finetuned", "base"], "layer": ["a", "a", "frozen"], "channel": 0, "seed": 0,
                         "file": "f", "gray_score": [5.0, 500.0, 600.0], "gray": [True, False, False]})
    scores = pd.DataFrame({"net": "x", "layer": "a", "channel": 0, "seed": [3, 4], "file": "g", "gray_score": [9.0, 11.0]})
    out = null.null_renders(base, scores, threshold=10.0)
    # The base renders of layers the null did not render (here "frozen") are left out.
    assert list(out.net) == ["base", null.NULL_NET, null.NULL_NET] and list(out.gray) == [True, True, False]
    assert set(out.layer) == {"a"}


@pytest.mark.parametrize("seed", [0, 1])
def test_the_null_experiment_flags_at_most_q_without_change(seed):
    """Two seed sets of one network (no change, heterogeneous channel noise): per layer at
    most q of the tested channels are significant, summed over layers clearly below 2q,
    and the changed share is small."""
    distance, _, _ = simulate(np.random.default_rng(seed), 6, 64, 3)
    cos, renders = as_null_tables(distance)
    channels, layers = null.null_inference(cos, renders, SEEDS, NULL_SEEDS, SETTINGS, seed=0)
    assert (layers.n_tested == 64).all()
    assert layers.false_positive_share.to_numpy() == pytest.approx(layers.n_significant / layers.n_tested)
    assert layers.n_significant.sum() / layers.n_tested.sum() <= 0.05
    assert layers.changed_share.mean() < 0.15
    assert set(channels.status) <= {"changed", "unchanged"}


def test_the_null_experiment_can_fail():
    """When the 'null' renders are not exchangeable with the base ones (here: a systematic
    shift of half the channels, as a broken render path would give), the control reports
    a false-positive share far above q instead of passing silently."""
    distance, changed, _ = simulate(np.random.default_rng(4), 3, 64, 3, changed=0.5, shift=10.0)
    cos, renders = as_null_tables(distance)
    _, layers = null.null_inference(cos, renders, SEEDS, NULL_SEEDS, SETTINGS, seed=0)
    assert (layers.false_positive_share > 0.05).all()
    assert (layers.changed_share_low > 0).all()  # and its changed share excludes 0


def test_with_null_puts_the_null_beside_each_layer():
    layers = pd.DataFrame({"layer": ["a", "b"], "n_tested": [8, 8]})
    nulls = pd.DataFrame({"layer": ["b", "a"], **{c: [1, 2] for c in null.NULL_COLUMNS}})
    out = null.with_null(layers, nulls)
    assert list(out.n_tested) == [8, 8] and list(out.null_n_tested) == [2, 1]
    assert {f"null_{c}" for c in null.NULL_COLUMNS} <= set(out.columns)


def test_null_seeds_from_the_config():
    config = {"render": {"seeds": [0, 1, 2]}, "compare": {"null_seeds": "auto"}}
    assert vcfg.null_seeds(config) == [3, 4, 5] and not vcfg.null_seed_problems(config)
    config["render"]["seeds"] = [7, 2]
    assert vcfg.null_seeds(config) == [8, 9]
    config["compare"]["null_seeds"] = [2, 9, 10]
    problems = vcfg.null_seed_problems(config)
    assert len(problems) == 2 and all("compare.null_seeds" in p for p in problems)
    assert "[2]" in problems[1]


def test_tested_layers_have_something_trained_up_to_them():
    modules = ["conv1", "layer1", "layer1.0", "layer1.0.conv1", "layer2", "layer2.0", "layer2.1", "fc"]
    layers = ["layer1.0", "layer2.0", "layer2.1"]
    assert vcfg.tested_layers(layers, ["layer2.0", "fc"], modules) == ["layer2.0", "layer2.1"]
    assert vcfg.tested_layers(layers, ["layer1.0.conv1"], modules) == layers  # trained inside the first layer
    assert vcfg.tested_layers(layers, ["fc"], modules) == []  # only the head: every render layer is bit-identical
    assert vcfg.tested_layers(layers, ["layer2"], modules) == ["layer2.0", "layer2.1"]


def test_without_a_null_the_columns_are_empty():
    out = null.with_null(pd.DataFrame({"layer": ["a"], "n_tested": [0]}), None)
    assert out[[f"null_{c}" for c in null.NULL_COLUMNS]].isna().all().all()
