"""One render job of the workflow: a chunk of a layer's channels, for one network, every seed.

Writes a lossless PNG per (channel, seed) at renders/{net}/{layer}/c{channel:04d}_s{seed}.png
and a chunk table; `merge_tables` joins a layer's chunk tables into renders.csv.
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
    redirect_steps, compile). `out_images` must be exactly the PNG paths this chunk draws.
    Table columns: layer, channel, seed, file, param, steps, objective (final mean
    activation of the channel on its render), own_rank (see :func:`own_channel_rank`;
    among this chunk's renders), seconds (wall time per render: a batch's time / its size).
    """
    model, normalize, meta = models.load_network(model_path, device)
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
    # Each render goes to the declared output of its name (the table's `file` column).
    declared = {Path(p).name: Path(p) for p in out_images}
    rows = []
    for result, rank in zip(results, ranks):
        name = render_file_name(result["channel"], result["seed"])
        path = declared.get(name)
        if path is None:
            raise RuntimeError(f"{name} is not a declared output of this chunk")
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


def merge_tables(chunk_tables: Sequence[str | Path], out: str | Path, dataset_stats: str | Path | None = None) -> pd.DataFrame:
    """Concatenate chunk tables, ordered by (channel, seed); each render must appear once.

    With `dataset_stats` (the layer's dataset.csv from :mod:`.dataset_examples`) each row
    gains the channel's `dataset_mean` activation and `activation_ratio` = objective /
    dataset_mean (empty where the dataset mean is not positive). `seconds` stays the last
    column: it is the only wall-clock value, so reruns differ only there.
    """
    table = pd.concat([pd.read_csv(p) for p in chunk_tables], ignore_index=True)
    table = table.sort_values(["channel", "seed"], kind="stable").reset_index(drop=True)
    duplicated = table.duplicated(["channel", "seed"])
    if duplicated.any():
        raise ValueError(f"renders listed twice: {table[duplicated][['channel', 'seed']].values.tolist()}")
    if dataset_stats is not None:
        stats = pd.read_csv(dataset_stats)[["channel", "dataset_mean"]]
        missing = set(table["channel"]) - set(stats["channel"])
        if missing:
            raise ValueError(f"{dataset_stats}: no statistics for channels {sorted(missing)}")
        table = table.merge(stats, on="channel", how="left", validate="many_to_one")
        positive = table["dataset_mean"] > 0
        table["activation_ratio"] = (table["objective"] / table["dataset_mean"]).where(positive)
    if "seconds" in table:
        table = table[[c for c in table.columns if c != "seconds"] + ["seconds"]]
    write_csv(out, table)
    return table


def quality_summary(tables: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Per (net, layer): how well renders drive their channels.

    tables: renders.csv frames keyed by (net, layer). Columns: net, layer, renders,
    median_activation_ratio (render activation / the channel's dataset mean),
    own_channel_fraction (share of renders with own_rank 1: no other channel's render
    of the same chunk and seed drives this channel harder), median_seconds.
    """
    rows = []
    for (net, layer), table in tables.items():
        rows.append(
            {
                "net": net,
                "layer": layer,
                "renders": len(table),
                "median_activation_ratio": float(table["activation_ratio"].median()),
                "own_channel_fraction": float((table["own_rank"] == 1).mean()),
                "median_seconds": float(table["seconds"].median()),
            }
        )
    return pd.DataFrame(rows)
