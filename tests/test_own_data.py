"""Study your own networks, end to end: the workflow from a class folder made here (with
an unreadable image and a file that is not an image) through the renders, the comparison,
the render-free change and attribution, comparing a base network and a fine-tuned network
both read from weights files made here (no training); bad folders, checksums,
architectures, head sizes and variant names stop Snakemake before any job."""

from __future__ import annotations

import hashlib
import json
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


def finetuned_file(path: Path, base: Path, classes: int = len(CLASSES), arch: str = "resnet18") -> Path:
    """The base weights "fine-tuned elsewhere": layer4.1 moved and a new head, nothing else touched."""
    state = torch.load(base, weights_only=True)
    torch.manual_seed(1)
    if arch != "resnet18":
        state = models.build(arch, classes).state_dict()
    for key, value in state.items():
        if key.startswith("layer4.1.") and value.is_floating_point():
            state[key] = value + 0.01 * torch.randn_like(value)
    head = models.build("resnet18", classes).fc
    state["fc.weight"], state["fc.bias"] = head.weight.detach().clone(), head.bias.detach().clone()
    torch.save(state, path)
    return path


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def own_config(tmp_path: Path, images: Path, weights: Path, finetuned: Path | None = None, **extra) -> Path:
    checksum = sha256(weights)
    if finetuned is not None:
        extra = {"model.finetuned": {"source": "file", "path": str(finetuned), "checksum": sha256(finetuned)}, **extra}
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
            "finetune.trainable": ["layer4.1", "fc"],
            # the test config's seed variant runs in test_workflow; here it would only add time
            "variants": [],
            **extra,
        },
    )


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    images = image_folder(tmp / "images")
    base = weights_file(tmp / "base_weights.pt")
    config = own_config(tmp, images, base, finetuned_file(tmp / "finetuned_weights.pt", base))
    workdir = tmp / "work"
    workdir.mkdir()
    proc = run_snakemake(workdir, "--cores", "2", *OWN_TARGETS, configfile=config)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir / "results" / "own"


# What the two new sources feed: the data and the models, and through them the renders, the
# comparison, the render-free change and the task head's view of the folder's classes. The
# stages after them read the same manifests and checkpoints as in every other run, which
# test_workflow runs in full; here they would only add time.
OWN_TARGETS = [f"results/own/{path}" for path in (
    "models/finetune_metrics.json", "compare/layers.csv", "change/layers.csv", "change/crosscheck.csv",
    "attribution/finetuned/confusion.csv", "renders/quality.csv")]


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
    # the fine-tuned network is the file's, evaluated here, not trained
    metrics = json.loads((own_run / "models" / "finetune_metrics.json").read_text())
    assert metrics["source"] == "file" and metrics["epochs"] == [] and metrics["num_test"] == len(pd.read_csv(data / "test.csv"))
    assert not (own_run.parents[1] / "logs" / "own" / "finetune").exists()
    # the study ran on the two files: the frozen layer3.1 is unchanged, layer4.1 changed
    layers = pd.read_csv(own_run / "compare" / "layers.csv").set_index("layer")
    assert layers.loc["layer3.1", "fine_tuned"] == False and layers.loc["layer4.1", "fine_tuned"] == True  # noqa: E712
    # the fine-tuned network's own head decides the folder's classes
    confusion = pd.read_csv(own_run / "attribution" / "finetuned" / "confusion.csv")
    assert set(confusion["true"]) <= set(CLASSES) and confusion["count"].sum() == len(pd.read_csv(data / "test.csv"))
    change = pd.read_csv(own_run / "change" / "layers.csv").set_index("layer")
    assert change.loc["layer3.1", "cka"] == pytest.approx(1.0)
    assert change.loc["layer4.1", "cka"] < 1.0


@pytest.mark.parametrize("case, key", [
    ("empty_class", "data.folder.path"),
    ("missing", "data.folder.path"),
    ("checksum", "model.base.checksum"),
    ("finetuned_checksum", "model.finetuned.checksum"),
    ("head", "model.finetuned.path"),
    ("arch", "model.finetuned.path"),
    ("variant_name", "variants.0.name"),
])
def test_bad_own_data_stops_before_any_job(tmp_path, case, key):
    images = image_folder(tmp_path / "images")
    weights = weights_file(tmp_path / "w.pt")
    finetuned = finetuned_file(tmp_path / "f.pt", weights)
    config = own_config(tmp_path, images, weights, finetuned)
    if case == "empty_class":
        (images / "wasp").mkdir()
    elif case == "missing":
        config = own_config(tmp_path, tmp_path / "nowhere", weights, finetuned)
    elif case == "checksum":
        config = own_config(tmp_path, images, weights, finetuned, **{"model.base": {
            "source": "file", "path": str(weights), "checksum": "sha256:" + "0" * 64}})
    elif case == "finetuned_checksum":
        config = own_config(tmp_path, images, weights, **{"model.finetuned": {
            "source": "file", "path": str(finetuned), "checksum": "sha256:" + "0" * 64}})
    elif case == "head":  # a 4-way head for 3 classes
        config = own_config(tmp_path, images, weights, finetuned_file(tmp_path / "f4.pt", weights, classes=4))
    elif case == "arch":  # ResNet-34 weights for a ResNet-18 study
        config = own_config(tmp_path, images, weights, finetuned_file(tmp_path / "f34.pt", weights, arch="resnet34"))
    elif case == "variant_name":  # a variant may not take a network's name
        config = own_config(tmp_path, images, weights, finetuned, variants=[{"name": "finetuned", "finetune": {"seed": 1}}])
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = run_snakemake(workdir, "--cores", "1", configfile=config, timeout=900)
    assert proc.returncode != 0
    assert f"config key {key}" in proc.stderr, proc.stderr[-3000:]
    # stopped before any job: nothing written under results/
    assert not (workdir / "results").exists()
    if case == "head":
        assert "has 4 outputs, but the data has 3 classes" in proc.stderr
    if case == "arch":
        assert "unexpected keys" in proc.stderr and "layer1.2" in proc.stderr
    assert not (workdir / "results").exists() or not any((workdir / "results").rglob("*.csv"))
