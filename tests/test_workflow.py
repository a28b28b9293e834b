"""Real Snakemake runs of config/test.yaml: the output contract, reproducibility, and
bad configs stopped before any job starts."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest
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
    for rule in ("synthetic_data", "pretrain", "finetune", "compare_channels", "render_table"):
        assert any((logs / rule).rglob("*.log")), rule
    assert any((first_run / "benchmarks" / config["experiment"] / "finetune").glob("*.tsv"))


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
    ({"data.source": "stanford_cars"}, "data.stanford_cars.files"),
    (
        {"data.source": "stanford_dogs", "data.stanford_dogs.images": {"path": "/no/such/images.tar", "checksum": "md5:" + "0" * 32}},
        "data.stanford_dogs.images.path",
    ),
    (
        {"data.source": "stanford_dogs", "data.stanford_dogs.images": {"url": "http://127.0.0.1:9/images.tar", "checksum": "md5:123"}},
        "data.stanford_dogs.images.checksum",
    ),
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
