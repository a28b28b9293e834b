"""How much each channel changed: cosine similarity of render embeddings.

Each render is embedded by a fixed network (the base network: its globally pooled
penultimate features, 512-d for ResNet-18, 2048-d for ResNet-50). A channel's base and
fine-tuned renders are compared, and so are two seeds of the same network's render,
which measures how much the optimization alone moves a render (the noise floor).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from . import models

log = logging.getLogger(__name__)


def load_images(paths: Sequence[str | Path], size: int | None = None) -> torch.Tensor:
    """PNG files -> float tensor (N, 3, H, W) in [0, 1], resized to `size` if given."""
    arrays = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BICUBIC)
            arrays.append(np.asarray(image, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def embed(
    model: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 64,
) -> torch.Tensor:
    """Penultimate features (the classifier head's input) of images (N, 3, H, W) in [0, 1] -> (N, D)."""
    head = models.get_module(model, models.classifier_name(model))
    normalize = models.Normalize(mean, std)
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].flatten(1).float().cpu()))
    try:
        model.eval()
        for start in range(0, len(images), batch_size):
            model(normalize(images[start : start + batch_size].to(device)))
    finally:
        handle.remove()
    return torch.cat(captured)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of (N, D) and (N, D) -> (N,)."""
    return nn.functional.cosine_similarity(a.double(), b.double(), dim=1)


def channel_table(
    renders: Mapping[tuple[str, str], pd.DataFrame],
    embeddings: Mapping[tuple[str, str, int, int], torch.Tensor],
    fine_tuned_layers: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per (layer, channel) with every similarity.

    renders: (net, layer) -> renders table (columns channel, seed).
    embeddings: (net, layer, channel, seed) -> (D,) embedding.
    Columns: cosine_same_seed (base vs fine-tuned, same seed, averaged), cosine_cross_seed
    (base seed s vs fine-tuned seed s' != s: the comparison that is fair against the noise
    floor, since it shares no initialization), noise_base / noise_finetuned (seed vs seed
    within one network).
    """
    rows = []
    layers = sorted({layer for _, layer in renders}, key=list(dict.fromkeys(l for _, l in renders)).index)
    for layer in layers:
        base, tuned = renders[("base", layer)], renders[("finetuned", layer)]
        for channel in sorted(set(base["channel"]) & set(tuned["channel"])):
            seeds = sorted(set(base.loc[base.channel == channel, "seed"]) & set(tuned.loc[tuned.channel == channel, "seed"]))
            e = {(net, s): embeddings[(net, layer, channel, s)] for net in ("base", "finetuned") for s in seeds}

            def cos(x, y):
                return float(cosine(e[x][None], e[y][None])[0])

            pairs = list(itertools.combinations(seeds, 2))
            rows.append(
                {
                    "layer": layer,
                    "channel": int(channel),
                    "fine_tuned": layer in fine_tuned_layers,
                    "n_seeds": len(seeds),
                    "cosine_same_seed": np.mean([cos(("base", s), ("finetuned", s)) for s in seeds]),
                    "cosine_cross_seed": _mean_or_nan(
                        [cos(("base", s), ("finetuned", t)) for s in seeds for t in seeds if s != t]
                    ),
                    "noise_base": _mean_or_nan([cos(("base", s), ("base", t)) for s, t in pairs]),
                    "noise_finetuned": _mean_or_nan([cos(("finetuned", s), ("finetuned", t)) for s, t in pairs]),
                }
            )
    return pd.DataFrame(rows)


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def is_fine_tuned(layer: str, trainable: Sequence[str]) -> bool:
    """Whether `layer` lies inside (or is) one of the trainable modules."""
    return any(layer == t or layer.startswith(t + ".") for t in trainable)


def compare_channels(
    tables: Sequence[str | Path],
    embedder: str | Path,
    *,
    trainable: Sequence[str],
    device: torch.device,
    image_size: int,
) -> pd.DataFrame:
    """Read renders.csv files (renders/{net}/{layer}/renders.csv), embed their PNGs, build the table."""
    model, meta = models.load_checkpoint(embedder, device)
    renders: dict[tuple[str, str], pd.DataFrame] = {}
    embeddings: dict[tuple[str, str, int, int], torch.Tensor] = {}
    for table in map(Path, tables):
        net, layer = table.parent.parent.name, table.parent.name
        frame = pd.read_csv(table)
        renders[(net, layer)] = frame
        images = load_images([table.parent / f for f in frame["file"]], image_size)
        features = embed(model, images, meta["mean"], meta["std"])
        for (channel, seed), feature in zip(zip(frame["channel"], frame["seed"]), features):
            embeddings[(net, layer, int(channel), int(seed))] = feature
        log.info("embedded %d renders of %s %s", len(frame), net, layer)
    fine_tuned = [layer for _, layer in renders if is_fine_tuned(layer, trainable)]
    return channel_table(renders, embeddings, fine_tuned)
