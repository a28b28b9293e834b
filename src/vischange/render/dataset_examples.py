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
from typing import Callable, Mapping, Sequence

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


class _Scan:
    """Running per-channel sums and top-k of one layer (see :func:`scan_layers`)."""

    def __init__(self, channels: Sequence[int], k: int):
        self.channels = torch.as_tensor(list(channels), dtype=torch.long)
        n_ch = len(self.channels)
        self.k = k
        self.total = torch.zeros(n_ch, dtype=torch.float64)
        self.total_max = torch.zeros(n_ch, dtype=torch.float64)
        self.best_v = torch.full((n_ch, 0), float("-inf"))
        self.best_i = torch.zeros((n_ch, 0), dtype=torch.long)
        self.best_p = torch.zeros((n_ch, 0), dtype=torch.long)
        self.count = 0
        self.feature_size = (0, 0)

    def add(self, acts: Tensor, index) -> None:
        """acts (N, C, h, w) of this layer's channels; index (N,) their dataset rows."""
        n, n_ch, h, w = acts.shape
        self.feature_size = (h, w)
        flat = acts.flatten(2)  # (N, C, h*w)
        self.total += flat.mean(2).sum(0).double()
        peak, where = flat.max(2)  # (N, C)
        self.total_max += peak.sum(0).double()
        self.count += n
        # Candidates: previous best first, then this batch in order; a stable sort keeps ties early.
        cand_v = torch.cat([self.best_v, peak.T], 1)
        cand_i = torch.cat([self.best_i, torch.as_tensor(index, dtype=torch.long).expand(n_ch, n)], 1)
        cand_p = torch.cat([self.best_p, where.T], 1)
        order = torch.sort(cand_v, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.best_v, self.best_i, self.best_p = (t.gather(1, order) for t in (cand_v, cand_i, cand_p))

    def result(self) -> ChannelExamples:
        h, w = self.feature_size
        top_yx = torch.stack([self.best_p // w, self.best_p % w], -1)
        return ChannelExamples(
            channels=self.channels.numpy(),
            mean=(self.total / self.count).numpy(),
            max_mean=(self.total_max / self.count).numpy(),
            top_values=self.best_v.numpy(),
            top_index=self.best_i.numpy(),
            top_yx=top_yx.numpy(),
            feature_size=self.feature_size,
            images=self.count,
        )


def scan_layers(
    model: nn.Module,
    layers: Mapping[str, Sequence[int]],
    batches,
    *,
    k: int,
    normalize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, ChannelExamples]:
    """One pass over `batches` of (images (N, 3, H, W) in [0, 1], dataset indices (N,)) for
    the channels of several layers: {layer: channel indices} -> {layer: ChannelExamples}.

    Keeps, per channel, running sums for the mean and the top-k images by spatial
    maximum (ties keep the earlier image, so the result does not depend on batching).
    The forward pass stops at the deepest of `layers`; each layer's channels are picked
    inside its hook, so only they leave the device.
    """
    scans = {layer: _Scan(channels, k) for layer, channels in layers.items()}
    picks = {layer: (lambda t, i=scan.channels: t[:, i.to(t.device)]) for layer, scan in scans.items()}
    stream = iter_activations(model, list(layers), batches, normalize=normalize, device=device, reduce=picks,
                              progress=progress, desc=f"dataset {', '.join(layers)}")
    for acts, index in stream:  # {layer: (N, C, h, w)} float32 on the CPU
        for layer, scan in scans.items():
            scan.add(acts[layer], index)
    if any(scan.count == 0 for scan in scans.values()):
        raise ValueError("no images to scan")
    return {layer: scan.result() for layer, scan in scans.items()}


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
    layers: Mapping[str, Sequence[int]],
    manifest: str | Path,
    image_size: int,
    crop_fraction: float,
    k: int,
    max_images: int | None,
    seed: int,
    device: torch.device,
    outputs: Mapping[str, tuple[str | Path, str | Path, Sequence[str | Path]]],
    batch_size: int = 64,
    workers: int = 0,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Scan a manifest once with one network for the channels of every layer in `layers`
    ({layer: channel indices}); write, per layer, its statistics, top-k examples and strips.

    outputs: {layer: (stats CSV, examples CSV, strip PNGs)}:
    - stats: channel, dataset_mean, dataset_max_mean, images;
    - examples: channel, rank, path (as in the manifest), label, activation, y, x,
      box_left, box_top, box_right, box_bottom (pixels of the image_size view);
    - strips: one PNG per channel, in the layer's channel order (see :func:`example_strip`).
    max_images: a seeded random subset of the manifest when it is larger (None: all).
    """
    for layer, channels in layers.items():
        if layer not in outputs or len(outputs[layer][2]) != len(channels):
            raise ValueError(f"{layer}: {len(channels)} channels need as many example images")
    model, normalize, _meta = models.load_network(model_path, device)
    dataset = ManifestDataset(manifest, eval_transform(image_size, crop_fraction=crop_fraction))
    indices = np.arange(len(dataset))
    if max_images is not None and len(dataset) > max_images:
        rng = np.random.default_rng(derive_seed(seed, "dataset-examples"))
        indices = np.sort(rng.choice(len(dataset), size=max_images, replace=False))
    k = min(k, len(indices))
    loader = DataLoader(_Indexed(dataset, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
    found = scan_layers(model, layers, loader, k=k, normalize=normalize, device=device, progress=True)
    return {layer: _write_examples(found[layer], dataset, image_size, k, *outputs[layer]) for layer in layers}


def _write_examples(found: ChannelExamples, dataset: ManifestDataset, image_size: int, k: int,
                    out_stats, out_examples, out_images) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One layer's tables and strips (see :func:`dataset_examples`)."""
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
    log.info("scanned %d images for %d channels", found.images, len(found.channels))
    return stats, examples
