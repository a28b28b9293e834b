"""Your own class folders (data.source folder): listing, the two layouts, bad cases, the manifests."""

from __future__ import annotations

import filecmp
import logging
from pathlib import Path

import pandas as pd
import pytest

from vischange import config as vcfg
from vischange.datasets import folder, read_classes, read_manifest, stanford

from .stanford_fixtures import jpeg_bytes

CLASSES = ["beetle", "moth", "wasp"]


def make_folder(root: Path, per_class: dict[str, int], split_layout: bool = False, seed: int = 0) -> Path:
    """Class folders of small JPEGs: root/<class>/ or root/{train,test}/<class>/ (test gets 2 each)."""
    for k, (name, n) in enumerate(per_class.items()):
        parts = [("train", n), ("test", 2)] if split_layout else [(None, n)]
        for split, count in parts:
            where = root / split / name if split else root / name
            where.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (where / f"{name}_{i:02d}.jpg").write_bytes(jpeg_bytes(seed + 100 * k + i + (50 if split == "test" else 0)))
    return root


def test_single_layout_splits_test_per_class_seeded_and_lists_strays(tmp_path, caplog):
    root = make_folder(tmp_path / "imgs", {name: 10 for name in CLASSES})
    (root / "moth" / "notes.txt").write_text("not an image")
    (root / "wasp" / "wasp_99.jpg").write_bytes(b"this is no JPEG")  # unreadable image
    out = tmp_path / "data"
    with caplog.at_level(logging.INFO):
        counts = stanford.prepare([], out, layout="folder", val_fraction=0.25, seed=1, directory=root,
                                  parse_options={"test_fraction": 0.2, "seed": 1})
    assert read_classes(out / "classes.txt") == CLASSES
    frames = {s: read_manifest(out / f"{s}.csv") for s in ("train", "val", "test")}
    # 10 listed images per class (11 for wasp, one unreadable): round(0.2 * n) = 2 test each
    assert frames["test"]["label"].value_counts().sort_index().tolist() == [2, 2, 2]
    assert counts["excluded"] == 1
    excluded = pd.read_csv(out / "excluded.csv")
    assert sorted(Path(p).name for p in excluded["path"]) == ["notes.txt", "wasp_99.jpg"]
    reasons = dict(zip([Path(p).name for p in excluded["path"]], excluded["reason"]))
    assert reasons["notes.txt"].startswith("not an image file")
    every = pd.concat(frames.values())
    assert "wasp_99.jpg" not in {Path(p).name for p in every["path"]}
    assert len(every) == 30 and every["path"].is_unique
    assert "images per class and split" in caplog.text and "notes.txt" in caplog.text and "wasp_99.jpg" in caplog.text
    # the same seed draws the same split; another seed another one
    stanford.prepare([], tmp_path / "again", layout="folder", val_fraction=0.25, seed=1, directory=root,
                     parse_options={"test_fraction": 0.2, "seed": 1})
    stanford.prepare([], tmp_path / "other", layout="folder", val_fraction=0.25, seed=2, directory=root,
                     parse_options={"test_fraction": 0.2, "seed": 2})
    assert filecmp.cmp(out / "test.csv", tmp_path / "again" / "test.csv", shallow=False)
    assert not filecmp.cmp(out / "test.csv", tmp_path / "other" / "test.csv", shallow=False)


def test_split_layout_keeps_your_split(tmp_path):
    root = make_folder(tmp_path / "imgs", {name: 6 for name in CLASSES}, split_layout=True)
    out = tmp_path / "data"
    stanford.prepare([], out, layout="folder", val_fraction=0.34, seed=0, directory=root)
    test = read_manifest(out / "test.csv")
    assert sorted(Path(p).parent.parent.name for p in test["abspath"]) == ["test"] * 6
    assert read_manifest(out / "val.csv")["label"].value_counts().tolist() == [2, 2, 2]
    listing = folder.list_folder(root)
    assert listing.layout == "split" and folder.test_count(listing, 0.2) == 6


@pytest.mark.parametrize("case, message", [
    ("missing", "is not a folder"),
    ("no_classes", "holds no class folders"),
    ("empty_class", "without images"),
    ("test_only_class", "test/ has classes that train/ lacks: ['hornet']"),
    ("train_only_class", "without a folder in test/: ['wasp']"),
    ("too_few", "needs at least 3"),
])
def test_bad_folders_are_refused_naming_the_key(tmp_path, case, message):
    root = tmp_path / "imgs"
    if case == "no_classes":
        root.mkdir()
        (root / "readme.txt").write_text("x")
    elif case == "empty_class":
        make_folder(root, {"beetle": 4, "moth": 4})
        (root / "wasp").mkdir()
    elif case == "test_only_class":
        make_folder(root, {name: 4 for name in CLASSES}, split_layout=True)
        (root / "test" / "hornet").mkdir()
        (root / "test" / "hornet" / "h.jpg").write_bytes(jpeg_bytes(9))
    elif case == "train_only_class":
        make_folder(root, {name: 4 for name in CLASSES}, split_layout=True)
        for f in (root / "test" / "wasp").iterdir():
            f.unlink()
        (root / "test" / "wasp").rmdir()
    elif case == "too_few":
        make_folder(root, {"beetle": 4, "moth": 2})
    with pytest.raises(folder.FolderError, match="config key data.folder.path") as err:
        folder.list_folder(root)
    assert message in str(err.value)
    # the config check reports the same problem (before any job) and writes nothing
    data = {"source": "folder", "folder": {"path": str(root), "test_fraction": 0.2}}
    assert any(message in p for p in vcfg.data_problems(data))
    assert vcfg.task_classes({"data": data, "experiment": "x"}) is None


def test_config_knows_classes_and_test_count_before_any_job(tmp_path):
    root = make_folder(tmp_path / "imgs", {"beetle": 10, "moth": 5})
    data = {"source": "folder", "folder": {"path": str(root), "test_fraction": 0.2}}
    config = {"data": data, "experiment": "x"}
    assert vcfg.task_classes(config) == ["beetle", "moth"]
    assert vcfg.count_test_images(config) == 2 + 1
    assert vcfg.data_problems(data) == []
    before = folder.fingerprint(folder.list_folder(root))
    (root / "moth" / "moth_09.jpg").write_bytes(jpeg_bytes(77))
    assert folder.fingerprint(folder.list_folder(root)) != before


def test_a_finetuned_weights_file_is_checked_before_any_job(tmp_path):
    import torch

    from vischange import models

    root = make_folder(tmp_path / "imgs", {"beetle": 5, "moth": 5})
    weights = tmp_path / "ft.pt"
    torch.save(models.build("resnet18", 2).state_dict(), weights)
    config = {"experiment": "x", "model": {"arch": "resnet18", "finetuned": {"source": "file", "path": str(weights),
              "checksum": None}}, "data": {"source": "folder", "folder": {"path": str(root), "test_fraction": 0.2}}}
    assert vcfg.finetuned_problems(config) == []
    config["model"]["finetuned"]["checksum"] = "md5:" + "0" * 32
    assert "config key model.finetuned.checksum: checksum mismatch" in vcfg.finetuned_problems(config)[0]
    config["model"]["finetuned"].update(checksum=None, path=str(tmp_path / "none.pt"))
    assert "cannot read weights file" in vcfg.finetuned_problems(config)[0]
    torch.save(models.build("resnet18", 7).state_dict(), weights)
    config["model"]["finetuned"]["path"] = str(weights)
    assert "has 7 outputs, but the data has 2 classes" in vcfg.finetuned_problems(config)[0]
    config["model"]["finetuned"]["source"] = "train"
    assert vcfg.finetuned_problems(config) == []
