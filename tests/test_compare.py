"""Embedding cosine comparisons on made-up renders and embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange import compare, models


def test_cosine_identical_and_opposite():
    a = torch.randn(5, 16)
    assert torch.allclose(compare.cosine(a, a), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(compare.cosine(a, -a), -torch.ones(5, dtype=torch.float64))


def test_embed_shape_and_identical_images():
    model = models.build("resnet18", 4).eval()
    images = torch.rand(3, 3, 32, 32)
    features = compare.embed(model, torch.cat([images, images[:1]]), [0.5] * 3, [0.25] * 3, batch_size=2)
    assert features.shape == (4, 512)
    assert compare.cosine(features[:1], features[3:]).item() == pytest.approx(1.0)


def test_load_images_round_trip(tmp_path):
    array = (np.arange(4 * 4 * 3) % 256).astype(np.uint8).reshape(4, 4, 3)
    Image.fromarray(array).save(tmp_path / "x.png")
    loaded = compare.load_images([tmp_path / "x.png"])
    assert loaded.shape == (1, 3, 4, 4)
    assert torch.allclose(loaded[0].permute(1, 2, 0) * 255, torch.from_numpy(array).float())


def test_channel_table_same_and_cross_seed():
    table = pd.DataFrame({"channel": [0, 0], "seed": [0, 1]})
    renders = {("base", "l"): table, ("finetuned", "l"): table}
    e = {
        ("base", "l", 0, 0): torch.tensor([1.0, 0.0]),
        ("base", "l", 0, 1): torch.tensor([0.0, 1.0]),
        ("finetuned", "l", 0, 0): torch.tensor([1.0, 0.0]),
        ("finetuned", "l", 0, 1): torch.tensor([1.0, 1.0]),
    }
    row = compare.channel_table(renders, e, ["l"]).iloc[0]
    assert row.cosine_same_seed == pytest.approx((1.0 + 2**-0.5) / 2)
    assert row.cosine_cross_seed == pytest.approx((2**-0.5 + 0.0) / 2)
    assert row.noise_base == pytest.approx(0.0)
    assert row.noise_finetuned == pytest.approx(2**-0.5)
    assert row.fine_tuned and row.n_seeds == 2


def test_single_seed_has_no_noise_floor():
    table = pd.DataFrame({"channel": [3], "seed": [0]})
    e = {("base", "l", 3, 0): torch.ones(2), ("finetuned", "l", 3, 0): torch.ones(2)}
    row = compare.channel_table({("base", "l"): table, ("finetuned", "l"): table}, e).iloc[0]
    assert row.cosine_same_seed == pytest.approx(1.0)
    assert np.isnan(row.cosine_cross_seed) and np.isnan(row.noise_base)


def test_is_fine_tuned():
    assert compare.is_fine_tuned("layer4.1", ["layer4"])
    assert compare.is_fine_tuned("layer4.1", ["layer4.1"])
    assert not compare.is_fine_tuned("layer4.10", ["layer4.1"])
