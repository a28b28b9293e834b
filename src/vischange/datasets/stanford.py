"""Stanford Dogs and Stanford Cars: from verified archives to the workflow's manifests.

Both end as the demo's files in one folder (the rule's ``results/{experiment}/data/``)::

    raw/                      the archives' contents, as distributed
    train.csv, val.csv, test.csv   path,label (paths relative to the folder)
    classes.txt               class names in label order
    excluded.csv              path,split,reason: images that failed to decode (never used)

The official train/test split is kept; validation images (for epoch selection) are
drawn from the official training split, per class, with a seeded generator. Every
image is decoded once before it enters a manifest: corrupt or unreadable ones are
logged by name, listed in excluded.csv and left out.

Layouts read (after extraction; any extra wrapping folders are found and skipped):

* Stanford Dogs: ``images.tar`` + ``lists.tar`` from the dataset's page::

      Images/n02085620-Chihuahua/n02085620_10074.jpg ...
      train_list.mat, test_list.mat      (file_list: paths under Images/, labels: 1..120)

* Stanford Cars, layout ``devkit`` (the original distribution, also torchvision's
  ``StanfordCars`` layout and the Kaggle mirror's)::

      devkit/cars_meta.mat               (class_names: 196 names)
      devkit/cars_train_annos.mat        (annotations: fname, class 1..196, bbox)
      cars_test_annos_withlabels.mat     (or under devkit/)
      cars_train/00001.jpg ...   cars_test/00001.jpg ...

* Stanford Cars, layout ``folders`` (class-per-folder mirrors)::

      train/<class name>/*.jpg   test/<class name>/*.jpg
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ..runtime import derive_seed, write_csv
from .download import DownloadError, extract_all, find_root

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(ValueError):
    """The extracted files do not form the expected dataset (layout, labels, empty classes)."""


@dataclass
class Parsed:
    """A dataset read from its files: (absolute image path, label) per official split, and class names."""

    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    classes: list[str]
    # files that were not read as images: (path, official split, reason)
    ignored: list[tuple[Path, str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------
# .mat readers
# --------------------------------------------------------------------------


def _loadmat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path, squeeze_me=True)
    except Exception as err:  # scipy raises ValueError, TypeError, MatReadError...
        raise DatasetError(f"cannot read {path}: {err}") from None


def _strings(values) -> list[str]:
    return [str(v) for v in np.atleast_1d(values)]


def _ints(values) -> list[int]:
    return [int(v) for v in np.atleast_1d(values)]


def read_dogs_list(path: Path) -> list[tuple[str, int]]:
    """A Stanford Dogs split list (train_list.mat / test_list.mat) -> [(path under Images/, label 1..120)]."""
    mat = _loadmat(path)
    if "file_list" not in mat or "labels" not in mat:
        raise DatasetError(f"{path} has no file_list / labels variables")
    files, labels = _strings(mat["file_list"]), _ints(mat["labels"])
    if len(files) != len(labels):
        raise DatasetError(f"{path}: {len(files)} files but {len(labels)} labels")
    return list(zip(files, labels))


def parse_dogs(top: Path) -> Parsed:
    """Stanford Dogs under `top` (extracted images.tar + lists.tar); labels become 0-based."""
    root = find_root(top, ["Images", "train_list.mat", "test_list.mat"])
    splits = {split: read_dogs_list(root / f"{split}_list.mat") for split in ("train", "test")}
    names: dict[int, str] = {}
    for split, rows in splits.items():
        for rel, label in rows:
            folder = rel.replace("\\", "/").split("/")[0]
            if names.setdefault(label, folder) != folder:
                raise DatasetError(f"{split}_list.mat: label {label} names both {names[label]} and {folder}")
    labels = sorted(names)
    if labels != list(range(1, len(labels) + 1)):
        raise DatasetError(f"Stanford Dogs labels are not 1..{len(labels)}: {labels[:5]}...")
    classes = [names[i] for i in labels]
    return Parsed(
        train=[(root / "Images" / rel, label - 1) for rel, label in splits["train"]],
        test=[(root / "Images" / rel, label - 1) for rel, label in splits["test"]],
        classes=classes,
    )


def _read_cars_annotations(path: Path, images: Path) -> list[tuple[Path, int]]:
    mat = _loadmat(path)
    if "annotations" not in mat:
        raise DatasetError(f"{path} has no annotations variable")
    ann = np.atleast_1d(mat["annotations"])
    fields = ann.dtype.names or ()
    if "fname" not in fields or "class" not in fields:
        raise DatasetError(
            f"{path}: annotations have fields {list(fields)}, need fname and class "
            "(the devkit's cars_test_annos.mat has no labels: use cars_test_annos_withlabels.mat)"
        )
    return [(images / str(f), int(c) - 1) for f, c in zip(ann["fname"], ann["class"])]


def parse_cars_devkit(top: Path) -> Parsed:
    """Stanford Cars in the original devkit layout under `top`; labels become 0-based."""
    root = find_root(top, ["devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_train", "cars_test"])
    test_annos = next(
        (p for p in (root / "cars_test_annos_withlabels.mat", root / "devkit/cars_test_annos_withlabels.mat") if p.is_file()),
        None,
    )
    if test_annos is None:
        raise DatasetError(f"{root}: cars_test_annos_withlabels.mat not found (beside devkit/ or inside it)")
    classes = _strings(_loadmat(root / "devkit/cars_meta.mat").get("class_names", []))
    if not classes:
        raise DatasetError(f"{root}/devkit/cars_meta.mat has no class_names")
    parsed = Parsed(
        train=_read_cars_annotations(root / "devkit/cars_train_annos.mat", root / "cars_train"),
        test=_read_cars_annotations(test_annos, root / "cars_test"),
        classes=classes,
    )
    for split in ("train", "test"):
        bad = sorted({label for _, label in getattr(parsed, split) if not 0 <= label < len(classes)})
        if bad:
            raise DatasetError(f"{split} annotations use classes {[b + 1 for b in bad]} beyond the {len(classes)} in cars_meta.mat")
    return parsed


def parse_cars_folders(top: Path) -> Parsed:
    """Stanford Cars as train/<class>/*.jpg and test/<class>/*.jpg; classes sorted by name."""
    root = find_root(top, ["train", "test"])
    folders = {split: sorted(p for p in (root / split).iterdir() if p.is_dir()) for split in ("train", "test")}
    classes = [p.name for p in folders["train"]]
    if not classes:
        raise DatasetError(f"{root}/train holds no class folders")
    unknown = sorted({p.name for p in folders["test"]} - set(classes))
    if unknown:
        raise DatasetError(f"{root}/test has classes missing from train: {unknown[:5]}")
    index = {name: i for i, name in enumerate(classes)}

    def images(split: str) -> list[tuple[Path, int]]:
        return [
            (path, index[folder.name])
            for folder in folders[split]
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]

    return Parsed(train=images("train"), test=images("test"), classes=classes)


def parse_folder(top: Path, *, test_fraction: float = 0.2, seed: int = 0) -> Parsed:
    """Your own class-per-folder images (:mod:`.folder`: split or single layout); files that
    are not images go to ``ignored``."""
    from . import folder

    try:
        listing = folder.list_folder(top)
    except folder.FolderError as err:
        raise DatasetError(str(err)) from None
    if listing.layout == "split":
        train, test = listing.splits["train"], listing.splits["test"]
    else:
        train, test = folder.split_single(listing.splits["all"], test_fraction, seed)
    return Parsed(train=train, test=test, classes=listing.classes, ignored=listing.not_images)


PARSERS = {"stanford_dogs": parse_dogs, "cars_devkit": parse_cars_devkit, "cars_folders": parse_cars_folders,
           "folder": parse_folder}


# --------------------------------------------------------------------------
# Image checks and the validation split
# --------------------------------------------------------------------------


def image_problem(path: str | os.PathLike) -> str | None:
    """Why an image cannot be used (missing, undecodable, truncated), or None if it decodes to RGB."""
    try:
        with Image.open(path) as image:
            image.load()  # full decode: a truncated JPEG fails here, not in Image.open
            image.convert("RGB")
    except FileNotFoundError:
        return "missing"
    except Exception as err:  # UnidentifiedImageError, OSError, SyntaxError, DecompressionBombError
        return f"{type(err).__name__}: {err}"
    return None


def find_bad_images(paths: Sequence[Path], threads: int = 1) -> dict[Path, str]:
    """Decode every image (in `threads` threads; Pillow releases the GIL while decoding) -> {path: reason}."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(
            tqdm(pool.map(image_problem, paths, chunksize=64), total=len(paths), desc="checking images", mininterval=5)
        )
    return {path: reason for path, reason in zip(paths, results) if reason is not None}


def validation_mask(labels: Sequence[int], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask over `labels`: True for images moved to validation.

    Per class, round(fraction * n) images (at least 1 and at most n - 1 when the class
    has two or more) are drawn without replacement by a generator seeded from
    (seed, class label), so each class's draw is independent of the others.
    """
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    if fraction <= 0:
        return mask
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if len(index) < 2:
            continue
        count = min(max(1, int(round(fraction * len(index)))), len(index) - 1)
        rng = np.random.default_rng(derive_seed(seed, "validation-split", int(label)))
        mask[rng.choice(index, size=count, replace=False)] = True
    return mask


# --------------------------------------------------------------------------
# The whole preparation
# --------------------------------------------------------------------------


def prepare(
    files: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    layout: str,
    val_fraction: float,
    seed: int,
    threads: int = 1,
    directory: str | os.PathLike | None = None,
    parse_options: dict | None = None,
) -> dict[str, int]:
    """Extract verified `files` and write raw/, {train,val,test}.csv, classes.txt, excluded.csv in `out_dir`.

    `layout`: one of PARSERS (stanford_dogs, cars_devkit, cars_folders, folder), called with
    `parse_options` as keyword arguments. Checksums are
    the caller's job (see download.fetch). With `directory` (an already extracted
    copy) instead of `files`, nothing is extracted: no raw/ is written and the
    manifests hold absolute paths into `directory`. Everything is built in a staging
    folder inside `out_dir` and moved into place at the end, so a failure leaves no
    partial output. Returns the number of images per split and of excluded images.
    """
    if layout not in PARSERS:
        raise ValueError(f"layout must be one of {sorted(PARSERS)}, got {layout!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare.", dir=out_dir))
    try:
        if directory is not None:
            top = Path(directory).resolve()
            if not top.is_dir():
                raise DatasetError(f"{directory} is not a folder")

            def name(path: Path) -> str:
                return path.as_posix()

        else:
            top = extract_all(files, staging / "raw")

            def name(path: Path) -> str:
                return path.relative_to(staging).as_posix()

        parsed = PARSERS[layout](top, **(parse_options or {}))
        log.info(
            "%s: %d classes, %d official train and %d test images",
            layout, len(parsed.classes), len(parsed.train), len(parsed.test),
        )

        every = [path for path, _ in parsed.train + parsed.test]
        bad = find_bad_images(every, threads)
        excluded = [
            {"path": name(path), "split": split, "reason": bad[path]}
            for split in ("train", "test")
            for path, _ in getattr(parsed, split)
            if path in bad
        ]
        if parsed.ignored:
            log.warning("ignored %d files that are not images:", len(parsed.ignored))
            for path, split, reason in parsed.ignored:
                log.warning("  ignored %s (%s): %s", name(path), split, reason)
        if excluded:
            log.warning("excluded %d of %d images, which do not decode:", len(excluded), len(every))
            for row in excluded:
                log.warning("  excluded %s (%s split): %s", row["path"], row["split"], row["reason"])
        else:
            log.info("all %d images decode", len(every))

        def rows(items) -> pd.DataFrame:
            frame = pd.DataFrame(
                [(name(path), label) for path, label in items if path not in bad], columns=["path", "label"]
            )
            return frame.sort_values("path", kind="stable").reset_index(drop=True)

        train = rows(parsed.train)
        in_val = validation_mask(train["label"].to_numpy(), val_fraction, seed)
        frames = {"train": train[~in_val], "val": train[in_val], "test": rows(parsed.test)}
        for split in ("train", "test"):
            missing = sorted(set(range(len(parsed.classes))) - set(frames[split]["label"]))
            if missing:
                names = [parsed.classes[i] for i in missing[:5]]
                raise DatasetError(f"the {split} split has no usable image of {len(missing)} class(es), e.g. {names}")
        if frames["val"].empty:
            raise DatasetError("the validation split is empty: every class has fewer than 2 training images")

        for split, frame in frames.items():
            write_csv(staging / f"{split}.csv", frame)
        (staging / "classes.txt").write_text("".join(f"{c}\n" for c in parsed.classes))
        ignored = [{"path": name(path), "split": split, "reason": reason} for path, split, reason in parsed.ignored]
        write_csv(staging / "excluded.csv", pd.DataFrame(excluded + ignored, columns=["path", "split", "reason"]))
        log.info("images per class and split:\n%s", split_table(frames, parsed.classes).to_string())

        # Move into place: raw/ first, then the small files (each rename is atomic).
        if directory is None:
            if (out_dir / "raw").exists():
                shutil.rmtree(out_dir / "raw")
            os.replace(staging / "raw", out_dir / "raw")
        for file in ("classes.txt", "excluded.csv", "train.csv", "val.csv", "test.csv"):
            os.replace(staging / file, out_dir / file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = {split: len(frame) for split, frame in frames.items()}
    counts["excluded"] = len(excluded)
    log.info("wrote %s: %s", out_dir, counts)
    return counts


def split_table(frames: dict[str, pd.DataFrame], classes: Sequence[str]) -> pd.DataFrame:
    """Images per class (rows, label order) and split (columns), with a total row."""
    table = pd.DataFrame({split: frame["label"].value_counts().reindex(range(len(classes)), fill_value=0).to_numpy()
                          for split, frame in frames.items()}, index=pd.Index(list(classes), name="class"))
    table.loc["total"] = table.sum()
    return table


def layout_of(data: dict) -> str:
    """The parser name for a data config section (data.source and data.stanford_cars.layout)."""
    if data["source"] == "stanford_dogs":
        return "stanford_dogs"
    if data["source"] == "stanford_cars":
        return f"cars_{data['stanford_cars']['layout']}"
    if data["source"] == "folder":
        return "folder"
    raise ValueError(f"data.source {data['source']!r} is not a dataset read from files")


__all__ = [
    "DatasetError",
    "DownloadError",
    "PARSERS",
    "Parsed",
    "find_bad_images",
    "image_problem",
    "layout_of",
    "parse_cars_devkit",
    "parse_cars_folders",
    "parse_dogs",
    "parse_folder",
    "prepare",
    "split_table",
    "read_dogs_list",
    "validation_mask",
]


# --------------------------------------------------------------------------
# A user-given test set with the same classes (the domain-shift study's target domain)
# --------------------------------------------------------------------------


def folder_manifest(folder: str | os.PathLike, class_names: Sequence[str], out_csv: str | os.PathLike,
                    threads: int = 1) -> pd.DataFrame:
    """Manifest of a class-per-folder image set whose classes are the task's: ``<folder>/<class>/*.jpg``.

    Every sub-folder must be named exactly as a class of ``class_names`` (the task's
    data/classes.txt) and every class must have a sub-folder with at least one image:
    otherwise DatasetError names the unknown and the missing classes, so labels can
    never be silently shifted. Labels are the task's; images (.jpg, .jpeg, .png) are
    decoded once, and any that do not decode stop the job with their names. Writes
    ``out_csv`` (path,label; absolute paths, the folder is read in place) and returns it.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"config key domain.folder: {str(root)!r} is not a folder; give a folder with one "
                           f"sub-folder of images per class ({', '.join(class_names[:3])}, ...)")
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    unknown = sorted(set(folders) - set(class_names))
    missing = [name for name in class_names if name not in folders]
    problems = []
    if unknown:
        problems.append(f"sub-folders that are not classes of the task: {unknown[:10]}")
    if missing:
        problems.append(f"classes without a sub-folder: {missing[:10]}" + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
    rows = []
    for label, name in enumerate(class_names):
        if name not in folders:
            continue
        images = [p for p in sorted(folders[name].iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            problems.append(f"class folder {name!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        rows.extend((str(p.resolve()), label) for p in images)
    if problems:
        raise DatasetError(f"target-domain folder {str(root)!r} (config key domain.folder) does not match the task's "
                           f"{len(class_names)} classes: " + "; ".join(problems))
    bad = find_bad_images([Path(p) for p, _ in rows], threads)
    if bad:
        listed = "; ".join(f"{p}: {why}" for p, why in list(bad.items())[:5])
        raise DatasetError(f"{len(bad)} images of {str(root)!r} do not decode: {listed}")
    frame = pd.DataFrame(rows, columns=["path", "label"]).astype({"label": np.int64})
    write_csv(out_csv, frame)
    log.info("target domain: %d images of %d classes from %s", len(frame), len(class_names), root)
    return frame
