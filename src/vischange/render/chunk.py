"""One render job of the workflow: a chunk of channels (of one or more layers), for one
network, every seed.

Writes a lossless PNG per (channel, seed) at renders/{net}/{layer}/c{channel:04d}_s{seed}.png
and a table per layer of the chunk; `tables.merge_tables` joins a layer's chunk tables into
renders.csv.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from .. import models
from ..activations import image_activations
from ..paths import render_file_name
from ..runtime import write_csv
from .engine import engine_arguments, render_channels
from .png import save_png

log = logging.getLogger(__name__)


def own_channel_rank(activations: torch.Tensor, channels: Sequence[int], seeds: Sequence[int]) -> list[int]:
    """Rank of each render among same-seed renders at driving its own channel.

    activations: (N, C) mean activation of every channel of the layer on each render.
    channels, seeds: (N,) the channel and seed each render was made for.
    Returns, per render i, 1 + the number of renders of other channels (same seed) that
    activate channel[i] more than render i does; 1 means its own render wins.
    """
    acts = torch.as_tensor(activations)
    ch = torch.as_tensor(list(channels))
    sd = torch.as_tensor(list(seeds))
    own = acts[torch.arange(len(ch)), ch]  # (N,)
    column = acts[:, ch].T  # column[i, k] = activation of channel[i] on render k
    rivals = (sd[None, :] == sd[:, None]) & (ch[None, :] != ch[:, None])
    return (1 + ((column > own[:, None]) & rivals).sum(1)).tolist()


def render_chunk(
    model_path: str | Path,
    *,
    parts: Sequence[tuple[str, Sequence[int]]],
    settings: dict,
    seed: int,
    device: torch.device,
    out_tables: Sequence[str | Path],
    out_images: Sequence[Sequence[str | Path]],
    dataset_manifest: str | Path | None = None,
) -> list[pd.DataFrame]:
    """Render one job's channels under every seed in settings["seeds"]; write PNGs and tables.

    parts: the job's (layer, channels), as `vischange.config.chunks` cuts them; the model
    is loaded once and each layer is rendered in its own batches. out_tables: one table
    per part, in the same order. out_images: per part, exactly the PNG paths it draws
    (named by `vischange.paths.render_file_name`). settings: the config's
    `render` section (size, steps, lr, param, seeds, batch_size, redirect_steps, compile).
    """
    if not len(out_tables) == len(out_images) == len(parts):
        raise ValueError(f"{len(parts)} layers but {len(out_tables)} tables and {len(out_images)} image lists")
    model, normalize, _meta = models.load_network(model_path, device)
    return [
        # Each render goes to the declared output of its name (the table's `file` column).
        _render_layer(model, normalize, layer, channels, settings, seed, device, table,
                      {Path(p).name: Path(p) for p in images}, dataset_manifest)
        for (layer, channels), table, images in zip(parts, out_tables, out_images)
    ]


def _render_layer(model, normalize, layer, channels, settings, seed, device, out_table, declared, dataset_manifest):
    """Render `channels` of `layer`; save each PNG to its declared path and write the table.

    Table columns: layer, channel, seed, file, param, steps, objective (final mean
    activation of the channel on its render), own_rank (see :func:`own_channel_rank`;
    among this job's renders of the layer), seconds (wall time per render: a batch's
    time / its size).
    """
    results = render_channels(
        model,
        layer,
        list(channels),
        list(settings["seeds"]),
        size=settings["size"],
        param=settings["param"],
        **engine_arguments(settings, dataset_manifest, seed),
        batch_size=settings.get("batch_size"),
        device=device,
        normalize=normalize,
        progress=True,
        compile=settings.get("compile", False),
    )
    activations = image_activations(model, layer, torch.stack([r["image"] for r in results]), normalize=normalize,
                                    device=device, reduce="mean", batch_size=64)
    ranks = own_channel_rank(activations, [r["channel"] for r in results], [r["seed"] for r in results])
    rows = []
    for result, rank in zip(results, ranks):
        name = render_file_name(result["channel"], result["seed"])
        path = declared.get(name)
        if path is None:
            raise RuntimeError(f"{layer}/{name} is not a declared output of this job")
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
                "own_rank": rank,
                "seconds": result["seconds"],
            }
        )
    table = pd.DataFrame(rows)
    write_csv(out_table, table)
    log.info("rendered %d images of %s", len(rows), layer)
    return table
