"""Features of renders in a fixed network: an embedding (for cosine similarity) and Gram
matrices of feature maps (for the Gram distance), compared pair by pair.

The embedding of a render is the input of the network's classifier head: the globally
average-pooled penultimate features for a ResNet (512-d for ResNet-18, 2048-d for
ResNet-50). The Gram matrix of a feature map F (C, H, W) is G = F F^T / (H W), (C, C):
the mean co-occurrence of channel pairs over positions (Gatys et al.'s texture
statistic). Both are taken in one forward pass of the embedding network, which is the
base network unless the config names another (compare.embedding).

For every rendered channel, every pair of its renders (base and fine-tuned network,
every seed) is compared; which pairs measure change and which measure render noise is
decided later (`stats`).

Two cosines per pair. Post-ReLU pooled features are all non-negative and share a large
common component (what every render of the layer excites), so the raw cosine of any two
renders lives near 1 (0.82 to 1.0 in the demo) and change and render noise differ in its
third decimal. `cosine_centered` first subtracts the mean embedding of the layer's
renders (both networks, every channel and seed): what the renders share is removed, and
what is left is how a channel's render differs from the layer's typical render, which is
what a channel visualization shows. The dataset's mean image embedding would be the
other candidate, but renders are far from images in feature space (in the test config
their embeddings are about 4.5 times shorter than the images' mean and at cosine about 0.2
with it), so subtracting it leaves every pair near cosine 1. `compare.similarity` picks
which of the two is the `cosine` the statistics use; `stats.separation` measures on each
run which one separates seed noise from cross-network change better.
"""

from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from .. import models
from ..models import default_gram_layers
from ..activations import head_input, image_activations

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


def gram_matrix(fmap: torch.Tensor) -> torch.Tensor:
    """Feature maps (N, C, H, W) -> Gram matrices (N, C, C) = F F^T / (H W), in float32."""
    f = fmap.flatten(2).float()
    return torch.bmm(f, f.transpose(1, 2)) / f.shape[-1]


def gram_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalized squared distance of Gram matrices (..., C, C) and (..., C, C) -> (...).

    ||A - B||^2 / (||A||^2 + ||B||^2) (Frobenius norms), in float64: 0 iff A = B, 1 when
    A and B are orthogonal, never above 2, and at most 1 for features >= 0 (after a ReLU).
    Scale-free across layers, yet it still sees a change of strength (B = 2A gives 0.2).
    Two all-zero matrices have distance 0.
    """
    a, b = a.double().flatten(-2), b.double().flatten(-2)
    num = (a - b).pow(2).sum(-1)
    den = a.pow(2).sum(-1) + b.pow(2).sum(-1)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(num))


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of (N, D) and (N, D) -> (N,), in float64."""
    return nn.functional.cosine_similarity(a.double(), b.double(), dim=1)


class FeatureNet:
    """One forward pass of `model` -> (embeddings (N, D), {gram layer: (N, C, C)}), on the model's device.

    images are (N, 3, H, W) in [0, 1]; `normalize` maps them to the network's input.
    The embedding is the classifier head's input; Gram matrices are computed inside the
    capture's hooks (a reducer), so no feature map outlives its layer. The forward pass
    stops before the head. Gram layers come in the order the forward pass reaches them.
    """

    def __init__(self, model: nn.Module, normalize: nn.Module, gram_layers: Iterable[str] = ()):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.normalize = normalize
        self.embedding = head_input(model)
        self.gram_layers = list(gram_layers)
        for name in self.gram_layers:
            models.get_module(model, name)  # KeyError naming close matches, before any image is read

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        acts = image_activations(
            self.model, [self.embedding, *self.gram_layers], images, normalize=self.normalize, device=self.device,
            reduce={name: gram_matrix for name in self.gram_layers}, cpu=False,
        )
        grams = {name: value for name, value in acts.items() if name != self.embedding}
        return acts[self.embedding].flatten(1), grams


def embed(model: nn.Module, images: torch.Tensor, normalize: nn.Module, batch_size: int = 64) -> torch.Tensor:
    """Penultimate features (the classifier head's input) of images (N, 3, H, W) in [0, 1] -> (N, D) on the CPU."""
    net = FeatureNet(model, normalize)
    return torch.cat([net(images[i : i + batch_size])[0].cpu() for i in range(0, len(images), batch_size)])


def channel_pairs(
    net: FeatureNet,
    layer: str,
    renders: pd.DataFrame,
    image_size: int | None,
    batch_size: int = 64,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare every pair of renders of each channel of one render layer.

    renders: one row per render with columns net, channel, seed and path (the PNG).
    Returns (cosine pairs, Gram pairs): rows layer, channel, net_a, seed_a, net_b, seed_b,
    then `cosine_raw` and `cosine_centered` (after subtracting the mean embedding of all
    of `renders`), or feature_layer and `gram_distance` (one row per Gram layer).
    Channels are processed in groups of about `batch_size` renders per forward pass.
    """
    renders = renders.sort_values(["channel", "net", "seed"], kind="stable")
    groups = [g for _, g in renders.groupby("channel", sort=True)]
    per_channel = max(len(g) for g in groups)
    step = max(1, batch_size // per_channel)
    pairs, embeddings, gram_rows = [], [], []
    for start in tqdm(range(0, len(groups), step), desc=f"features {layer}", disable=not progress):
        batch = pd.concat(groups[start : start + step])
        emb, grams = net(load_images(list(batch["path"]), image_size))
        first = sum(len(e) for e in embeddings)
        embeddings.append(emb.double().cpu())
        offset = 0
        for group in groups[start : start + step]:
            idx = range(offset, offset + len(group))
            keys = list(zip(group["net"], group["seed"].astype(int)))
            channel = int(group["channel"].iloc[0])
            for (i, ka), (j, kb) in itertools.combinations(zip(idx, keys), 2):
                head = {"layer": layer, "channel": channel, "net_a": ka[0], "seed_a": ka[1], "net_b": kb[0], "seed_b": kb[1]}
                pairs.append((head, first + i, first + j))
                for name, g in grams.items():
                    gram_rows.append({**head, "feature_layer": name, "gram_distance": float(gram_distance(g[i], g[j]))})
            offset += len(group)
    # The cosines wait for the layer's mean render embedding, which needs every render.
    emb = torch.cat(embeddings)
    centred = emb - emb.mean(0)
    cos_rows = []
    for head, i, j in pairs:
        # Bit-identical embeddings (a frozen layer's renders) are similar exactly 1, which
        # float rounding of the norms would not guarantee on every scale.
        same = bool(torch.equal(emb[i], emb[j]))
        cos_rows.append({
            **head,
            "cosine_raw": 1.0 if same else float(cosine(emb[i : i + 1], emb[j : j + 1])[0]),
            "cosine_centered": 1.0 if same else float(cosine(centred[i : i + 1], centred[j : j + 1])[0]),
        })
    return pd.DataFrame(cos_rows), pd.DataFrame(gram_rows)


def render_list(tables: Mapping[tuple[str, str], str | Path]) -> dict[str, pd.DataFrame]:
    """{(net, layer): renders.csv} -> {layer: rows (net, channel, seed, path)}.

    Reads columns by name; channels rendered in only one network are left out (logged).
    """
    frames: dict[str, list[pd.DataFrame]] = {}
    for (net, layer), table in tables.items():
        table = Path(table)
        frame = pd.read_csv(table)
        frames.setdefault(layer, []).append(
            pd.DataFrame(
                {
                    "net": net,
                    "channel": frame["channel"].astype(int),
                    "seed": frame["seed"].astype(int),
                    "path": [str(table.parent / f) for f in frame["file"]],
                }
            )
        )
    out = {}
    for layer, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True)
        both = set.intersection(*(set(frame.loc[frame.net == n, "channel"]) for n in ("base", "finetuned")))
        dropped = sorted(set(frame["channel"]) - both)
        if dropped:
            log.warning("%s: channels %s are rendered in one network only; left out", layer, dropped)
        out[layer] = frame[frame.channel.isin(both)].reset_index(drop=True)
    return out


def compare_features(
    tables: Mapping[tuple[str, str], str | Path],
    embedder: str | Path,
    *,
    device: torch.device,
    image_size: int | None,
    gram_layers: Sequence[str] | None = None,
    batch_size: int = 64,
    similarity: str = "centered",
    grams: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cosine and Gram pair tables for every render layer (see `channel_pairs`).

    embedder: a checkpoint from `models.save_checkpoint` (the base network or another).
    gram_layers: None for `default_gram_layers`; grams: False for no Gram distances (an
    empty Gram table; the null experiment needs only cosines). The cosine table has cosine_raw,
    cosine_centered and `cosine`, a copy of the one `similarity` ("raw" or "centered")
    names, which the statistics use.
    """
    if similarity not in ("raw", "centered"):
        raise ValueError(f"similarity must be 'raw' or 'centered', got {similarity!r}")
    model, normalize, meta = models.load_network(embedder, device)
    layers = (list(gram_layers) if gram_layers else default_gram_layers(model)) if grams else []
    net = FeatureNet(model, normalize, layers)
    log.info("embedding network %s at %s px; Gram layers %s", meta["arch"], image_size, layers)
    cos, gram = [], []
    for layer, renders in render_list(tables).items():
        c, g = channel_pairs(net, layer, renders, image_size, batch_size, progress=True)
        cos.append(c)
        gram.append(g)
        log.info("%s: %d render pairs", layer, len(c))
    cos = pd.concat(cos, ignore_index=True)
    cos["cosine"] = cos[f"cosine_{similarity}"]
    return cos, pd.concat(gram, ignore_index=True)


def write_embedding_network(
    out: str | Path, *, arch: str, weights: str, path: str | None = None
) -> None:
    """Write models/embedding.pt: torchvision `arch` with its `weights` (hash-checked download
    or TORCH_HOME cache), or a local state-dict file at `path`; normalized as those weights were
    trained (their transforms' mean/std; ImageNet's for a local file)."""
    import torchvision

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    try:
        transforms = torchvision.models.get_model_weights(arch)[weights].transforms()
        mean, std = list(transforms.mean), list(transforms.std)
    except (KeyError, AttributeError, ValueError):
        if path is None:
            raise
    base = {"source": "file", "path": path} if path else {"source": "torchvision", "weights": weights}
    models.write_base_from_weights(out, arch=arch, base=base, normalize={"mean": mean, "std": std})
