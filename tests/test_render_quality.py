"""Render bookkeeping: own-channel ranks, dataset examples, the merged table and the summary."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from vischange.render import chunk, dataset_examples as dx, tables


def test_own_channel_rank_counts_same_seed_rivals_only():
    # Renders: (ch0,s0), (ch1,s0), (ch0,s1), (ch1,s1); layer has 2 channels.
    acts = torch.tensor(
        [
            [5.0, 1.0],  # render of ch0 s0: drives ch0 at 5
            [6.0, 2.0],  # render of ch1 s0: drives ch0 harder (6) and ch1 at 2
            [1.0, 9.0],  # render of ch0 s1: weak on ch0
            [0.5, 3.0],  # render of ch1 s1: ch0's s1 render drives ch1 harder (9)
        ]
    )
    ranks = chunk.own_channel_rank(acts, [0, 1, 0, 1], [0, 0, 1, 1])
    assert ranks == [2, 1, 1, 2]


class _Spotlight(nn.Module):
    """'layer' output = the image's red and green channels as two feature maps; 'later' =
    the blue channel, doubled, at half resolution."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Identity()
        self.later = nn.AvgPool2d(2)

    def forward(self, x):
        self.layer(x[:, :2])
        return self.later(2 * x[:, 2:])


def _batches(images, size):
    for start in range(0, len(images), size):
        yield images[start : start + size], torch.arange(start, min(start + size, len(images)))


def test_scan_layers_top_k_mean_and_positions_do_not_depend_on_batching():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(10, 3, 4, 4, generator=g)
    images[7, 0, 2, 3] = 5.0  # the red channel's strongest image and position
    model = _Spotlight()
    one = dx.scan_layers(model, {"layer": [0, 1]}, _batches(images, 10), k=3)["layer"]
    many = dx.scan_layers(model, {"layer": [0, 1]}, _batches(images, 3), k=3)["layer"]
    for a, b in [(one.top_index, many.top_index), (one.top_yx, many.top_yx)]:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(one.mean, many.mean, rtol=1e-6)
    assert one.top_index[0, 0] == 7 and tuple(one.top_yx[0, 0]) == (2, 3)
    assert one.top_values[0, 0] == pytest.approx(5.0)
    np.testing.assert_allclose(one.mean, images[:, :2].mean((0, 2, 3)).numpy(), rtol=1e-6)
    expected = images[:, 1].flatten(1).max(1).values.sort(descending=True).values[:3]
    np.testing.assert_allclose(one.top_values[1], expected.numpy(), rtol=1e-6)
    assert one.feature_size == (4, 4) and one.images == 10


def test_scan_layers_in_one_pass_equals_each_layer_alone():
    images = torch.rand(9, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    model = _Spotlight()
    both = dx.scan_layers(model, {"layer": [1], "later": [0]}, _batches(images, 4), k=2)
    alone = {name: dx.scan_layers(model, {name: chans}, _batches(images, 4), k=2)[name]
             for name, chans in {"layer": [1], "later": [0]}.items()}
    for name in both:
        for field in ("channels", "mean", "max_mean", "top_values", "top_index", "top_yx"):
            np.testing.assert_array_equal(getattr(both[name], field), getattr(alone[name], field))
    # Only the asked channel: layer's channel 1 is the green one; later is the pooled, doubled blue.
    np.testing.assert_allclose(both["layer"].mean, [images[:, 1].mean()], rtol=1e-6)
    np.testing.assert_allclose(both["later"].mean, [2 * images[:, 2].mean()], rtol=1e-6)
    assert both["later"].feature_size == (2, 2)


@pytest.mark.parametrize("yx", [(0, 0), (1, 3), (3, 3)])
def test_crop_box_is_inside_the_image_and_holds_the_cell(yx):
    left, top, right, bottom = dx.crop_box(yx, (4, 4), 64)
    assert 0 <= left < right <= 64 and 0 <= top < bottom <= 64
    assert right - left == bottom - top == 32
    cy, cx = (yx[0] + 0.5) * 16, (yx[1] + 0.5) * 16
    assert top <= cy <= bottom and left <= cx <= right


def test_example_strip_has_images_above_their_crops():
    images = [torch.zeros(3, 8, 8), torch.ones(3, 8, 8)]
    strip = dx.example_strip(images, [(0, 0, 4, 4), (4, 4, 8, 8)], gap=2)
    assert strip.size == (2 * 8 + 2, 2 * 8 + 2)
    pixels = np.asarray(strip)
    assert (pixels[10:, 10:] == 255).all()  # second crop: the white image
    assert (pixels[10:, :8] == 0).all()  # first crop: the black image
    assert tuple(pixels[0, 0]) == (255, 0, 0)  # the box outline


def test_merge_tables_adds_dataset_statistics_and_rejects_duplicates(tmp_path):
    a = pd.DataFrame({"layer": "l", "channel": [1, 1], "seed": [0, 1], "objective": [2.0, 4.0], "seconds": [0.5, 0.5]})
    b = pd.DataFrame({"layer": "l", "channel": [0, 0], "seed": [0, 1], "objective": [3.0, 1.0], "seconds": [0.5, 0.5]})
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    pd.DataFrame({"channel": [0, 1], "dataset_mean": [0.0, 2.0]}).to_csv(tmp_path / "s.csv", index=False)
    table = tables.merge_tables([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "out.csv", tmp_path / "s.csv")
    assert list(table.channel) == [0, 0, 1, 1] and table.columns[-1] == "seconds"
    assert table.activation_ratio.iloc[:2].isna().all()  # dataset mean 0: no ratio
    assert list(table.activation_ratio.iloc[2:]) == [1.0, 2.0]
    with pytest.raises(ValueError, match="listed twice"):
        tables.merge_tables([tmp_path / "a.csv", tmp_path / "a.csv"], tmp_path / "out.csv")
    pd.DataFrame({"channel": [0], "dataset_mean": [1.0]}).to_csv(tmp_path / "s1.csv", index=False)
    with pytest.raises(ValueError, match=r"no statistics for channels \[1\]"):
        tables.merge_tables([tmp_path / "a.csv"], tmp_path / "out.csv", tmp_path / "s1.csv")


def test_quality_summary():
    table = pd.DataFrame({"activation_ratio": [1.0, 3.0, np.nan], "own_rank": [1, 2, 1], "seconds": [1.0, 2.0, 3.0]})
    row = tables.quality_summary({("base", "l"): table}).iloc[0]
    assert row.renders == 3 and row.median_activation_ratio == 2.0
    assert row.own_channel_fraction == pytest.approx(2 / 3) and row.median_seconds == 2.0


