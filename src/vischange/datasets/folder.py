"""Your own images: a class-per-folder dataset (``data.source: folder``).

Two layouts, told apart by whether ``train/`` and ``test/`` sub-folders exist::

    split:   <path>/train/<class>/*.jpg   <path>/test/<class>/*.jpg   (your split, kept)
    single:  <path>/<class>/*.jpg         (the test split is drawn here: data.folder.test_fraction
                                           of each class, seeded from seed)

Class names are the sub-folder names, labels their sorted order. Images are files ending in
.jpg, .jpeg or .png (any case); other files are listed as not images in data/excluded.csv
and the log, never read. Validation images come from the training split as for the Stanford
datasets (data.val_fraction); every image is decoded once and those that fail are excluded
and named (:func:`vischange.datasets.stanford.prepare`).

:func:`list_folder` only lists (no decoding), so the workflow calls it while it parses the
config: a missing folder, a class folder without images or a test class unknown to train
stop the run before any job, naming the config key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime import derive_seed

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
KEY = "data.folder.path"
# A class needs one image in each of train, validation and (single layout) test.
MIN_SINGLE_IMAGES = 3


class FolderError(ValueError):
    """The folder does not form a dataset; the message names the config key."""


@dataclass
class Listing:
    """A class-per-folder dataset as listed: per split, (absolute path, label); class names in
    label order; files that are not images as (path, split, reason)."""

    layout: str
    classes: list[str]
    splits: dict[str, list[tuple[Path, int]]]
    not_images: list[tuple[Path, str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {class: number of image files}} as listed (before decoding)."""
        return {split: {name: sum(1 for _, label in items if label == k) for k, name in enumerate(self.classes)}
                for split, items in self.splits.items()}


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _files(folder: Path, split: str, label: int, out: list, not_images: list) -> int:
    n = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            out.append((path.resolve(), label))
            n += 1
        else:
            not_images.append((path.resolve(), split, f"not an image file (suffix {path.suffix or 'none'!r})"))
    return n


def list_folder(path: str | os.PathLike) -> Listing:
    """List `path` in either layout (module docstring); FolderError naming :data:`KEY` when it
    is no folder, has no class folders, a class folder holds no image, or test/ has a class
    that train/ lacks (or the reverse). In the single layout every image is listed under
    ``all``; :func:`split_single` draws the test split."""
    if not path:
        raise FolderError(f"config key {KEY}: data.source folder needs the folder of your images")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FolderError(f"config key {KEY}: {str(path)!r} is not a folder")
    split_layout = (root / "train").is_dir() and (root / "test").is_dir()
    tops = {"train": root / "train", "test": root / "test"} if split_layout else {"all": root}
    dirs = {split: _class_dirs(folder) for split, folder in tops.items()}
    first = "train" if split_layout else "all"
    classes = [d.name for d in dirs[first]]
    if not classes:
        raise FolderError(f"config key {KEY}: {str(tops[first])!r} holds no class folders (one sub-folder of images per class)")
    if split_layout:
        unknown = sorted({d.name for d in dirs["test"]} - set(classes))
        if unknown:
            raise FolderError(f"config key {KEY}: test/ has classes that train/ lacks: {unknown[:10]}")
        untested = sorted(set(classes) - {d.name for d in dirs["test"]})
        if untested:
            raise FolderError(f"config key {KEY}: train/ has classes without a folder in test/: {untested[:10]}")
    index = {name: k for k, name in enumerate(classes)}
    splits: dict[str, list[tuple[Path, int]]] = {split: [] for split in tops}
    not_images: list[tuple[Path, str, str]] = []
    empty = []
    for split, folders in dirs.items():
        for folder in folders:
            n = _files(folder, split, index[folder.name], splits[split], not_images)
            if n == 0:
                empty.append(f"{split}/{folder.name}" if split_layout else folder.name)
            elif not split_layout and n < MIN_SINGLE_IMAGES:
                raise FolderError(f"config key {KEY}: class folder {folder.name!r} holds {n} image(s); the split into "
                                  f"train, validation and test needs at least {MIN_SINGLE_IMAGES}")
    if empty:
        raise FolderError(f"config key {KEY}: class folder(s) without images ({', '.join(IMAGE_SUFFIXES)}): {empty[:10]}")
    return Listing("split" if split_layout else "single", classes, splits, not_images)


def split_single(items: list[tuple[Path, int]], test_fraction: float, seed: int) -> tuple[list, list]:
    """Train and test of the single layout: per class, round(test_fraction * n) images (at least
    1, at most n - 2, leaving two for train and validation) drawn without replacement by a
    generator seeded from (seed, class label). Returns (train, test), each in path order."""
    labels = np.array([label for _, label in items])
    test = np.zeros(len(items), dtype=bool)
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        count = min(max(1, int(round(test_fraction * len(index)))), len(index) - 2)
        rng = np.random.default_rng(derive_seed(seed, "test-split", int(label)))
        test[rng.choice(index, size=count, replace=False)] = True
    return [x for x, t in zip(items, test) if not t], [x for x, t in zip(items, test) if t]


def fingerprint(listing: Listing) -> str:
    """sha256 over every listed file's path, size and modification time: a workflow param, so
    that adding, removing or replacing an image reruns the data job (and what follows)."""
    digest = hashlib.sha256(listing.layout.encode())
    for split in sorted(listing.splits):
        for path, label in listing.splits[split]:
            stat = path.stat()
            digest.update(f"{split}\0{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def test_count(listing: Listing, test_fraction: float) -> int:
    """Number of test images the split will hold before decoding (what :func:`split_single` draws)."""
    if listing.layout == "split":
        return len(listing.splits["test"])
    per_class = listing.counts()["all"].values()
    return sum(min(max(1, int(round(test_fraction * n))), n - 2) for n in per_class)
