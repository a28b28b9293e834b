"""Top-map selection, the class-sum detector, the upscaling render and the overlays, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from vischange import topmaps


def test_image_top_maps_orders_by_activation_ties_to_lower_index():
    acts = np.array([[0.1, 0.5, 0.5, 0.9], [3.0, 1.0, 2.0, 2.0]])
    assert topmaps.image_top_maps(acts, 3).tolist() == [[3, 1, 2], [0, 2, 3]]
    with pytest.raises(ValueError, match="4 maps"):
        topmaps.image_top_maps(acts, 5)


def hand_case():
    """6 maps, 2 classes of 2 images each, plus one image of class 2 (a third class)."""
    acts = np.array(
        [
            # class 0: top-2 are {0, 1} and {0, 2}
            [9, 8, 1, 0, 0, 0],
            [9, 0, 8, 0, 0, 0],
            # class 1: top-2 are {2, 3} and {3, 4}
            [0, 0, 7, 8, 0, 0],
            [0, 0, 0, 8, 7, 0],
            # class 2: top-2 is {5, 4}
            [0, 0, 0, 0, 1, 2],
        ],
        dtype=float,
    )
    return acts, np.array([0, 0, 1, 1, 2])


def test_class_top_maps_counts_ranks_and_removes_shared_maps():
    acts, labels = hand_case()
    table = topmaps.class_top_maps(acts, labels, n1=2, n2=3, n_classes=4)
    lists = {k: rows["map"].tolist() for k, rows in table.groupby("label")}
    # class 0: map 0 in both images (count 2); maps 1 and 2 once each, tie broken by the
    # class's mean activation (map 2: (1 + 8) / 2 = 4.5 > map 1: 4).
    assert lists[0] == [0, 2, 1]
    # class 1: map 3 twice; maps 2 (mean 3.5) and 4 (mean 3.5) tie on count and mean -> lower index.
    assert lists[1] == [3, 2, 4]
    # class 2: one image -> only its two top maps (zero counts are never listed).
    assert lists[2] == [5, 4]
    assert 3 not in lists  # no images, no rows
    row = table[(table["label"] == 0) & (table["map"] == 0)].iloc[0]
    assert row["count"] == 2 and row["frequency"] == 1.0 and row["rank"] == 1
    shared = table.set_index(["label", "map"])["shared_with"].to_dict()
    assert shared[(0, 2)] == "1" and shared[(1, 2)] == "0"
    assert shared[(1, 4)] == "2" and shared[(2, 4)] == "1"
    assert shared[(0, 0)] == "" and shared[(2, 5)] == ""
    kept = topmaps.unique_top_maps(table, 4)
    assert kept == {0: [0, 1], 1: [3], 2: [5], 3: []}
    top = topmaps.top_maps_table(table, ["a", "b", "c", "d"])
    assert top["map"].tolist() == [0, 1, 3, 5]
    assert top["rank"].tolist() == [1, 2, 1, 1]  # re-ranked among the kept
    assert top["class"].tolist() == ["a", "a", "b", "c"]


def test_class_top_maps_with_n2_one_keeps_only_the_most_frequent():
    acts, labels = hand_case()
    table = topmaps.class_top_maps(acts, labels, n1=2, n2=1, n_classes=3)
    assert table["map"].tolist() == [0, 3, 5] and not table["shared"].any()


def test_class_sums_and_empty_lists():
    acts = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]])
    sums = topmaps.class_sums(acts, {0: [0, 2], 1: []})
    assert sums[:, 0].tolist() == [4.0, 0.5]
    assert np.isnan(sums[:, 1]).all()


def test_best_threshold_and_detector_match_a_hand_computation():
    # validation: scores and truth; F1 at t=0.8: tp=1, pred=1, pos=2 -> 2/3;
    # t=0.6: tp=2, pred=2 -> 1.0 (best); t=0.4: tp=2, pred=3 -> 0.8; t=0.1: 4/6.
    val_scores = np.array([0.8, 0.6, 0.4, 0.1])
    val_pos = np.array([True, True, False, False])
    assert topmaps.best_threshold(val_scores, val_pos) == 0.6
    # equal F1 at two thresholds -> the higher one
    assert topmaps.best_threshold(np.array([1.0, 0.5]), np.array([True, False])) == 1.0
    assert np.isnan(topmaps.best_threshold(val_scores, np.zeros(4, bool)))

    val_sums = np.column_stack([val_scores, 1 - val_scores])
    val_labels = np.array([0, 0, 1, 1])
    test_sums = np.column_stack([[0.9, 0.5, 0.7, 0.2], [0.1, 0.5, 0.3, 0.8]])
    test_labels = np.array([0, 0, 1, 1])
    head_probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    head_pred = head_probs.argmax(1)
    table = topmaps.detector_table(val_sums, val_labels, test_sums, test_labels, head_probs, head_pred, ["a", "b"], [2, 1])
    a = table.iloc[0]
    assert a["threshold"] == 0.6 and a["val_f1"] == 1.0
    # test, class a, t = 0.6: predicted positive = {0 (0.9), 2 (0.7)}; true = {0, 1}
    assert a["test_precision"] == 0.5 and a["test_recall"] == 0.5
    # AUC by hand: positives {0.9, 0.5}, negatives {0.7, 0.2}: pairs won 0.9>0.7, 0.9>0.2, 0.5>0.2 -> 3/4
    assert a["test_auc"] == pytest.approx(0.75)
    # head: argmax = [0, 1, 1, 1]: class a precision 1/1, recall 1/2; AUC of p_a: pos {.9,.4} neg {.3,.2} -> 1
    assert (a["head_precision"], a["head_recall"], a["head_auc"]) == (1.0, 0.5, 1.0)
    b = table.iloc[1]
    assert b["head_precision"] == pytest.approx(2 / 3) and b["head_recall"] == 1.0
    empty = topmaps.detector_table(val_sums, val_labels, test_sums, test_labels, head_probs, head_pred, ["a", "b"], [0, 1]).iloc[0]
    assert np.isnan(empty["test_auc"]) and empty["head_auc"] == 1.0


def test_upscale_sizes_follow_the_seed():
    assert topmaps.upscale_sizes(33, 4, 1.2) == [33, 39, 46, 55]
    assert topmaps.upscale_sizes(10, 1, 1.5) == [10]


class BrightRed(nn.Module):
    """One 'layer' whose single channel is the red channel's 2x2 average pool: max activation = red everywhere."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return self.pool(x[:, :1])


def test_upscale_render_grows_the_image_and_drives_the_channel():
    model = BrightRed()
    gen = torch.Generator().manual_seed(0)
    image, value = topmaps.upscale_render(
        model, "pool", 0, normalize=lambda x: x, init_size=8, steps=15, upscaling_steps=3, factor=1.5, lr=0.2, generator=gen
    )
    assert image.shape == (3, 18, 18)  # 8 -> 12 -> 18
    assert 0 <= image.min() and image.max() <= 1
    start = 165 / 255  # the seed's start is uniform in [150, 180] / 255
    assert value > start + 0.2  # the red channel was pushed up
    assert image[0].mean() == pytest.approx(value, abs=1e-5)
    # green and blue get no gradient; only Adam's weight decay (the seed's 1e-6, which Adam's
    # normalization turns into full-size steps) moves them, toward gray (logit 0), never up
    assert (image[1:] <= start + 0.02).all() and (image[1:] >= 0.45).all()
    again, _ = topmaps.upscale_render(
        model, "pool", 0, normalize=lambda x: x, init_size=8, steps=15, upscaling_steps=3, factor=1.5, lr=0.2,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(image, again)


def test_overlays_have_the_image_shape_and_unit_range():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    fmap = torch.zeros(4, 4)
    fmap[0, 0] = 2.0
    up = topmaps.upsample_map(fmap, 32)
    assert up.shape == (32, 32) and up.max() <= 2.0
    out = topmaps.mask_overlay(image, fmap, vmax=1.0)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    # the map fires in the top-left corner: there the image shows through, elsewhere it is dark
    assert np.allclose(out[0, 0], image[:, 0, 0].numpy())
    assert np.all(out[-8:, -8:] == 0)
    with pytest.raises(ValueError):
        topmaps.mask_overlay(image, fmap, vmax=0)


def test_select_images_is_seeded_and_respects_groups():
    labels = np.array([0, 1, 0, 2, 0, 1])
    same = topmaps.select_images(labels, 0, 2, True, seed=3)
    other = topmaps.select_images(labels, 0, 5, False, seed=3)
    assert set(same) <= {0, 2, 4} and len(same) == 2
    assert other.tolist() == [1, 3, 5]
    assert topmaps.select_images(labels, 0, 2, True, seed=3).tolist() == same.tolist()


def test_shown_classes_names_the_key():
    assert topmaps.shown_classes(["a", "b", "c"], None, 2) == [0, 1]
    assert topmaps.shown_classes(["a", "b", "c"], ["c", "a"], 2) == [2, 0]
    with pytest.raises(ValueError, match="topmaps.classes"):
        topmaps.shown_classes(["a", "b"], ["zebra"], 2)
