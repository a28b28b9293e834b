"""Real Snakemake runs of config/test.yaml: the output contract, reproducibility, and
bad configs stopped before any job starts."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
import yaml

from vischange import config as vcfg

from .conftest import REPO, run_snakemake, write_config

pytestmark = pytest.mark.workflow
TEST_CONFIG = REPO / "config/test.yaml"


def run_ok(workdir: Path, *args: str) -> None:
    proc = run_snakemake(workdir, "--cores", "2", *args, configfile=TEST_CONFIG)
    assert proc.returncode == 0, proc.stderr[-6000:]


@pytest.fixture(scope="module")
def config():
    from snakemake.utils import validate

    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))
    return cfg


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("run1")
    run_ok(workdir)
    return workdir


@pytest.fixture(scope="module")
def second_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("run2")
    run_ok(workdir)
    return workdir


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

    channels = vcfg.selected_channels(config, vcfg.check_config(config))
    seeds = config["render"]["seeds"]
    for net in ("base", "finetuned"):
        for layer in config["render"]["layers"]:
            folder = out / "renders" / net / layer
            table = pd.read_csv(folder / "renders.csv")
            expected = {(c, s) for c in channels[layer] for s in seeds}
            assert set(zip(table.channel, table.seed)) == expected
            assert len(table) == len(expected)
            on_disk = {p.name for p in folder.glob("c*_s*.png")}
            assert on_disk == set(table.file), "renders.csv and the PNGs on disk disagree"
            assert table.objective.notna().all()
            n_chunks = -(-len(channels[layer]) // config["render"]["chunk_size"])
            assert len(list((folder / "chunks").glob("*.csv"))) == n_chunks

    compare = pd.read_csv(out / "compare/channels.csv")
    assert len(compare) == sum(len(c) for c in channels.values())
    for column in ("cosine_same_seed", "cosine_cross_seed", "noise_base", "noise_finetuned"):
        assert compare[column].between(-1.0001, 1.0001).all(), column
    for figure in ("render_pairs", "cosine_by_layer"):
        for suffix in (".png", ".pdf"):
            assert (out / "figures" / (figure + suffix)).stat().st_size > 1000

    logs = first_run / "logs" / config["experiment"]
    for rule in ("synthetic_data", "pretrain", "finetune", "compare_channels", "render_table",
                 "atlas_collect", "atlas_layout", "atlas_icons", "atlas_images"):
        assert any((logs / rule).rglob("*.log")), rule
    assert any((first_run / "benchmarks" / config["experiment"] / "finetune").glob("*.tsv"))


def _atlas_dirs(config, net, layer):
    from vischange.atlas.stages import slug

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
        assert "union" in json.loads((root / "compare" / layer / "layout.json").read_text())["method"]
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
        compare = _read_cells(out / "compare" / layer / "cells.csv")
        assert (compare.moved_cosine.dropna() > 0.99999).all()
        assert (compare.moved_distance.dropna() == 0).all() and (compare.same_cell.dropna() == 1).all()
        assert (compare.count_base == compare.count_finetuned).all()
        assert compare.icon_base.equals(compare.icon_finetuned)
        icons = list(base.icon.dropna()) + list(compare.icon_base.dropna())
        for icon in icons:
            a = np.asarray(Image.open(next((out / "base" / layer / "icons").glob(f"*/{icon}"))), dtype=int)
            b = np.asarray(Image.open(next((out / "finetuned" / layer / "icons").glob(f"*/{icon}"))), dtype=int)
            assert np.abs(a - b).max() <= 1, icon


def test_frozen_layer_renders_do_not_change(first_run, config):
    """A layer that fine-tuning froze renders bit-identically in both networks."""
    out = first_run / "results" / config["experiment"]
    frozen = [l for l in config["render"]["layers"] if not any(l == t or l.startswith(t + ".") for t in config["finetune"]["trainable"])]
    assert frozen, "test.yaml should render at least one frozen layer as a control"
    compare = pd.read_csv(out / "compare/channels.csv")
    for layer in frozen:
        for png in (out / "renders/base" / layer).glob("*.png"):
            assert filecmp.cmp(png, out / "renders/finetuned" / layer / png.name, shallow=False)
        rows = compare[compare.layer == layer]
        assert (rows.cosine_same_seed > 0.99999).all()
        assert not rows.fine_tuned.any()


def test_rerun_gives_identical_tables(first_run, second_run, config):
    first = sorted(p.relative_to(first_run) for p in (first_run / "results").rglob("*.csv"))
    second = sorted(p.relative_to(second_run) for p in (second_run / "results").rglob("*.csv"))
    assert first == second and first
    different = [str(p) for p in first if not filecmp.cmp(first_run / p, second_run / p, shallow=False)]
    assert not different, f"CSV outputs differ between two CPU runs: {different}"
    for name in ("pretrain_metrics.json", "finetune_metrics.json"):
        path = Path("results") / config["experiment"] / "models" / name
        assert filecmp.cmp(first_run / path, second_run / path, shallow=False)


def test_nothing_left_to_do(first_run):
    proc = run_snakemake(first_run, "-n", configfile=TEST_CONFIG)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


BAD = [
    ({"model.arch": "resnet5O"}, "model.arch"),
    ({"render.layers": ["layer4.1", "layer7.2"]}, "render.layers[1]"),
    ({"render.steps": -5}, "render.steps"),
    ({"experiment": None}, "experiment"),
    ({"model.base.source": "file", "model.base.path": "/no/such/weights.pt"}, "model.base.path"),
    ({"atlas.layers": ["layer3.9"]}, "atlas.layers[0]"),
    ({"atlas.classes.finetuned": ["circle-stripez"]}, "atlas.classes.finetuned[0]"),
    ({"atlas.grid_size": 0}, "atlas.grid_size"),
]


@pytest.mark.parametrize("overrides, key", BAD, ids=[k for _, k in BAD])
def test_bad_config_fails_fast_naming_the_key(tmp_path, overrides, key):
    bad = write_config(tmp_path / "bad.yaml", TEST_CONFIG, **overrides)
    proc = run_snakemake(tmp_path, "--cores", "1", configfile=bad, timeout=120)
    assert proc.returncode != 0
    assert key in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "logs").exists()


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(REPO, "--lint", timeout=120)
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
