"""Manifests are CSV files with columns ``path,label``; paths are relative to the CSV's folder.

Every data source (the synthetic demo, Stanford Dogs, Stanford Cars) ends as the same
``{split}.csv`` files plus ``classes.txt``, so training and analysis never see the source.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from .files import read_classes, read_manifest  # noqa: F401  (also reached from here)


def train_transform(size: int, mean: Sequence[float], std: Sequence[float], crop_scale=(0.7, 1.0), hflip=True):
    """PIL image -> augmented, normalized float tensor (3, size, size)."""
    steps = [v2.ToImage(), v2.RandomResizedCrop(size, scale=tuple(crop_scale), antialias=True)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


def eval_transform(
    size: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_fraction: float = 0.875,
):
    """PIL image -> float tensor (3, size, size): resize the short side to size/crop_fraction, centre crop.

    Without mean/std the result stays in [0, 1] (for renders and figures).
    """
    resize = round(size / crop_fraction)
    steps = [v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(size), v2.ToDtype(torch.float32, scale=True)]
    if mean is not None:
        steps.append(v2.Normalize(mean, std))
    return v2.Compose(steps)


class ManifestDataset(Dataset):
    """Images of a manifest; item i is (transform(image), label)."""

    def __init__(self, csv_path: str | os.PathLike, transform: Callable | None = None):
        self.frame = read_manifest(csv_path)
        self.paths = list(self.frame["abspath"])
        self.labels = [int(v) for v in self.frame["label"]]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]
