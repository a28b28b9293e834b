"""Real Snakemake runs of config/test.yaml: the output contract, reproducibility, and
bad configs stopped before any job starts."""

from __future__ import annotations

import base64
import filecmp
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
import yaml

from vischange import config as vcfg
from vischange import contract as vcontract
from vischange.registry import check_config, validate_and_check
from vischange import paper
from vischange.pairs import spec as vvariants

from .conftest import REPO, TEST_CONFIG, run_snakemake, shared_test_run, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def config():
    from snakemake.utils import validate

    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))
    return cfg


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    return shared_test_run(tmp_path_factory, "run1")


def test_output_contract(first_run, config):
    out = first_run / "results" / config["experiment"]
    for split in ("train", "val", "test"):
        for prefix in ("data", "data/base"):
            frame = pd.read_csv(out / prefix / f"{split}.csv")
            assert list(frame.columns) == ["path", "label"] and len(frame) > 0
            assert all((out / prefix / p).is_file() for p in frame["path"])
    for name in ("base.pt", "finetuned.pt", "pretrain_metrics.json", "finetune_metrics.json"):
        assert (out / "models" / name).is_file(), name
    metrics = json.loads((out / "models/finetune_metrics.json").read_text())
    assert len(metrics["epochs"]) == config["finetune"]["epochs"]
    assert 1 <= metrics["chosen_epoch"] <= config["finetune"]["epochs"]
    for key in ("train_accuracy", "val_accuracy", "train_loss", "val_loss"):
        assert all(0 <= e[key] for e in metrics["epochs"])
    assert 0 <= metrics["test_accuracy"] <= 1
    assert not (out / "models/.resume").exists() or not any((out / "models/.resume").iterdir())

    channels = vcfg.selected_channels(config, check_config(config))
    seeds = config["render"]["seeds"]
    nets = vvariants.networks(config)
    assert nets == ["base", "finetuned", "seed1"], "test.yaml has one variant"
    for net in nets:
        for layer in config["render"]["layers"]:
            folder = out / "renders" / net / layer
            table = pd.read_csv(folder / "renders.csv")
            expected = {(c, s) for c in channels[layer] for s in seeds}
            assert set(zip(table.channel, table.seed)) == expected
            assert len(table) == len(expected)
            on_disk = {p.name for p in folder.glob("c*_s*.png")}
            assert on_disk == set(table.file), "renders.csv and the PNGs on disk disagree"
            assert table.objective.notna().all()
            for column in ("own_rank", "dataset_mean", "activation_ratio", "seconds"):
                assert column in table, column
            assert table.own_rank.between(1, config["render"]["chunk_size"]).all()
            assert (table.seconds > 0).all()
            stats = pd.read_csv(folder / "dataset.csv")
            assert set(stats.channel) == set(channels[layer])
            examples = pd.read_csv(folder / "examples.csv")
            k = config["render"]["examples"]["top_k"]
            assert len(examples) == k * len(channels[layer])
            for channel, rows in examples.groupby("channel"):
                assert list(rows["rank"]) == list(range(1, k + 1))
                assert rows.activation.is_monotonic_decreasing
                # The best example's peak bounds the channel's mean activation.
                assert rows.activation.iloc[0] >= stats.set_index("channel").dataset_mean[channel]
                assert (folder / "examples" / f"c{channel:04d}.png").is_file()
            assert (out / "data" / examples.path).map(Path.is_file).all()
            # the render jobs holding this layer (a job may span two layers)
            n_chunks = sum(any(name == layer for name, _ in part)
                           for part in vcfg.chunks({l: channels[l] for l in config["render"]["layers"]},
                                                   config["render"]["chunk_size"]))
            assert len(list((folder / "chunks").glob("*.csv"))) == n_chunks

    quality = pd.read_csv(out / "renders/quality.csv")
    assert len(quality) == len(nets) * len(config["render"]["layers"])
    assert quality.own_channel_fraction.between(0, 1).all()

    check_comparison(out, config, channels)
    check_change(out, config)
    check_pairs(out, config)
    check_topmaps_and_attribution(out, config)
    check_domain(out, config)
    check_explorer(out, config, channels)
    check_registry(first_run, out)

    logs = first_run / "logs" / config["experiment"]
    for rule in ("synthetic_data", "pretrain", "finetune", "render_table", "gray_filter", "compare_features",
                 "compare_channels", "atlas_collect", "atlas_layout", "atlas_icons", "atlas_images"):
        assert any((logs / rule).rglob("*.log")), rule
    assert any((first_run / "benchmarks" / config["experiment"] / "finetune").glob("*.tsv"))


# Stages test.yaml turns on that the registry (contract.json) must list; a new stage is
# checked through the registry without being named here.
CORE_STAGES = {"models", "render", "compare", "change", "pairs", "atlas", "attribution", "topmaps", "patches", "domain", "paper"}


def contract(out: Path) -> dict:
    """results/{experiment}/contract.json: what the stage registry promised for the run."""
    return json.loads((out / "contract.json").read_text())


def figures_of(out: Path, stage: str | None = None) -> list[str]:
    """The registered paper figures (of one stage, or all)."""
    return sorted(n for n, f in contract(out)["figures"].items() if stage is None or f["stage"] == stage)


def check_comparison(out: Path, config: dict, channels: dict) -> None:
    """The comparison's tables agree with each other and with the renders; figures exist."""
    seeds, layers = config["render"]["seeds"], config["render"]["layers"]
    n_channels = sum(len(c) for c in channels.values())
    renders = pd.read_csv(out / "compare/renders.csv")
    assert len(renders) == 2 * n_channels * len(seeds)
    assert (renders.gray_score >= 0).all() and renders.gray.dtype == bool
    cut = json.loads((out / "compare/gray_cut.json").read_text())
    assert cut["method"] in ("spike", "fallback")
    assert (renders.gray == (renders.gray_score < cut["threshold"])).all()

    pairs = pd.read_csv(out / "compare/cosine_pairs.csv")
    renders_per_channel = 2 * len(seeds)
    assert len(pairs) == n_channels * renders_per_channel * (renders_per_channel - 1) // 2
    assert pairs.cosine.between(-1.0001, 1.0001).all()
    gram_pairs = pd.read_csv(out / "compare/gram_pairs.csv")
    gram_layers = list(dict.fromkeys(gram_pairs.feature_layer))
    assert gram_layers[0] == "conv1" and len(gram_layers) == 9  # conv1 + 8 blocks of a ResNet-18
    assert len(gram_pairs) == len(pairs) * len(gram_layers)
    assert gram_pairs.gram_distance.between(0, 2).all()

    table = pd.read_csv(out / "compare/channels.csv")
    assert len(table) == n_channels and list(dict.fromkeys(table.layer)) == layers
    for column in ("cosine", "cosine_same_seed", "cosine_cross_seed", "cosine_noise_base", "cosine_noise_finetuned", "noise_floor"):
        assert table[column].between(-1.0001, 1.0001).all(), column
    assert table.noise_quantile.between(0, 1).all()
    assert (table.below_floor == (table.cosine < table.noise_floor)).all()
    assert ((table.change_score > 1) == table.below_floor).all()
    assert (table.gray == (table.gray_base | table.gray_finetuned)).all()
    assert table.gram.between(0, 2).all()

    gram = pd.read_csv(out / "compare/gram.csv")
    assert len(gram) == n_channels * len(gram_layers)
    mean = gram.groupby(["layer", "channel"], sort=False).gram.mean().to_numpy()
    assert mean == pytest.approx(table.gram.to_numpy(), rel=1e-4)

    summary = pd.read_csv(out / "compare/layers.csv")
    assert list(summary.layer) == layers
    assert (summary.n_channels == summary.n_used + summary.n_gray).all()
    assert summary.share_below_floor.between(0, 1).all()
    data = json.loads((out / "compare/summary.json").read_text())
    assert [row["layer"] for row in data["layers"]] == layers
    assert data["gray"]["n_renders"] == len(renders) and data["noise_percentile"] == config["compare"]["noise_percentile"]
    assert set(data["gram_by_feature_layer"][layers[-1]]) == set(gram_layers)

    # The null experiment: the base network's render seeds against its null seeds, through the same test.
    null_seeds = vcfg.null_seeds(config)
    assert not set(null_seeds) & set(seeds) and len(null_seeds) == len(seeds)
    # It runs on the layers with something trained up to them: here layer4.1, not the frozen layer3.1.
    tested = vcfg.tested_layers(layers, config["finetune"]["trainable"], vcfg.archinfo.info("resnet18", 32).modules)
    assert tested == ["layer4.1"]
    null_channels = sum(len(channels[layer]) for layer in tested)
    null_renders = pd.read_csv(out / "compare/null/renders.csv")
    assert len(null_renders) == 2 * null_channels * len(seeds)
    assert set(null_renders[null_renders.net == "basenull"].seed) == set(null_seeds)
    assert (null_renders.gray == (null_renders.gray_score < cut["threshold"])).all()
    assert len(pd.read_csv(out / "compare/null/cosine_pairs.csv")) == null_channels * renders_per_channel * (renders_per_channel - 1) // 2
    null_layers = pd.read_csv(out / "compare/null/layers.csv")
    assert list(null_layers.layer) == tested and (null_layers.n_identical == 0).all()  # other seeds: never bit-identical
    assert null_layers.false_positive_share.dropna().between(0, 1).all()
    beside = summary.set_index("layer").loc[tested]
    assert beside.null_n_tested.tolist() == null_layers.n_tested.tolist()
    assert beside.null_false_positive_share.tolist() == null_layers.false_positive_share.tolist()
    assert summary.set_index("layer").loc["layer3.1"].isna()["null_n_tested"]

    for figure in figures_of(out, "compare"):
        for suffix in (".png", ".pdf"):
            assert (out / "figures" / (figure + suffix)).stat().st_size > 1000, figure


def check_registry(workdir: Path, out: Path) -> None:
    """Every registered stage ran and wrote what it registered; the stages' documented
    rows match every registered output, and config/README.md's output contract is the
    table they make."""
    promised = contract(out)
    assert set(promised["stages"]) >= CORE_STAGES
    files = [f for outputs in promised["stages"].values() for f in outputs]
    files += [f for figure in promised["figures"].values() for f in figure["files"]]
    assert all((workdir / f).exists() for f in files), [f for f in files if not (workdir / f).exists()]
    table = vcontract.table(promised["documented"])
    relative = [str(Path(f).relative_to(out.relative_to(workdir))) for f in files]
    missing = vcontract.undocumented(relative, table)
    assert not missing, f"registered but documented by no stage (document_outputs): {missing}"
    readme = (REPO / "config/README.md").read_text()
    assert vcontract.current_table(readme) == table, "config/README.md's output contract is stale: python -m vischange.contract"


def check_change(out: Path, config: dict) -> None:
    """Render-free change: one row per render layer; the frozen layer (nothing upstream
    trained) gives CKA 1 and correlations 1 exactly, the fine-tuned one does not."""
    layers = pd.read_csv(out / "change/layers.csv")
    assert list(layers.layer) == config["render"]["layers"]
    frozen = layers[layers.identical_upstream]
    assert list(frozen.layer) == ["layer3.1"] and (frozen.cka == 1.0).all()
    assert (frozen.cka_low == 1.0).all() and (frozen.cka_high == 1.0).all()
    tuned = layers[~layers.identical_upstream]
    assert (tuned.cka < 1).all() and (tuned.cka_low <= tuned.cka).all() and (tuned.cka <= tuned.cka_high).all()
    channels = pd.read_csv(out / "change/channels.csv")
    assert (channels[channels.layer == "layer3.1"].correlation.dropna() == 1.0).all()
    weights = pd.read_csv(out / "change/weights.csv").set_index("module")
    assert weights.loc["layer3.1", "kernel_change"] == 0 and weights.loc["layer4.1", "kernel_change"] > 0
    # The cross-check pairs each tested rendered channel's two measures; the frozen layer's
    # channels are bit-identical renders, never tested, so only the fine-tuned layer appears.
    cross = pd.read_csv(out / "change/crosscheck.csv")
    assert list(cross.layer) == ["layer4.1"] and (cross.n_channels <= config["render"]["channels"]).all()
    assert cross.spearman.between(-1, 1).all() and cross.p_value.between(0, 1).all()


def check_pairs(out: Path, config: dict) -> None:
    """The seed variant: trained with its own seed; every pair of the three networks in the
    pairwise tables; the frozen layer is a control in every pair (CKA 1, bit-identical
    renders, nothing tested), the study's own pair repeats compare/ and change/."""
    variant = json.loads((out / "models/seed1_metrics.json").read_text())
    assert variant["seed"] == 1 and len(variant["epochs"]) == config["finetune"]["epochs"]
    assert not filecmp.cmp(out / "models/seed1.pt", out / "models/finetuned.pt", shallow=False)
    pairs = [("base", "finetuned"), ("base", "seed1"), ("finetuned", "seed1")]
    layers = pd.read_csv(out / "pairs/layers.csv")
    assert list(zip(layers.net_a, layers.net_b)) == [p for p in pairs for _ in config["render"]["layers"]]
    assert list(layers.kind) == ["fine-tuning"] * 4 + ["between fine-tunings"] * 2
    frozen = layers[layers.layer == "layer3.1"]
    assert frozen.identical_upstream.all() and (frozen.cka == 1.0).all() and (frozen.n_tested == 0).all()
    tuned = layers[layers.layer == "layer4.1"]
    assert (tuned.cka < 1).all() and tuned.fine_tuned.all()
    study = layers[(layers.net_a == "base") & (layers.net_b == "finetuned")].set_index("layer")
    change = pd.read_csv(out / "change/layers.csv").set_index("layer")
    assert np.allclose(study.cka, change.cka)
    for a, b in pairs[1:]:
        pair_layers = pd.read_csv(out / f"pairs/{a}/{b}/compare/layers.csv")
        assert "n_gray_a" in pair_layers and "n_gray_base" not in pair_layers
        renders = pd.read_csv(out / f"pairs/{a}/{b}/compare/renders.csv")
        assert set(renders.net) == {a, b}
    for png in (out / "renders/base/layer3.1").glob("c*_s*.png"):
        assert filecmp.cmp(png, out / "renders/seed1/layer3.1" / png.name, shallow=False)
    noise = pd.read_csv(out / "pairs/noise.csv")
    assert list(zip(noise.net_x, noise.net_y, noise.layer, noise.status)) == [
        ("finetuned", "seed1", "layer3.1", "identical"), ("finetuned", "seed1", "layer4.1", "tested")]
    tested = noise[noise.status == "tested"]
    assert tested.p_value.between(0, 1).all() and (tested.d_low <= tested.d).all() and (tested.d <= tested.d_high).all()
    # every per-network stage ran for the variant
    for path in ("attribution/seed1/attributions.csv", "topmaps/seed1/top_maps.csv", "domain/seed1/detector.csv",
                 "atlas/seed1/layer3.1/atlas.png", "renders/seed1/layer4.1/examples.csv"):
        assert (out / path).is_file(), path
    assert "seed1" in set(pd.read_csv(out / "domain/summary.csv").net)
    networks = pd.read_csv(out / "pairs/networks.csv")
    assert list(networks.net) == ["finetuned", "seed1"] and list(networks.differs_from_finetuned) == ["-", "seed: 0 -> 1"]
    weights = pd.read_csv(out / "pairs/weights.csv")
    head = weights[weights.module == "fc"].set_index(["net_a", "net_b"])
    # the head is re-initialised in each fine-tuning: no drift from the base, a real one between two fine-tunings
    assert head.loc[("base", "seed1"), "replaced"] and not head.loc[("finetuned", "seed1"), "replaced"]
    assert head.loc[("finetuned", "seed1"), "kernel_change"] > 0


def check_explorer(out: Path, config: dict, channels: dict[str, list[int]]) -> None:
    """The explorer's site: self-contained (every image a real file inside it, each render
    byte-identical to the run's), one channel-table row per rendered channel, every atlas of
    the run listed. The page itself is driven in a browser by test_explorer_in_a_browser."""
    site = out / "explorer"
    info = json.loads((site / "site.json").read_text())
    layers = config["render"]["layers"]
    assert info["channels_per_network"] == sum(len(channels[layer]) for layer in layers)
    assert (site / "index.html").is_file() and (site / "assets/app.js").is_file()
    index = (site / "data/index.js").read_text()
    payload = json.loads(index[index.index("{"):index.rindex("}") + 1])
    assert [entry["name"] for entry in payload["layers"]] == layers
    n_atlases = len(config["atlas"]["layers"]) * (1 + sum(
        1 + len(config["atlas"]["classes"][net]) + len(config["atlas"]["class_pairs"][net]) for net in ("base", "finetuned")))
    assert len(payload["atlases"]) == n_atlases
    for i, layer in enumerate(layers):
        text = (site / f"data/layer-{i}.js").read_text()
        rows = json.loads(text[text.index("{"):text.rindex("}") + 1])["rows"]
        assert [r[0] for r in rows] == list(channels[layer])
        for net in ("base", "finetuned"):
            for c in channels[layer]:
                for seed in config["render"]["seeds"]:
                    name = f"c{c:04d}_s{seed}.png"
                    assert (site / f"img/renders/{net}/{i}/{name}").read_bytes() == (out / f"renders/{net}/{layer}/{name}").read_bytes()
                assert (site / f"img/thumbs/{net}/{i}/c{c:04d}.jpg").is_file()
    assert not any(p.is_symlink() for p in site.rglob("*")), "the site must hold files, not links out of it"


def test_explorer_in_a_browser(first_run, config, tmp_path):
    """The test run's site in headless Chromium: the checks of tests/explorer_browser.py
    (no console errors, sort by change as in the CSV, the channel view's files, atlas zoom),
    with a screenshot of every view in the test's tmp folder."""
    from .explorer_browser import check_site, start_browser

    out = first_run / "results" / config["experiment"]
    layers, nets = config["render"]["layers"], ["base", "finetuned"]
    driver = start_browser()
    try:
        check_site(driver, out / "explorer", layers=layers, nets=nets,
                   compare_channels=pd.read_csv(out / "compare/channels.csv"),
                   render_tables={(n, layer): out / f"renders/{n}/{layer}/renders.csv" for n in nets for layer in layers},
                   example_tables={(n, layer): out / f"renders/{n}/{layer}/examples.csv" for n in nets for layer in layers},
                   shots=tmp_path / "screenshots")
    finally:
        driver.quit()


def _atlas_dirs(config, net, layer):
    from vischange.names import slug

    atlas = config["atlas"]
    return (
        [("atlas", Path(net) / layer, atlas["grid_size"])]
        + [(f"class/{slug(c)}", Path(net) / layer / "class" / slug(c), atlas["class_grid_size"]) for c in atlas["classes"][net]]
        + [
            (f"pair/{slug(a)}_vs_{slug(b)}", Path(net) / layer / "pair" / f"{slug(a)}_vs_{slug(b)}", atlas["class_grid_size"])
            for a, b in atlas["class_pairs"][net]
        ]
    )


def _read_cells(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_atlas_outputs(first_run, config):
    """Every atlas of every network and the comparison atlas: files, grid arithmetic, icons."""
    from vischange.atlas.grid import assign_cells

    atlas = config["atlas"]
    root = first_run / "results" / config["experiment"] / "atlas"
    n_images = min(atlas["max_images"], len(pd.read_csv(first_run / "results" / config["experiment"] / "data" / f"{atlas['split']}.csv")))
    assert atlas["layers"], "test.yaml should build at least one atlas"
    for layer in atlas["layers"]:
        for net in ("base", "finetuned"):
            samples = pd.read_csv(root / net / layer / "samples.csv")
            assert len(samples) == n_images and samples["sample"].tolist() == list(range(n_images))
            icon_tables = pd.concat(
                [pd.read_csv(root / net / layer / "icons" / f"{k}.csv") for k in range(atlas["icons"]["shards"])]
            )
            assert not icon_tables.duplicated(["atlas", "row", "col"]).any()
            on_disk = {p.name for p in (root / net / layer / "icons").glob("*/*.png")}
            assert on_disk == set(icon_tables.file), "icon tables and the PNGs on disk disagree"
            rendered = set(zip(icon_tables.atlas, icon_tables.row, icon_tables.col))
            expected = set()
            for atlas_id, folder, n in _atlas_dirs(config, net, layer):
                cells = _read_cells(root / folder / "cells.csv")
                lay = pd.read_csv(root / folder / "layout.csv")
                assert len(cells) == n * n and sorted(zip(cells.row, cells.col)) == [(r, c) for r in range(n) for c in range(n)]
                assert cells["count"].sum() == len(lay), "every sample in exactly one cell"
                assert lay["sample"].is_unique
                if atlas_id == "atlas":
                    assert len(lay) == n_images
                assert lay[["x", "y"]].stack().between(0, 1).all()
                rows, cols = assign_cells(lay[["x", "y"]].to_numpy(), n)
                assert (rows == lay.row).all() and (cols == lay.col).all()
                counted = lay.groupby(["row", "col"]).size()
                for cell in cells.itertuples():
                    assert cell.count == counted.get((cell.row, cell.col), 0)
                assert (cells.filled == (cells["count"] >= atlas["min_count"])).all(), "cells below the minimum are empty"
                assert (cells.icon.notna() == cells.filled).all()
                assert cells.loc[~cells.filled, "top_class"].isna().all()
                expected |= {(atlas_id, r, c) for r, c in zip(cells[cells.filled].row, cells[cells.filled].col)}
                side = n * atlas["icons"]["size"]
                with Image.open(root / folder / "icons.png") as grid_image:  # all white if no cell is filled
                    assert grid_image.size == (side, side)
                for name in ("atlas.png", "atlas.pdf"):
                    assert (root / folder / name).stat().st_size > 1000, folder / name
                info = json.loads((root / folder / "layout.json").read_text())
                assert info["samples"] == len(lay) and info["filled_cells"] == int(cells.filled.sum())
            for name in ("density.png", "density.pdf"):
                assert (root / net / layer / name).stat().st_size > 1000
            compare = _read_cells(root / "compare" / layer / "cells.csv")
            expected |= {("compare", r, c) for r, c in zip(compare[compare[f"filled_{net}"]].row, compare[compare[f"filled_{net}"]].col)}
            assert rendered == expected, "each filled cell gets exactly one icon"
        compare = _read_cells(root / "compare" / layer / "cells.csv")
        shared = pd.read_csv(root / "compare" / layer / "layout.csv")
        assert len(shared) == 2 * n_images
        assert compare.count_base.sum() == compare.count_finetuned.sum() == n_images
        assert compare.moved_cosine.dropna().between(-1.0001, 1.0001).all()
        info = json.loads((root / "compare" / layer / "layout.json").read_text())
        assert info["fit"] == "base" and "transform" in info["method"] and info["mean_null_distance"] > 0
        for name in ("atlas.png", "atlas.pdf", "movement.png", "movement.pdf", "icons_base.png", "icons_finetuned.png"):
            assert (root / "compare" / layer / name).stat().st_size > 1000, name


def test_frozen_layer_atlases_agree(first_run, config):
    """A layer that fine-tuning froze has the same activations in both networks: the same
    samples, layout and cells, activations that did not move, and the same icons."""
    out = first_run / "results" / config["experiment"] / "atlas"
    frozen = [l for l in config["atlas"]["layers"] if not any(l == t or l.startswith(t + ".") for t in config["finetune"]["trainable"])]
    assert frozen, "test.yaml should build an atlas of a frozen layer as a control"
    for layer in frozen:
        base, tuned = _read_cells(out / "base" / layer / "cells.csv"), _read_cells(out / "finetuned" / layer / "cells.csv")
        pd.testing.assert_frame_equal(base[["row", "col", "count", "filled", "icon"]], tuned[["row", "col", "count", "filled", "icon"]])
        columns = ["sample", "x", "y", "row", "col"]  # top_class differs: each network's own classes
        pd.testing.assert_frame_equal(pd.read_csv(out / "base" / layer / "layout.csv")[columns],
                                      pd.read_csv(out / "finetuned" / layer / "layout.csv")[columns])
        # the seed variant's own atlas of the frozen layer too
        pd.testing.assert_frame_equal(pd.read_csv(out / "base" / layer / "layout.csv")[columns],
                                      pd.read_csv(out / "seed1" / layer / "layout.csv")[columns])
        compare = _read_cells(out / "compare" / layer / "cells.csv")
        assert (compare.moved_cosine.dropna() > 0.99999).all()
        assert (compare.moved_distance.dropna() == 0).all() and (compare.same_cell.dropna() == 1).all()
        # The null (the base network at another position) did move, so no frozen cell moved beyond it.
        assert (compare.null_distance.dropna() > 0).any() and not compare.moved_beyond_null.fillna(False).astype(bool).any()
        assert (compare.count_base == compare.count_finetuned).all()
        assert compare.icon_base.equals(compare.icon_finetuned)
        icons = list(base.icon.dropna()) + list(compare.icon_base.dropna())
        for icon in icons:
            a = np.asarray(Image.open(next((out / "base" / layer / "icons").glob(f"*/{icon}"))), dtype=int)
            b = np.asarray(Image.open(next((out / "finetuned" / layer / "icons").glob(f"*/{icon}"))), dtype=int)
            assert np.abs(a - b).max() <= 1, icon


TOPMAP_FIGURES = ("lists", "renders", "one_image", "map_images", "class_sums", "detector")
ATTRIBUTION_FIGURES = ("filters", "feature_maps", "saliency_gradcam", "embedding", "confusion")


def check_topmaps_and_attribution(out: Path, config: dict) -> None:
    """Top maps and attribution views of both networks: selection rules, detector ranges, figures."""
    import numpy as np

    top, att = config["topmaps"], config["attribution"]
    names = (out / "data/classes.txt").read_text().split()
    splits = {s: pd.read_csv(out / f"data/{s}.csv") for s in ("train", "val", "test")}
    for net in ("base", "finetuned"):
        folder = out / "topmaps" / net
        acts = np.load(folder / "activations.npz")
        for split, frame in splits.items():
            assert acts[f"{split}_acts"].shape[0] == len(frame) and (acts[f"{split}_acts"] >= 0).all()
            assert acts[f"{split}_labels"].tolist() == frame.label.tolist()
        image_maps = pd.read_csv(folder / "image_maps.csv")
        assert len(image_maps) == top["n_per_image"] * len(splits[top["split"]])
        # each image's maps are its most active ones, in order
        first = image_maps[image_maps.path == image_maps.path.iloc[0]]
        row = acts[f"{top['split']}_acts"][0]
        assert first["map"].tolist() == np.argsort(-row, kind="stable")[: top["n_per_image"]].tolist()
        assert first.activation.to_numpy() == pytest.approx(row[first["map"]], rel=1e-5)
        class_maps = pd.read_csv(folder / "class_maps.csv", keep_default_na=False)
        assert class_maps.groupby("label").size().max() <= top["n_per_class"]
        assert class_maps.frequency.between(0, 1).all() and (class_maps["count"] >= 1).all()
        kept = pd.read_csv(folder / "top_maps.csv")
        assert not kept.duplicated("map").any(), "a kept top map belongs to one class only"
        listed = class_maps.groupby("map").label.nunique()
        assert (listed[kept["map"]] == 1).all() and set(kept["map"]) == set(listed[listed == 1].index)
        detector = pd.read_csv(folder / "detector.csv")
        assert detector["class"].tolist() == names
        assert (detector.n_maps == kept.groupby("label").size().reindex(range(len(names)), fill_value=0).to_numpy()).all()
        for column in ("test_auc", "test_precision", "test_recall", "head_auc", "head_precision", "head_recall"):
            assert detector[column].dropna().between(0, 1).all(), column
        assert detector.loc[detector.n_maps == 0, "test_auc"].isna().all()
        sums = pd.read_csv(folder / "class_sums.csv")
        assert len(sums) == len(names) * (len(splits["val"]) + len(splits["test"]))
        renders = pd.read_csv(folder / "renders.csv")
        assert set(renders.method) <= {"upscale", "engine"} and (renders.groupby("map").size() == 2).all()
        assert all((folder / "renders" / f).is_file() for f in renders.file)
        assert len(pd.read_csv(folder / "one_image.csv")) == min(top["image_maps"], 512)
        for figure in TOPMAP_FIGURES:
            for suffix in (".png", ".pdf"):
                assert (folder / (figure + suffix)).stat().st_size > 1000, (net, figure)

        folder = out / "attribution" / net
        head = json.loads((folder / "head.json").read_text())
        assert head["kind"] == ("probe" if net == "base" else "own")
        predictions = pd.read_csv(folder / "predictions.csv")
        assert set(predictions.split) == {"train", "val", "test"}
        assert predictions.prob_predicted.between(0, 1).all() and (predictions.prob_predicted >= predictions.prob_true - 1e-6).all()
        test = predictions[predictions.split == "test"]
        assert head["accuracy"]["test"] == pytest.approx(test.correct.mean())
        if net == "finetuned":
            metrics = json.loads((out / "models/finetune_metrics.json").read_text())
            assert head["accuracy"]["test"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
        attributions = pd.read_csv(folder / "attributions.csv")
        assert len(attributions) == min(att["images"], len(test))
        for key in ("saliency", "gradcam_predicted", "gradcam_true"):
            assert (attributions[f"{key}_max"] >= 0).all() and attributions[f"{key}_top10_share"].between(0, 1.000001).all()
        embedding = pd.read_csv(folder / "embedding.csv")
        assert len(embedding) == len(test) and embedding[["x", "y"]].notna().all().all()
        confusion = pd.read_csv(folder / "confusion.csv")
        assert len(confusion) == len(names) ** 2 and confusion["count"].sum() == len(test)
        for figure in ATTRIBUTION_FIGURES:
            for suffix in (".png", ".pdf"):
                assert (folder / (figure + suffix)).stat().st_size > 1000, (net, figure)


DOMAIN_NET_FIGURES = ("confusion", "detector", "overlays", "class_sums")


def check_domain(out: Path, config: dict) -> None:
    """Domain shift: the target is the test split restyled (same labels), metrics computed on the right images."""
    names = (out / "data/classes.txt").read_text().split()
    test = pd.read_csv(out / "data/test.csv")
    target = pd.read_csv(out / "data/target.csv")
    # the demo's target domain: the test split, image by image, with its labels
    assert target.label.tolist() == test.label.tolist()
    assert [Path(p).name for p in target.path] == [Path(p).name for p in test.path]
    assert all((out / "data" / p).is_file() for p in target.path)
    source_pixels = np.asarray(Image.open(out / "data" / test.path.iloc[0]), dtype=float)
    target_pixels = np.asarray(Image.open(out / "data" / target.path.iloc[0]), dtype=float)
    assert np.ptp(target_pixels, axis=-1).max() <= 1 < np.ptp(source_pixels, axis=-1).mean()  # gray vs colour
    nets = vvariants.networks(config)  # the seed variant's domain scans too
    for net in nets:
        folder = out / "domain" / net
        predictions = pd.read_csv(folder / "predictions.csv")
        assert predictions.label.tolist() == target.label.tolist() and len(predictions) == len(target)
        accuracy = pd.read_csv(folder / "accuracy.csv").set_index("domain")
        head = json.loads((out / "attribution" / net / "head.json").read_text())
        assert accuracy.loc["source", "accuracy"] == pytest.approx(head["accuracy"]["test"], abs=1e-6)
        assert accuracy.loc["target", "accuracy"] == pytest.approx(predictions.correct.mean(), abs=1e-6)
        assert accuracy.loc["target", "images"] == len(target)
        for d, n in (("source", len(test)), ("target", len(target))):
            confusion = pd.read_csv(folder / f"confusion_{d}.csv")
            assert len(confusion) == len(names) ** 2 and confusion["count"].sum() == n
        detector = pd.read_csv(folder / "detector.csv")
        assert detector["class"].tolist() == names
        # the source columns are the topmaps stage's test-split detector, thresholds from source val
        topmap_detector = pd.read_csv(out / "topmaps" / net / "detector.csv")
        for column in ("threshold", "n_maps"):
            assert np.allclose(detector[column], topmap_detector[column], equal_nan=True), column
        for metric in ("auc", "precision", "recall"):
            assert np.allclose(detector[f"source_{metric}"], topmap_detector[f"test_{metric}"], equal_nan=True), metric
            assert np.allclose(detector[f"head_source_{metric}"], topmap_detector[f"head_{metric}"], equal_nan=True), metric
        # the target's recall per class is the target confusion matrix's diagonal
        confusion = pd.read_csv(folder / "confusion_target.csv")
        diagonal = confusion[confusion["true"] == confusion["predicted"]].set_index("true").loc[names, "fraction"]
        assert np.allclose(detector["head_target_recall"], diagonal.to_numpy())
        for column in ("target_auc", "target_precision", "target_recall", "head_target_auc"):
            assert detector[column].dropna().between(0, 1).all(), column
        assert len(pd.read_csv(folder / "class_sums.csv")) == len(names) * len(target)
        overlays = pd.read_csv(folder / "overlays.csv")
        assert set(overlays.domain) <= {"source", "target"}
        for (_, d), rows in overlays.groupby(["class", "domain"]):
            assert len(rows) <= config["domain"]["overlay_images"]
            assert (rows.label == rows.label.iloc[0]).all()
        for figure in DOMAIN_NET_FIGURES:
            for suffix in (".png", ".pdf"):
                assert (folder / (figure + suffix)).stat().st_size > 1000, (net, figure)
    compare = pd.read_csv(out / "domain/compare.csv")
    assert len(compare) == len(nets) * len(names)
    summary = pd.read_csv(out / "domain/summary.csv")
    assert len(summary) == 2 * len(nets) and summary.accuracy.between(0, 1).all()
    assert len(figures_of(out, "domain")) == 4
    for name in figures_of(out, "domain"):
        assert (out / f"figures/{name}.png").stat().st_size > 1000, name


def test_frozen_layer_renders_do_not_change(first_run, config):
    """A layer that fine-tuning froze renders bit-identically in both networks."""
    out = first_run / "results" / config["experiment"]
    frozen = [l for l in config["render"]["layers"] if not any(l == t or l.startswith(t + ".") for t in config["finetune"]["trainable"])]
    assert frozen, "test.yaml should render at least one frozen layer as a control"
    compare = pd.read_csv(out / "compare/channels.csv")
    for layer in frozen:
        base = out / "renders/base" / layer
        for png in base.rglob("*.png"):  # renders and dataset-example strips
            assert filecmp.cmp(png, out / "renders/finetuned" / layer / png.relative_to(base), shallow=False)
        rows = compare[compare.layer == layer]
        assert (rows.cosine_same_seed > 0.99999).all()
        assert not rows.fine_tuned.any()
        # Identical renders: the base-vs-fine-tuned cross-seed pair is the seed-vs-seed pair.
        assert rows.cosine_cross_seed.to_numpy() == pytest.approx(rows.cosine_noise_base.to_numpy(), abs=1e-9)
        assert (rows.gram_same_seed == 0).all()


def test_report_holds_every_figure(first_run, config):
    """`snakemake --report` (no Quarto) builds a report that embeds every figure of the run."""
    proc = run_snakemake(first_run, "--report", "report.html", configfile=TEST_CONFIG, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (first_run / "report.html").read_text()
    out = first_run / "results" / config["experiment"]
    figures = sorted((out / "figures").glob("*.png"))
    registered = figures_of(out)
    assert {p.stem for p in figures} == set(registered)
    assert {f["stage"] for f in contract(out)["figures"].values()} <= set(contract(out)["stages"])
    for png in figures:
        assert base64.b64encode(png.read_bytes()).decode() in html, f"{png.name} is not in the report"
    # Captions come from workflow/report/*.rst, one per figure.
    for name in registered:
        caption = (REPO / "workflow/report" / f"{name}.rst").read_text().split()[:6]
        assert " ".join(caption) in " ".join(re.sub(r"<[^>]+>", " ", html).split()), name


def dry_run_jobs(text: str) -> dict[str, dict[str, list[str]]]:
    """Snakemake's dry-run listing -> {rule: {"input": [...], "output": [...]}} (jobs of a
    rule merged)."""
    jobs: dict[str, dict[str, list[str]]] = {}
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", text, re.M):
        job = jobs.setdefault(rule, {"input": [], "output": []})
        for key in job:
            for line in re.findall(rf"^\s+{key}: (.*)$", body, re.M):
                job[key].extend(x.strip() for x in line.split(","))
    return jobs


def test_paper_inputs_are_declared_outputs(first_run, config):
    """Everything the manuscript reads is an input of the paper rule, exists after the run,
    is written by a rule of the workflow, and every variable it quotes is defined."""
    out = Path("results") / config["experiment"]
    plan = run_snakemake(first_run, "-n", "paper", configfile=TEST_CONFIG, timeout=900)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = dry_run_jobs(plan.stdout)
    assert set(jobs) == {"paper"}, f"the run left paper inputs to build: {set(jobs) - {'paper'}}"
    inputs = jobs["paper"]["input"]
    enabled = {s: str(REPO / "paper" / s) in inputs for s in paper.read_manifest(REPO / "paper", lambda s: False).sections}
    assert all(enabled.values()), f"every optional section's figures are declared outputs: {enabled}"
    reads = paper.read_manifest(REPO / "paper", enabled.get)
    expected = {str(out / "paper" / paper.VARIABLES_FILE)}
    expected |= {str(out / "paper" / t) for t in reads.tables} | {str(out / f) for f in reads.figures}
    assert {i for i in inputs if i.startswith("results/")} == expected
    assert all((first_run / p).is_file() for p in expected)

    variables = yaml.safe_load((first_run / out / "paper" / paper.VARIABLES_FILE).read_text())
    assert paper.missing_variables(reads, variables) == []

    # Forced, the plan shows who writes each input: every one is some job's output.
    forced = run_snakemake(first_run, "-n", "-F", "paper", configfile=TEST_CONFIG, timeout=900)
    assert forced.returncode == 0, forced.stderr[-3000:]
    written = {o for name, job in dry_run_jobs(forced.stdout).items() if name != "paper" for o in job["output"]}
    assert expected <= written, f"read by the paper but written by no rule: {expected - written}"


@pytest.mark.parametrize(
    "key, value, jobs",
    [
        ("compare.top_k", 3, {"figure_top_channels"}),
        # The explorer shows the atlas grids and the top-map figures, so it is rebuilt with them.
        ("atlas.labels", False, {"atlas_images", "atlas_figures", "explorer"}),
        ("topmaps.map_images", 3, {"topmaps_summary", "topmaps_figures", "explorer"}),
    ],
)
def test_a_figure_setting_reruns_only_its_figures(first_run, tmp_path, key, value, jobs):
    """Rules get only the config keys they use: after a complete run, editing one figure
    setting plans only the jobs that draw with it (no render, scan or layout)."""
    changed = write_config(tmp_path / "changed.yaml", TEST_CONFIG, **{key: value})
    proc = run_snakemake(first_run, "-n", configfile=changed, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = set(dry_run_jobs(proc.stdout)) - {"all"}
    assert planned == jobs, f"{key}: planned {sorted(planned)}"


def _path_without_quarto() -> str:
    return os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "quarto").exists()
    )


def test_paper_without_quarto_stops_before_any_job(first_run):
    proc = run_snakemake(first_run, "--cores", "1", "paper", configfile=TEST_CONFIG, timeout=900, env={"PATH": _path_without_quarto()})
    assert proc.returncode != 0
    assert "pip install quarto-cli" in proc.stderr, proc.stderr[-3000:]
    # the paper's own HTML (the explorer's index.html is an output of rule all)
    assert not list((first_run / "results").glob("*/paper/index.html"))


@pytest.mark.skipif(shutil.which("quarto") is None, reason="quarto is not on PATH (pip install quarto-cli); the paper's inputs are checked without it")
def test_paper_renders(first_run, config):
    proc = run_snakemake(first_run, "--cores", "1", "paper", configfile=TEST_CONFIG, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    folder = first_run / "results" / config["experiment"] / "paper"
    html = (folder / "index.html").read_text()
    assert "{{<" not in html and "?@" not in html  # every shortcode and cross-reference resolved
    variables = paper.flatten(yaml.safe_load((folder / paper.VARIABLES_FILE).read_text()))
    assert variables["finetune.test_accuracy"] in html and variables["model.name"] in html
    assert (folder / "index.pdf").read_bytes()[:4] == b"%PDF"


def test_nothing_left_to_do(first_run):
    proc = run_snakemake(first_run, "-n", configfile=TEST_CONFIG)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


BAD = [
    ({"model.arch": "resnet5O"}, "model.arch"),
    ({"render.layers": ["layer4.1", "layer7.2"]}, "render.layers[1]"),
    ({"render.steps": -5}, "render.steps"),
    ({"experiment": None}, "experiment"),
    ({"topmaps.n_per_image": 1000}, "topmaps.n_per_image"),
    ({"topmaps.map_class": "zebra"}, "topmaps.map_class"),
    ({"model.base.source": "file", "model.base.path": "/no/such/weights.pt"}, "model.base.path"),
    ({"data.source": "stanford_cars"}, "data.stanford_cars.files"),
    (
        {"data.source": "stanford_dogs", "data.stanford_dogs.images": {"path": "/no/such/images.tar", "checksum": "md5:" + "0" * 32}},
        "data.stanford_dogs.images.path",
    ),
    (
        {"data.source": "stanford_dogs", "data.stanford_dogs.images": {"url": "http://127.0.0.1:9/images.tar", "checksum": "md5:123"}},
        "data.stanford_dogs.images.checksum",
    ),
    ({"atlas.layers": ["layer3.9"]}, "atlas.layers[0]"),
    ({"atlas.classes.finetuned": ["circle-stripez"]}, "atlas.classes.finetuned[0]"),
    ({"atlas.grid_size": 0}, "atlas.grid_size"),
]


@pytest.mark.parametrize("overrides, key", BAD, ids=[k for _, k in BAD])
def test_bad_config_is_refused_naming_the_key(tmp_path, overrides, key):
    """The checks the workflow runs before planning (validate_and_check, in common.smk),
    called here in-process; the test below shows through Snakemake that they stop a run."""
    bad = yaml.safe_load(write_config(tmp_path / "bad.yaml", TEST_CONFIG, **overrides).read_text())
    with pytest.raises(vcfg.ConfigError) as err:
        validate_and_check(bad, REPO / "workflow/schemas/config.schema.yaml")
    assert key in str(err.value)


# One of each kind: a schema violation, a shared check (against the model), a stage's check.
STOPPING = [BAD[2], BAD[1], BAD[11]]


@pytest.mark.parametrize("overrides, key", STOPPING, ids=[k for _, k in STOPPING])
def test_bad_config_stops_snakemake_before_any_job(tmp_path, overrides, key):
    bad = write_config(tmp_path / "bad.yaml", TEST_CONFIG, **overrides)
    proc = run_snakemake(tmp_path, "--cores", "1", configfile=bad, timeout=900)
    assert proc.returncode != 0
    assert key in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "logs").exists()


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(REPO, "--lint", timeout=900)
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
