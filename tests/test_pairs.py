"""Fine-tuning variants and the pairs stage: the config's variants, the checks, the paired
noise test, the pairwise tables, the figure and the paper variables."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from vischange import archinfo, registry
from vischange import config as vcfg
from vischange.change import noise
from vischange.pairs import checks, figures, spec, tables, variables

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def config_with(variants) -> dict:
    config = yaml.safe_load((REPO / "config/test.yaml").read_text())
    config["variants"] = copy.deepcopy(variants)
    validate(config, str(SCHEMA))
    return config


def info(config):
    return archinfo.info(config["model"]["arch"], config["data"]["image_size"])


def test_a_variant_overrides_only_its_keys_and_its_seed():
    config = config_with([{"name": "seed1", "finetune": {"seed": 1}},
                          {"name": "wide", "finetune": {"trainable": ["layer4", "fc"], "lr": 0.01,
                                                        "augment": {"hflip": False}}}])
    assert spec.networks(config) == ["base", "finetuned", "seed1", "wide"]
    base, seed = spec.settings(config, "finetuned")
    s1, seed1 = spec.settings(config, "seed1")
    assert (s1, seed1) == (base, 1) and seed == config["seed"]
    wide, seed_w = spec.settings(config, "wide")
    assert wide["trainable"] == ["layer4", "fc"] and wide["lr"] == 0.01 and seed_w == config["seed"]
    # augment merges key by key: crop_scale stays the finetune section's
    assert wide["augment"] == {**base["augment"], "hflip": False}
    assert wide["epochs"] == base["epochs"]
    # the validated config is not changed by reading a variant
    assert config["finetune"] == base
    assert spec.differences(config, "finetuned", "seed1") == {"seed": (0, 1)}
    assert set(spec.differences(config, "finetuned", "wide")) == {"trainable", "lr", "augment"}


def test_pairs_cover_every_pair_once_with_the_study_pair_first():
    config = config_with([{"name": "seed1", "finetune": {"seed": 1}}, {"name": "seed2", "finetune": {"seed": 2}}])
    pairs = spec.pairs(config)
    assert pairs[0] == ("base", "finetuned")
    assert len(pairs) == len(set(pairs)) == 6
    assert [spec.pair_kind(*p) for p in pairs].count("fine-tuning") == 3
    assert spec.fine_tuned_pairs(config) == [("finetuned", "seed1"), ("finetuned", "seed2"), ("seed1", "seed2")]
    config["variants"][1]["finetune"] = {"trainable": ["layer3.1"]}
    assert spec.pair_trainable(config, "seed1", "seed2") == ["layer4.1", "fc", "layer3.1"]
    assert spec.trained(config, "base") == []


def test_no_variants_means_the_study_pair_only():
    config = config_with([])
    assert spec.networks(config) == ["base", "finetuned"] and spec.pairs(config) == [("base", "finetuned")]


@pytest.mark.parametrize(
    "variant, needle",
    [
        ({"name": "finetuned"}, "variants.0.name: 'finetuned' is the name of one of the study's own networks"),
        ({"name": "base"}, "variants.0.name: 'base' is the name"),
        ({"name": "basenull"}, "variants.0.name: 'basenull' is reserved"),
        ({"name": "pretrain"}, "variants.0.name: 'pretrain' is reserved"),
        ({"name": "Seed 1"}, "variants.0.name: 'Seed 1' is not a network name"),
        ({"name": "../x"}, "variants.0.name: '../x' is not a network name"),
        ({"name": "wide", "finetune": {"trainable": ["layer9"]}}, "variants.0.finetune.trainable[0]"),
    ],
)
def test_bad_variants_are_named(variant, needle):
    config = config_with([variant])
    problems = checks.problems(config, info(config))
    assert any(needle in p for p in problems), problems


def test_two_variants_of_one_name_are_refused_and_good_ones_pass():
    config = config_with([{"name": "seed1", "finetune": {"seed": 1}}, {"name": "seed1", "finetune": {"seed": 2}}])
    assert any("variants.1.name: 'seed1' names two variants" in p for p in checks.problems(config, info(config)))
    good = config_with([{"name": "seed1", "finetune": {"seed": 1}}, {"name": "last-block_2", "finetune": {"lr": 0.1}}])
    assert checks.problems(good, info(good)) == []
    # the registry runs the stage's check with every other one
    with pytest.raises(vcfg.ConfigError, match="names two variants"):
        registry.check_config(config)


@pytest.mark.parametrize(
    "variant, key",
    [
        ({"name": "x", "finetune": {"lr": -1}}, "variants.0.finetune.lr"),
        ({"name": "x", "finetune": {"epochz": 3}}, "variants.0.finetune"),
        ({"name": "x", "finetune": {"seed": -1}}, "variants.0.finetune.seed"),
        ({"finetune": {"seed": 1}}, "variants.0"),
    ],
)
def test_schema_names_a_bad_override(variant, key):
    config = yaml.safe_load((REPO / "config/test.yaml").read_text())
    config["variants"] = [variant]
    problems = vcfg.schema_problems(config, vcfg.load_schema(SCHEMA))
    assert any(p.startswith(f"config key {key}:") for p in problems), problems


# The paired noise test ---------------------------------------------------------------


def _acts(rng, n=120, c=16, shared=0.0, noise_scale=0.0):
    """base (N, C) and two 'fine-tuned' versions: a shared change plus independent noise."""
    base = rng.normal(size=(n, c))
    change = rng.normal(size=(n, c))
    x = base + shared * change + noise_scale * rng.normal(size=(n, c))
    y = base + shared * change + noise_scale * rng.normal(size=(n, c))
    return base, x, y


def test_a_shared_change_larger_than_the_noise_is_detected():
    base, x, y = _acts(np.random.default_rng(0), shared=1.5, noise_scale=0.2)
    row = noise.layer_test(base, x, y, n_boot=200, confidence=0.95, rng=1)
    assert row["status"] == "tested"
    assert row["cka_xy"] > row["cka_base_x"] and row["d"] > 0
    assert row["d_low"] > 0 and row["p_value"] < 1e-3


def test_noise_alone_is_not_called_change():
    """X and Y are two independent perturbations of base of the same size and no shared
    change: they are as far from each other as from the base, d < 0 (each is closer to
    the base than to its sibling), never significantly above 0."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(20):
        base, x, y = _acts(rng, shared=0.0, noise_scale=0.5)
        row = noise.layer_test(base, x, y, n_boot=100, confidence=0.95, rng=int(rng.integers(1 << 30)))
        hits += row["d"] > 0 and row["p_value"] < 0.05
    assert hits == 0


def test_identical_networks_are_a_control_not_a_test():
    base = np.random.default_rng(2).normal(size=(50, 8))
    row = noise.layer_test(base, base.copy(), base.copy(), n_boot=50, confidence=0.95, rng=0)
    assert row["status"] == "identical" and row["d"] == 0 and np.isnan(row["p_value"])


def test_the_noise_table_is_holm_corrected_and_seeded():
    rng = np.random.default_rng(3)
    acts = {"base": {}, "a": {}, "b": {}}
    for layer, shared in (("l1", 0.0), ("l2", 1.0)):
        base, x, y = _acts(rng, shared=shared, noise_scale=0.3)
        acts["base"][layer], acts["a"][layer], acts["b"][layer] = base, x, y
    acts["base"]["frozen"] = acts["a"]["frozen"] = acts["b"]["frozen"] = rng.normal(size=(120, 16))
    table = noise.noise_table(acts, [("a", "b")], ["frozen", "l1", "l2"], n_boot=100, confidence=0.95, alpha=0.05,
                              seed=0)
    assert list(table.columns) == noise.COLUMNS
    assert list(table.status) == ["identical", "tested", "tested"]
    tested = table[table.status == "tested"]
    assert (tested.q_value >= tested.p_value).all()
    assert bool(table.set_index("layer").significant["l2"]) and not bool(table.set_index("layer").significant["frozen"])
    again = noise.noise_table(acts, [("a", "b")], ["frozen", "l1", "l2"], n_boot=100, confidence=0.95, alpha=0.05,
                              seed=0)
    pd.testing.assert_frame_equal(table, again)


# Tables, figure and variables --------------------------------------------------------


def test_pair_columns_rename_the_networks_only():
    frame = pd.DataFrame(columns=["gray_base", "gray_score_finetuned", "cosine_noise_base", "n_gray_finetuned",
                                  "based", "finetuned_mean", "layer"])
    assert list(tables.as_pair_columns(frame).columns) == ["gray_a", "gray_score_b", "cosine_noise_a", "n_gray_b",
                                                           "based", "finetuned_mean", "layer"]


def _pair_inputs():
    layers = ["l1", "l2"]
    pairs = [("base", "finetuned"), ("base", "seed1"), ("finetuned", "seed1")]
    change, compare, weights = {}, {}, {}
    for i, pair in enumerate(pairs):
        change[pair] = pd.DataFrame({"layer": layers, "fine_tuned": [False, True], "identical_upstream": [True, False],
                                     "cka": [1.0, 0.8 + 0.05 * i], "cka_low": [1.0, 0.7], "cka_high": [1.0, 0.9],
                                     "cka_null": [0.2, 0.2], "corr_median": [1.0, 0.7]})
        compare[pair] = pd.DataFrame({"layer": layers, "fine_tuned": [False, True], "n_used": [3, 3],
                                      "n_tested": [0, 3], "n_significant": [0, 3 - i], "changed_share": [np.nan, 0.5],
                                      "changed_share_low": [np.nan, 0.1], "changed_share_high": [np.nan, 0.9],
                                      "median_cosine": [1.0, 0.6], "null_false_positive_share": [np.nan, 0.0],
                                      "n_gray_base": [0, 0]})
        weights[pair] = pd.DataFrame({"module": ["layer3.1", "layer4.1", "fc"], "fine_tuned": [False, True, True],
                                      "kernel_change": [0.0, 0.1 + i, np.nan], "other_change": [0.0, 0.1, np.nan],
                                      "stat_change": [0.0, 0.1, np.nan], "identical": [True, False, False],
                                      "replaced": [False, False, "base" in pair]})
    return pairs, change, compare, weights


NOISE = pd.DataFrame({"net_x": ["finetuned"] * 2, "net_y": ["seed1"] * 2, "layer": ["l1", "l2"], "n_images": [30, 30],
                      "cka_xy": [1.0, 0.9], "cka_base_x": [1.0, 0.8], "cka_base_y": [1.0, 0.85], "d": [0.0, 0.075],
                      "d_low": [0.0, 0.01], "d_high": [0.0, 0.14], "p_value": [np.nan, 0.02], "q_value": [np.nan, 0.02],
                      "significant": [False, True], "status": ["identical", "tested"]})


def pair_tables(folder) -> dict:
    """Small pairs/*.csv tables of base, finetuned and one seed variant, written to
    `folder`: {name: path}, the files the paper variables read."""
    pairs, change, compare, weights = _pair_inputs()
    config = config_with([{"name": "seed1", "description": "another seed", "finetune": {"seed": 1}}])
    metrics = {}
    for net in ("finetuned", "seed1"):
        metrics[net] = folder / f"{net}.json"
        metrics[net].write_text('{"chosen_epoch": 2, "val_accuracy": 0.5, "test_accuracy": 0.625}')
    frames = {"layers": tables.pair_layers(change, compare), "weights": tables.pair_weights(weights),
              "networks": tables.networks_table(config, metrics), "noise": NOISE}
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {name: folder / f"{name}.csv" for name in frames}


def test_pair_tables_have_one_row_per_pair_and_layer(tmp_path):
    files = pair_tables(tmp_path)
    layers, w, nets = (pd.read_csv(files[n]) for n in ("layers", "weights", "networks"))
    assert list(layers.columns) == tables.LAYER_COLUMNS and len(layers) == 6
    assert list(layers.kind.unique()) == ["fine-tuning", "between fine-tunings"]
    assert list(w.columns) == tables.WEIGHT_COLUMNS and len(w) == 9
    assert list(nets.net) == ["finetuned", "seed1"]
    assert list(nets.differs_from_finetuned) == ["-", "seed: 0 -> 1"]
    out = [tmp_path / "f.png", tmp_path / "f.pdf"]
    figures.pairs_figure(layers, w, NOISE, out)
    assert all(p.stat().st_size > 1000 for p in out)
    v = variables.paper_variables(files)
    assert v["n_variants"] == 1 and v["more_networks"] == "1 more network" and v["n_pairs"] == 3
    assert v["n_tested"] == 1 and v["n_significant"] == 1
    assert "exceeds the noise of fine-tuning in 1 of 1 tested layers" in v["tests"]
    assert "`l1`: identical" in v["tests"]


def test_the_registry_finds_the_stage():
    assert "pairs" in registry.stage_checks()
    assert "pairs" in registry.stage_variables()
