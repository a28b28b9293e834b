"""The files every data source ends as: ``{split}.csv`` manifests (columns ``path,label``,
paths relative to the CSV's folder) and ``classes.txt``. pandas only: the jobs that read
tables and draw figures load these without torch."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def read_manifest(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest; adds `abspath`. Raises ValueError on missing columns or bad labels."""
    csv_path = Path(csv_path)
    frame = pd.read_csv(csv_path)
    missing = {"path", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"{csv_path}: missing columns {sorted(missing)}")
    if frame.empty:
        raise ValueError(f"{csv_path}: no images")
    if (frame["label"] < 0).any():
        raise ValueError(f"{csv_path}: negative labels")
    frame["abspath"] = [str((csv_path.parent / p).resolve()) for p in frame["path"]]
    return frame


def read_classes(path: str | os.PathLike) -> list[str]:
    """Class names, one per line, in label order."""
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{path}: no class names")
    return names
