"""Data: image manifests (`data/{split}.csv`), the torch Dataset that reads them, and sources."""

from .manifest import (
    ManifestDataset,
    eval_transform,
    read_classes,
    read_manifest,
    train_transform,
)

__all__ = ["ManifestDataset", "eval_transform", "read_classes", "read_manifest", "train_transform"]
