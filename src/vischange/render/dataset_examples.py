"""What a channel responds to in real images: its mean activation on the dataset and its top-k examples.

Feature visualizations are read beside dataset examples (lucid's "dataset
examples" view): the images, and the crop around the spatial position, that
activate a channel most.  The same pass gives each channel's mean activation on
the dataset, the reference a render's activation is judged against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from .. import models
from ..activations import iter_activations
from ..datasets import ManifestDataset, eval_transform
from ..runtime import atomic_path, derive_seed, write_csv
from .png import to_uint8

log = logging.getLogger(__name__)


@dataclass
class ChannelExamples:
    """Dataset statistics of some channels of one layer.

    Attributes:
        channels: (C,) channel indices.
        mean: (C,) mean activation over images and spatial positions.
        max_mean: (C,) mean over images of the per-image spatial maximum.
        top_values: (C, k) the k largest per-image spatial maxima, descending.
        top_index: (C, k) their positions in the dataset (row of the manifest).
        top_yx: (C, k, 2) feature-map position of each maximum.
        feature_size: (h, w) of the layer's feature map.
        images: number of images seen.
    """

    channels: np.ndarray
    mean: np.ndarray
    max_mean: np.ndarray
    top_values: np.ndarray
    top_index: np.ndarray
    top_yx: np.ndarray
    feature_size: tuple[int, int]
    images: int


def scan_channels(
    model: nn.Module,
    layer: str,
    channels: Sequence[int],
    batches,
    *,
    k: int,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> ChannelExamples:
    """One pass over `batches` of (images (N, 3, H, W) in [0, 1], dataset indices (N,)).

    Keeps, per channel, running sums for the mean and the top-k images by spatial
    maximum (ties keep the earlier image, so the result does not depend on batching).
    The forward pass stops at `layer` (no later layers run).
    """
    device = torch.device(device)
    channels_t = torch.as_tensor(list(channels), dtype=torch.long)
    n_ch = len(channels_t)
    total = torch.zeros(n_ch, dtype=torch.float64)
    total_max = torch.zeros(n_ch, dtype=torch.float64)
    best_v = torch.full((n_ch, 0), float("-inf"))
    best_i = torch.zeros((n_ch, 0), dtype=torch.long)
    best_p = torch.zeros((n_ch, 0), dtype=torch.long)
    count = 0
    feature_size = (0, 0)
    stream = iter_activations(model, layer, batches, normalize=normalize, device=device, channels=channels_t,
                              progress=progress, desc=f"dataset {layer}")
    for acts, index in stream:  # acts (N, C, h, w) float32 on the CPU
        n, _, h, w = acts.shape
        feature_size = (h, w)
        flat = acts.flatten(2)  # (N, C, h*w)
        total += flat.mean(2).sum(0).double()
        peak, where = flat.max(2)  # (N, C)
        total_max += peak.sum(0).double()
        count += n
        # Candidates: previous best first, then this batch in order; a stable sort keeps ties early.
        cand_v = torch.cat([best_v, peak.T], 1)
        cand_i = torch.cat([best_i, torch.as_tensor(index, dtype=torch.long).expand(n_ch, n)], 1)
        cand_p = torch.cat([best_p, where.T], 1)
        order = torch.sort(cand_v, dim=1, descending=True, stable=True).indices[:, :k]
        best_v, best_i, best_p = (t.gather(1, order) for t in (cand_v, cand_i, cand_p))
    if count == 0:
        raise ValueError("no images to scan")
    h, w = feature_size
    top_yx = torch.stack([best_p // w, best_p % w], -1)
    return ChannelExamples(
        channels=channels_t.numpy(),
        mean=(total / count).numpy(),
        max_mean=(total_max / count).numpy(),
        top_values=best_v.numpy(),
        top_index=best_i.numpy(),
        top_yx=top_yx.numpy(),
        feature_size=feature_size,
        images=count,
    )


def crop_box(yx: Sequence[int], feature_size: tuple[int, int], image_size: int) -> tuple[int, int, int, int]:
    """Image box (left, top, right, bottom) in pixels around feature-map position `yx`.

    The box is centred on the position's cell and two cells wide (at least a quarter
    of the image), clipped to the image: a proxy for the unit's effective receptive
    field, which in a ResNet's later layers covers most of the image anyway.
    """
    h, w = feature_size
    cell_y, cell_x = image_size / h, image_size / w
    side = min(image_size, max(round(2 * max(cell_y, cell_x)), image_size // 4))
    cy, cx = (yx[0] + 0.5) * cell_y, (yx[1] + 0.5) * cell_x
    top = int(np.clip(round(cy - side / 2), 0, image_size - side))
    left = int(np.clip(round(cx - side / 2), 0, image_size - side))
    return left, top, left + side, top + side


def example_strip(images: Sequence[Tensor], boxes: Sequence[tuple[int, int, int, int]], gap: int = 2) -> Image.Image:
    """Two rows: the k images (3, S, S) with their box outlined, and below each its crop scaled to S."""
    size = images[0].shape[-1]
    k = len(images)
    canvas = Image.new("RGB", (k * size + (k - 1) * gap, 2 * size + gap), (255, 255, 255))
    for i, (image, box) in enumerate(zip(images, boxes)):
        picture = Image.fromarray(to_uint8(image))
        crop = picture.crop(box).resize((size, size), Image.Resampling.LANCZOS)
        framed = picture.copy()
        ImageDraw.Draw(framed).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(255, 0, 0))
        canvas.paste(framed, (i * (size + gap), 0))
        canvas.paste(crop, (i * (size + gap), size + gap))
    return canvas


class _Indexed(torch.utils.data.Dataset):
    """Items (image, dataset index) of a subset, for the top-k bookkeeping."""

    def __init__(self, dataset: ManifestDataset, indices: Sequence[int]):
        self.subset = Subset(dataset, list(indices))
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.subset[i][0], self.indices[i]


def dataset_examples(
    model_path: str | Path,
    *,
    layer: str,
    channels: Sequence[int],
    manifest: str | Path,
    image_size: int,
    crop_fraction: float,
    k: int,
    max_images: int | None,
    seed: int,
    device: torch.device,
    out_stats: str | Path,
    out_examples: str | Path,
    out_images: Sequence[str | Path],
    batch_size: int = 64,
    workers: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan a manifest with one network; write per-channel statistics, top-k examples and strips.

    out_stats: CSV with channel, dataset_mean, dataset_max_mean, images.
    out_examples: CSV with channel, rank, path (as in the manifest), label, activation, y, x,
        box_left, box_top, box_right, box_bottom (pixels of the image_size view).
    out_images: one strip PNG per channel, in `channels` order (see :func:`example_strip`).
    max_images: a seeded random subset of the manifest when it is larger (None: all).
    """
    if len(out_images) != len(channels):
        raise ValueError(f"{len(channels)} channels but {len(out_images)} example images")
    model, normalize, _meta = models.load_network(model_path, device)
    dataset = ManifestDataset(manifest, eval_transform(image_size, crop_fraction=crop_fraction))
    indices = np.arange(len(dataset))
    if max_images is not None and len(dataset) > max_images:
        rng = np.random.default_rng(derive_seed(seed, "dataset-examples"))
        indices = np.sort(rng.choice(len(dataset), size=max_images, replace=False))
    k = min(k, len(indices))
    loader = DataLoader(_Indexed(dataset, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
    found = scan_channels(
        model, layer, channels, loader, k=k, normalize=normalize, device=device, progress=True
    )
    stats = pd.DataFrame(
        {
            "channel": found.channels,
            "dataset_mean": found.mean,
            "dataset_max_mean": found.max_mean,
            "images": found.images,
        }
    )
    rows = []
    for ci, (channel, path) in enumerate(zip(found.channels, out_images)):
        pictures, boxes = [], []
        for rank in range(k):
            index = int(found.top_index[ci, rank])
            yx = found.top_yx[ci, rank]
            box = crop_box(yx, found.feature_size, image_size)
            pictures.append(dataset[index][0])
            boxes.append(box)
            rows.append(
                {
                    "channel": int(channel),
                    "rank": rank + 1,
                    "path": dataset.frame["path"].iloc[index],
                    "label": dataset.labels[index],
                    "activation": float(found.top_values[ci, rank]),
                    "y": int(yx[0]),
                    "x": int(yx[1]),
                    "box_left": box[0],
                    "box_top": box[1],
                    "box_right": box[2],
                    "box_bottom": box[3],
                }
            )
        with atomic_path(path) as tmp:
            example_strip(pictures, boxes).save(tmp, format="PNG")
    examples = pd.DataFrame(rows)
    write_csv(out_stats, stats)
    write_csv(out_examples, examples)
    log.info("scanned %d images for %d channels of %s", found.images, len(found.channels), layer)
    return stats, examples
