"""Stanford Dogs / Cars preparation on tiny archives in the real layouts."""

from __future__ import annotations

import filecmp
import logging
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vischange.datasets import read_classes, read_manifest, stanford
from vischange.datasets.download import DownloadError

from .stanford_fixtures import CAR_MODELS, DOG_BREEDS, jpeg_bytes, make_cars_devkit, make_cars_folders, make_dogs


def prepared(out: Path) -> dict[str, pd.DataFrame]:
    return {split: read_manifest(out / f"{split}.csv") for split in ("train", "val", "test")}


def test_dogs_official_split_and_stratified_validation(tmp_path):
    files = make_dogs(tmp_path / "site", train=6, test=2)
    out = tmp_path / "data"
    counts = stanford.prepare([files["images"], files["lists"]], out, layout="stanford_dogs", val_fraction=0.34, seed=3)
    assert counts == {"train": 12, "val": 6, "test": 6, "excluded": 0}
    assert read_classes(out / "classes.txt") == DOG_BREEDS
    frames = prepared(out)
    # Every class keeps round(0.34 * 6) = 2 validation images; train + val is the official train list.
    assert frames["val"]["label"].value_counts().to_dict() == {0: 2, 1: 2, 2: 2}
    official_train = {f"raw/Images/{rel}" for rel, _ in files["splits"]["train"]}
    assert set(frames["train"]["path"]) | set(frames["val"]["path"]) == official_train
    assert not set(frames["train"]["path"]) & set(frames["val"]["path"])
    assert set(frames["test"]["path"]) == {f"raw/Images/{rel}" for rel, _ in files["splits"]["test"]}
    # Labels follow the .mat labels (1-based there), and every path points to its class folder.
    for frame in frames.values():
        for path, label in zip(frame["path"], frame["label"]):
            assert path.split("/")[2] == DOG_BREEDS[label]
        assert all(Path(p).is_file() for p in frame["abspath"])
    assert pd.read_csv(out / "excluded.csv").empty
    assert sorted(p.name for p in out.iterdir()) == ["classes.txt", "excluded.csv", "raw", "test.csv", "train.csv", "val.csv"]


def test_preparation_is_deterministic_and_seeded(tmp_path):
    files = make_dogs(tmp_path / "site", train=8, test=1)
    args = dict(layout="stanford_dogs", val_fraction=0.25)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        stanford.prepare([files["images"], files["lists"]], tmp_path / name, seed=seed, **args)
    for split in ("train", "val", "test"):
        assert filecmp.cmp(tmp_path / "a" / f"{split}.csv", tmp_path / "b" / f"{split}.csv", shallow=False)
    assert not filecmp.cmp(tmp_path / "a" / "val.csv", tmp_path / "c" / "val.csv", shallow=False)


def test_corrupt_images_are_named_logged_and_excluded(tmp_path, caplog):
    breed = DOG_BREEDS[1]
    wnid = breed.split("-")[0]
    broken = {
        f"{breed}/{wnid}_7.jpg": jpeg_bytes(7)[:200],  # a truncated JPEG (train split)
        f"{DOG_BREEDS[2]}/{DOG_BREEDS[2].split('-')[0]}_17.jpg": b"this is not an image",  # test split
    }
    files = make_dogs(tmp_path / "site", train=4, test=2, corrupt=broken)
    out = tmp_path / "data"
    with caplog.at_level(logging.WARNING):
        counts = stanford.prepare([files["images"], files["lists"]], out, layout="stanford_dogs", val_fraction=0.25, seed=0)
    assert counts["excluded"] == 2 and counts["train"] + counts["val"] == 11 and counts["test"] == 5
    excluded = pd.read_csv(out / "excluded.csv")
    assert set(excluded["path"]) == {f"raw/Images/{rel}" for rel in broken}
    assert set(excluded["split"]) == {"train", "test"}
    used = pd.concat(prepared(out).values())["path"]
    assert not set(used) & set(excluded["path"])
    assert "excluded 2 of 18 images" in caplog.text
    for rel in broken:
        assert rel in caplog.text


def test_validation_mask_is_per_class_and_seeded():
    labels = np.repeat([0, 1, 2, 3], [10, 5, 2, 1])
    mask = stanford.validation_mask(labels, 0.2, seed=0)
    assert [int(mask[labels == c].sum()) for c in range(4)] == [2, 1, 1, 0]  # >=1 when possible, never all
    assert np.array_equal(mask, stanford.validation_mask(labels, 0.2, seed=0))
    assert not np.array_equal(mask, stanford.validation_mask(labels, 0.2, seed=1))


def test_cars_devkit_layout(tmp_path):
    files = make_cars_devkit(tmp_path / "site", train=4, test=2)
    out = tmp_path / "data"
    counts = stanford.prepare(files, out, layout="cars_devkit", val_fraction=0.25, seed=0)
    assert counts == {"train": 9, "val": 3, "test": 6, "excluded": 0}
    assert read_classes(out / "classes.txt") == CAR_MODELS
    frames = prepared(out)
    assert all(p.startswith("raw/cars_test/") for p in frames["test"]["path"])
    assert frames["test"]["label"].value_counts().to_dict() == {0: 2, 1: 2, 2: 2}


def test_cars_folders_layout_and_directory_source(tmp_path):
    archive = make_cars_folders(tmp_path / "site", train=3, test=2)
    out = tmp_path / "data"
    counts = stanford.prepare([archive], out, layout="cars_folders", val_fraction=0.34, seed=0)
    assert counts == {"train": 6, "val": 3, "test": 6, "excluded": 0}
    assert read_classes(out / "classes.txt") == sorted(CAR_MODELS)

    # The same data as an already extracted folder: read in place, no raw/ copy.
    extracted = tmp_path / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    out2 = tmp_path / "data2"
    stanford.prepare([], out2, layout="cars_folders", val_fraction=0.34, seed=0, directory=extracted)
    assert not (out2 / "raw").exists()
    frames = prepared(out2)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frames["train"]["path"])
    assert len(frames["train"]) == 6


def test_wrong_layout_leaves_no_partial_output(tmp_path):
    files = make_dogs(tmp_path / "site")
    out = tmp_path / "data"
    with pytest.raises(DownloadError, match="expected layout"):
        stanford.prepare([files["images"], files["lists"]], out, layout="cars_devkit", val_fraction=0.2, seed=0)
    assert list(out.iterdir()) == []


def test_truncated_compressed_archive_leaves_no_partial_output(tmp_path):
    files = make_cars_devkit(tmp_path / "site")
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])
    out = tmp_path / "data"
    with pytest.raises(DownloadError, match="truncated or corrupt"):
        stanford.prepare(files, out, layout="cars_devkit", val_fraction=0.2, seed=0)
    assert list(out.iterdir()) == []


def test_class_without_usable_images_stops(tmp_path):
    breed = DOG_BREEDS[0]
    wnid = breed.split("-")[0]
    broken = {f"{breed}/{wnid}_{i}.jpg": b"junk" for i in (5, 6)}  # the class's whole test split
    files = make_dogs(tmp_path / "site", train=4, test=2, corrupt=broken)
    out = tmp_path / "data"
    with pytest.raises(stanford.DatasetError, match=r"test split has no usable image of 1 class.*Chihuahua"):
        stanford.prepare([files["images"], files["lists"]], out, layout="stanford_dogs", val_fraction=0.25, seed=0)
    assert list(out.iterdir()) == []


def test_layout_of():
    assert stanford.layout_of({"source": "stanford_dogs"}) == "stanford_dogs"
    assert stanford.layout_of({"source": "stanford_cars", "stanford_cars": {"layout": "folders"}}) == "cars_folders"
