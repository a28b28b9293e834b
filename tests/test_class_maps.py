"""Class sums of top maps and the seeded choice of classes and images."""

from __future__ import annotations

import numpy as np
import pytest

from vischange import class_maps


def test_class_sums_and_empty_lists():
    acts = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]])
    sums = class_maps.class_sums(acts, {0: [0, 2], 1: []})
    assert sums[:, 0].tolist() == [4.0, 0.5]
    assert np.isnan(sums[:, 1]).all()


def test_select_images_is_seeded_and_respects_groups():
    labels = np.array([0, 1, 0, 2, 0, 1])
    same = class_maps.select_images(labels, 0, 2, True, seed=3)
    other = class_maps.select_images(labels, 0, 5, False, seed=3)
    assert set(same) <= {0, 2, 4} and len(same) == 2
    assert other.tolist() == [1, 3, 5]
    assert class_maps.select_images(labels, 0, 2, True, seed=3).tolist() == same.tolist()


def test_shown_classes_names_the_key():
    assert class_maps.shown_classes(["a", "b", "c"], None, 2) == [0, 1]
    assert class_maps.shown_classes(["a", "b", "c"], ["c", "a"], 2) == [2, 0]
    with pytest.raises(ValueError, match="topmaps.classes"):
        class_maps.shown_classes(["a", "b"], ["zebra"], 2)

