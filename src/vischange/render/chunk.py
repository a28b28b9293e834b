"""One render job of the workflow: a chunk of a layer's channels, for one network, every seed.

Writes a lossless PNG per (channel, seed) at renders/{net}/{layer}/c{channel:04d}_s{seed}.png
and a chunk table; `merge_tables` joins a layer's chunk tables into renders.csv.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .. import models
from ..datasets import eval_transform, read_manifest
from ..runtime import atomic_path, derive_seed, write_csv
from .engine import render_channels, to_uint8
from .param import color_matrix_from_images

log = logging.getLogger(__name__)


def dataset_color_matrix(manifest: str | Path, size: int, n_images: int = 256, seed: int = 0) -> torch.Tensor:
    """Square root of the RGB covariance of up to `n_images` images of a manifest -> (3, 3).

    lucid decorrelates colour with ImageNet's matrix; estimating it from the run's own
    images keeps the parameterization matched to whatever dataset is studied.
    """
    frame = read_manifest(manifest)
    rng = np.random.default_rng(derive_seed(seed, "color-matrix"))
    picks = rng.choice(len(frame), size=min(n_images, len(frame)), replace=False)
    transform = eval_transform(size, crop_fraction=1.0)
    images = []
    for path in frame["abspath"].iloc[np.sort(picks)]:
        with Image.open(path) as image:
            images.append(transform(image.convert("RGB")))
    return color_matrix_from_images(torch.stack(images))


def render_file_name(channel: int, seed: int) -> str:
    return f"c{channel:04d}_s{seed}.png"


def save_png(image: torch.Tensor, path: str | Path) -> None:
    """Image (3, H, W) in [0, 1] -> 8-bit lossless PNG, written atomically, no metadata."""
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="PNG")


def render_chunk(
    model_path: str | Path,
    *,
    layer: str,
    channels: Sequence[int],
    settings: dict,
    seed: int,
    device: torch.device,
    out_table: str | Path,
    out_images: Sequence[str | Path],
    dataset_manifest: str | Path | None = None,
) -> pd.DataFrame:
    """Render `channels` of `layer` under every seed in settings["seeds"]; write PNGs and table.

    settings: the config's `render` section (size, steps, lr, param, seeds, batch_size,
    redirect_steps). `out_images` must be exactly the PNG paths this chunk draws.
    """
    model, meta = models.load_checkpoint(model_path, device)
    normalize = models.Normalize(meta["mean"], meta["std"]).to(device)
    param_kwargs = {}
    if dataset_manifest is not None and settings["param"] in ("fourier",):
        param_kwargs["color_matrix"] = dataset_color_matrix(dataset_manifest, settings["size"], seed=seed)
    results = render_channels(
        model,
        layer,
        list(channels),
        list(settings["seeds"]),
        size=settings["size"],
        steps=settings["steps"],
        lr=settings["lr"],
        param=settings["param"],
        param_kwargs=param_kwargs,
        batch_size=settings.get("batch_size"),
        redirect_steps=settings["redirect_steps"],
        device=device,
        normalize=normalize,
        progress=True,
    )
    out_dir = Path(out_table).parent.parent
    expected = {Path(p).resolve() for p in out_images}
    rows = []
    for result in results:
        name = render_file_name(result["channel"], result["seed"])
        path = out_dir / name
        if path.resolve() not in expected:
            raise RuntimeError(f"{path} is not a declared output of this chunk")
        save_png(result["image"], path)
        rows.append(
            {
                "layer": layer,
                "channel": result["channel"],
                "seed": result["seed"],
                "file": name,
                "param": settings["param"],
                "steps": result["steps"],
                "objective": result["objective"],
            }
        )
    table = pd.DataFrame(rows)
    write_csv(out_table, table)
    log.info("rendered %d images of %s", len(rows), layer)
    return table


def merge_tables(chunk_tables: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate chunk tables, ordered by (channel, seed); each render must appear once."""
    table = pd.concat([pd.read_csv(p) for p in chunk_tables], ignore_index=True)
    table = table.sort_values(["channel", "seed"], kind="stable").reset_index(drop=True)
    duplicated = table.duplicated(["channel", "seed"])
    if duplicated.any():
        raise ValueError(f"renders listed twice: {table[duplicated][['channel', 'seed']].values.tolist()}")
    write_csv(out, table)
    return table
