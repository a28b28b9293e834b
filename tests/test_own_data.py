"""Study your own networks, end to end: the whole workflow on a class folder made here
(with an unreadable image and a file that is not an image) and a base network read from
a weights file made here; bad folders stop Snakemake before any job."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange import models

from .conftest import TEST_CONFIG, run_snakemake, write_config

CLASSES = ["ant", "bee", "fly"]


def image_folder(root: Path, per_class: int = 8, size: int = 32) -> Path:
    """root/<class>/*.png: each class a colour and a stripe direction, with noise."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            pixels[..., k] += 120
            if k == 1:
                pixels[::4] = 255
            elif k == 2:
                pixels[:, ::4] = 255
            Image.fromarray(pixels).save(root / name / f"{name}{i:02d}.png")
    (root / "bee" / "bee99.png").write_bytes(b"\x89PNG\r\n\x1a\n but nothing after the signature")
    (root / "fly" / "README.txt").write_text("fly images from the lab camera")
    return root


def weights_file(path: Path, num_classes: int = 5) -> Path:
    """A ResNet-18 state_dict with a 5-class head (a stand-in for weights trained elsewhere)."""
    torch.manual_seed(0)
    torch.save(models.build("resnet18", num_classes).state_dict(), path)
    return path


def own_config(tmp_path: Path, images: Path, weights: Path, **extra) -> Path:
    checksum = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    return write_config(
        tmp_path / "own.yaml", TEST_CONFIG,
        **{
            "experiment": "own",
            "data.source": "folder",
            "data.folder": {"path": str(images), "test_fraction": 0.25},
            "data.synthetic": None,
            "data.val_fraction": 0.2,
            "model.base": {"source": "file", "path": str(weights), "checksum": checksum},
            "atlas.classes": {"finetuned": ["ant"]},
            "atlas.class_pairs": {"finetuned": [["ant", "bee"]]},
            "patches.pairs": {"finetuned": [["ant", "bee"]]},
            "domain.source": "none",
            **extra,
        },
    )


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    images = image_folder(tmp / "images")
    config = own_config(tmp, images, weights_file(tmp / "base_weights.pt"))
    workdir = tmp / "work"
    workdir.mkdir()
    proc = run_snakemake(workdir, "--cores", "2", configfile=config)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir / "results" / "own"


def test_folder_and_weights_file_run_end_to_end(own_run):
    data = own_run / "data"
    assert (data / "classes.txt").read_text().split() == CLASSES
    excluded = pd.read_csv(data / "excluded.csv")
    assert sorted(Path(p).name for p in excluded["path"]) == ["README.txt", "bee99.png"]
    manifests = pd.concat([pd.read_csv(data / f"{s}.csv") for s in ("train", "val", "test")])
    assert len(manifests) == 24 and manifests["path"].is_unique
    assert sorted(manifests.groupby("label").size().tolist()) == [8, 8, 8]
    log = (own_run.parents[1] / "logs" / "own" / "folder_data" / "folder_data.log").read_text()
    assert "images per class and split" in log and "bee99.png" in log and "README.txt" in log
    # the whole study ran on it: fine-tuning, the comparison, the atlas, the paper's variables
    assert (own_run / "models" / "finetune_metrics.json").is_file()
    layers = pd.read_csv(own_run / "compare" / "layers.csv")
    assert set(layers["layer"]) == {"layer3.1", "layer4.1"}
    assert (own_run / "paper" / "variables.yml").is_file() if (own_run / "paper").exists() else True


@pytest.mark.parametrize("case, key", [
    ("empty_class", "data.folder.path"),
    ("missing", "data.folder.path"),
    ("checksum", "model.base"),
])
def test_bad_own_data_stops_before_any_job(tmp_path, case, key):
    images = image_folder(tmp_path / "images")
    weights = weights_file(tmp_path / "w.pt")
    config = own_config(tmp_path, images, weights)
    if case == "empty_class":
        (images / "wasp").mkdir()
    elif case == "missing":
        config = own_config(tmp_path, tmp_path / "nowhere", weights)
    elif case == "checksum":
        config = own_config(tmp_path, images, weights, **{"model.base": {
            "source": "file", "path": str(weights), "checksum": "sha256:" + "0" * 64}})
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = run_snakemake(workdir, "--cores", "1", configfile=config, timeout=900)
    assert proc.returncode != 0
    assert f"config key {key}" in proc.stderr
    assert not (workdir / "results").exists() or not any((workdir / "results").rglob("*.csv"))
