"""Top-map selection, the class-sum detector, the upscaling render and the overlays, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vischange.topmaps import selection


def test_image_top_maps_orders_by_activation_ties_to_lower_index():
    acts = np.array([[0.1, 0.5, 0.5, 0.9], [3.0, 1.0, 2.0, 2.0]])
    assert selection.image_top_maps(acts, 3).tolist() == [[3, 1, 2], [0, 2, 3]]
    with pytest.raises(ValueError, match="4 maps"):
        selection.image_top_maps(acts, 5)


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
    table = selection.class_top_maps(acts, labels, n1=2, n2=3, n_classes=4)
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
    kept = selection.unique_top_maps(table, 4)
    assert kept == {0: [0, 1], 1: [3], 2: [5], 3: []}
    top = selection.top_maps_table(table, ["a", "b", "c", "d"])
    assert top["map"].tolist() == [0, 1, 3, 5]
    assert top["rank"].tolist() == [1, 2, 1, 1]  # re-ranked among the kept
    assert top["class"].tolist() == ["a", "a", "b", "c"]


def test_class_top_maps_with_n2_one_keeps_only_the_most_frequent():
    acts, labels = hand_case()
    table = selection.class_top_maps(acts, labels, n1=2, n2=1, n_classes=3)
    assert table["map"].tolist() == [0, 3, 5] and not table["shared"].any()


