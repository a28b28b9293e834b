"""Tiny Stanford Dogs / Cars look-alikes built in the tests, and a local HTTP server for them.

The archives have the real layouts (Images/<wnid>-<breed>/..., lists.tar with
train_list.mat / test_list.mat; the Cars devkit with cars_meta.mat and annotation
structs) but a few classes of a few generated JPEGs each.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.io
from PIL import Image

DOG_BREEDS = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"]
CAR_MODELS = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"]


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(Path(path).read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def jpeg_bytes(seed: int, size: tuple[int, int] = (40, 30)) -> bytes:
    """A small random-noise JPEG, different for each seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _mat_bytes(variables: dict) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    return buffer.getvalue()


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB cell array column of strings (what file_list holds)."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def make_dogs(folder: Path, train: int = 4, test: int = 2, corrupt: dict[str, bytes] | None = None) -> dict[str, Path]:
    """Write images.tar and lists.tar in `folder`; returns {"images": path, "lists": path}.

    `corrupt` maps a file under Images/ to bytes that replace its JPEG (a broken image).
    """
    folder.mkdir(parents=True, exist_ok=True)
    corrupt = corrupt or {}
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    seed = 0
    with tarfile.open(folder / "images.tar", "w") as tar:
        for label, breed in enumerate(DOG_BREEDS, start=1):
            wnid = breed.split("-")[0]
            for split, count in (("train", train), ("test", test)):
                for _ in range(count):
                    seed += 1
                    rel = f"{breed}/{wnid}_{seed}.jpg"
                    add_bytes(tar, f"Images/{rel}", corrupt.get(rel, jpeg_bytes(seed)))
                    splits[split].append((rel, label))
    with tarfile.open(folder / "lists.tar", "w") as tar:
        for split, rows in splits.items():
            files = [rel for rel, _ in rows]
            labels = np.array([[label] for _, label in rows], dtype=np.uint8)
            add_bytes(tar, f"{split}_list.mat", _mat_bytes({"file_list": cell(files), "annotation_list": cell(files), "labels": labels}))
        add_bytes(tar, "file_list.mat", _mat_bytes({"file_list": cell([r for rows in splits.values() for r, _ in rows])}))
    return {"images": folder / "images.tar", "lists": folder / "lists.tar", "splits": splits}


def _annotations(rows: list[tuple[str, int]]) -> np.ndarray:
    dtype = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    out = np.empty((1, len(rows)), dtype=dtype)
    for i, (fname, label) in enumerate(rows):
        out[0, i] = (np.uint8(1), np.uint8(2), np.uint16(30), np.uint16(20), np.uint8(label), fname)
    return out


def make_cars_devkit(folder: Path, train: int = 3, test: int = 2) -> list[Path]:
    """The original Cars distribution in miniature: car_devkit.tgz, cars_train.tgz, cars_test.tgz
    and cars_test_annos_withlabels.mat."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = {"train": [], "test": []}
    with tarfile.open(folder / "cars_train.tgz", "w:gz") as tr, tarfile.open(folder / "cars_test.tgz", "w:gz") as te:
        index = {"train": 0, "test": 0}
        for label in range(1, len(CAR_MODELS) + 1):
            for split, count, tar in (("train", train, tr), ("test", test, te)):
                for _ in range(count):
                    index[split] += 1
                    name = f"{index[split]:05d}.jpg"
                    add_bytes(tar, f"cars_{split}/{name}", jpeg_bytes(1000 * label + index[split] + (500 if split == "test" else 0)))
                    rows[split].append((name, label))
    meta = np.empty((1, len(CAR_MODELS)), dtype=object)
    for i, name in enumerate(CAR_MODELS):
        meta[0, i] = name
    with tarfile.open(folder / "car_devkit.tgz", "w:gz") as tar:
        add_bytes(tar, "devkit/cars_meta.mat", _mat_bytes({"class_names": meta}))
        add_bytes(tar, "devkit/cars_train_annos.mat", _mat_bytes({"annotations": _annotations(rows["train"])}))
    (folder / "cars_test_annos_withlabels.mat").write_bytes(_mat_bytes({"annotations": _annotations(rows["test"])}))
    return [folder / n for n in ("car_devkit.tgz", "cars_train.tgz", "cars_test.tgz", "cars_test_annos_withlabels.mat")]


def make_cars_folders(folder: Path, train: int = 3, test: int = 2) -> Path:
    """A class-per-folder Cars mirror as one tar.gz: car_data/{train,test}/<class>/*.jpg."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "car_data.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for label, model in enumerate(CAR_MODELS):
            for split, count in (("train", train), ("test", test)):
                for i in range(count):
                    add_bytes(tar, f"car_data/{split}/{model}/{split}_{i:03d}.jpg", jpeg_bytes(7000 + 100 * label + i + (50 if split == "test" else 0)))
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the server's folder; /short/<name> announces the full length
    but sends only half of the bytes (a connection that breaks off)."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/short/"):
            data = (Path(self.directory) / self.path[len("/short/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) serving `folder`; yields its base URL."""

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
