"""Gray scores and the spike cut on images made in the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vischange import compare
from vischange.compare import gray


def test_pure_gray_scores_zero():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (4, 16, 16, 1), dtype=np.uint8)
    images = np.repeat(levels, 3, axis=-1)
    assert np.all(compare.gray_score(images) < 1e-20)


def test_saturated_red_scores_far_above_gray():
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[...] = (200, 10, 10)
    score = compare.gray_score(red)[0]
    # By hand: luma 66.81; squared deviations 133.19^2, 56.81^2, 56.81^2, averaged.
    assert score == pytest.approx((133.19**2 + 2 * 56.81**2) / 3)
    assert score > 8000
    # The seed's uint8 arithmetic wraps 10 - 67 around to 199: float arithmetic must not.
    assert score != pytest.approx(((200 - 67) ** 2 + 2 * ((10 - 67) % 256) ** 2) / 3, rel=1e-3)
    nearly_gray = np.full((8, 8, 3), 120, dtype=np.uint8)
    nearly_gray[..., 0] = 122
    assert compare.gray_score(nearly_gray)[0] < 5 < score / 1000


def test_uint8_and_float_input_agree():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    assert compare.gray_score(image)[0] == pytest.approx(compare.gray_score(image.astype(np.float32))[0])
    with pytest.raises(ValueError):
        compare.gray_score(np.zeros((4, 4)))


def _mixture(rng, n_gray, n_colour):
    images, truth = [], []
    for _ in range(n_gray):
        base = rng.integers(30, 220, (16, 16, 1)).astype(np.float64)
        # Gray renders are not exactly gray: a little chroma noise (+-3 levels).
        images.append(np.clip(base + rng.integers(-3, 4, (16, 16, 3)), 0, 255))
        truth.append(True)
    for _ in range(n_colour):
        images.append(rng.integers(0, 256, (16, 16, 3)).astype(np.float64))
        truth.append(False)
    return np.stack(images), np.array(truth)


def test_spike_cut_separates_gray_and_colour_exactly():
    rng = np.random.default_rng(2)
    images, truth = _mixture(rng, 13, 40)
    scores = compare.gray_score(images)
    cut = compare.spike_cut(scores, fallback_threshold=1e6, min_jump=5)
    assert cut.method == "spike"
    assert np.array_equal(scores < cut.threshold, truth)
    assert scores[truth].max() == cut.lower and scores[~truth].min() == cut.upper
    assert cut.lower < cut.threshold < cut.upper


def test_spike_cut_falls_back_without_a_spike():
    rng = np.random.default_rng(3)
    images, truth = _mixture(rng, 0, 30)
    scores = compare.gray_score(images)
    cut = compare.spike_cut(scores, fallback_threshold=100, min_jump=5)
    assert cut.method == "fallback" and cut.threshold == 100 and cut.jump < 5
    assert not (scores < cut.threshold).any()
    single = compare.spike_cut([42.0], fallback_threshold=7)
    assert single.method == "fallback" and single.threshold == 7 and np.isnan(single.jump)
    with pytest.raises(ValueError):
        compare.spike_cut([1.0, -2.0], 10)


def test_spike_cut_ignores_a_lone_colour_outlier_within_min_jump():
    scores = np.array([1000, 1100, 1200, 1300, 4000.0])  # largest jump x3: no spike
    assert compare.spike_cut(scores, 100, min_jump=5).method == "fallback"
    assert compare.spike_cut(scores, 100, min_jump=2).threshold == pytest.approx(np.sqrt(1301 * 4001) - 1)


def test_gray_table_reads_pngs_by_column_name(tmp_path):
    rng = np.random.default_rng(4)
    tables = {}
    for net in ("base", "finetuned"):
        # The folder's name means nothing: the key names the network and the layer.
        folder = tmp_path / f"t{len(tables)}"
        folder.mkdir(parents=True)
        rows = []
        for channel in range(3):
            colour = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            if net == "finetuned" and channel == 1:
                colour = np.repeat(colour[..., :1], 3, axis=-1)  # the one gray render
            Image.fromarray(colour).save(folder / f"c{channel:04d}_s0.png")
            rows.append({"objective": 1.0, "file": f"c{channel:04d}_s0.png", "seed": 0, "channel": channel})
        pd.DataFrame(rows).to_csv(folder / "renders.csv", index=False)
        tables[(net, "layer1")] = folder / "renders.csv"
    renders, cut = gray.gray_table(tables, fallback_threshold=100, min_jump=5, progress=False)
    assert len(renders) == 6 and cut.method == "spike"
    flagged = renders[renders.gray]
    assert list(zip(flagged.net, flagged.layer, flagged.channel)) == [("finetuned", "layer1", 1)]
    assert flagged.gray_score.iloc[0] < 1e-20  # 0 up to rounding of the luma weights
