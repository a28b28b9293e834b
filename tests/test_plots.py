"""Every figure of the comparison, drawn from made-up tables and renders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vischange import plots
from vischange.compare import figures
from vischange.compare import stats

from .test_compare_stats import make_pairs


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("renders")
    values = {}
    for layer in ("layer3.1", "layer4.1"):
        for c in range(4):
            noise = 0.95 + 0.01 * c
            values[(layer, c)] = {"same_seed": 0.97, "cross_seed": noise - 0.1 * (c == 0), "noise_base": noise, "noise_finetuned": noise}
    cos, gram, renders = make_pairs(values)
    renders.loc[0, ["gray_score", "gray"]] = [1.5, True]
    rng = np.random.default_rng(0)
    tables = {}
    for (net, layer), part in renders.groupby(["net", "layer"]):
        folder = root / net / layer
        folder.mkdir(parents=True)
        for r in part.itertuples():
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"c{r.channel:04d}_s{r.seed}.png")
        tables[(net, layer)] = folder / "renders.csv"
    channels = stats.channel_table(cos, gram, renders, ["layer4.1"])
    gram_table = stats.gram_table(gram, channels)
    return {
        "channels": channels,
        "gram": gram_table,
        "layers": stats.layer_summary(channels, gram_table),
        "renders": renders,
        "dirs": figures.render_dirs(tables),
    }


def _written(tmp_path, name):
    paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
    return paths


def check(paths):
    for path in paths:
        assert path.stat().st_size > 1000, path
    with Image.open(paths[0]) as image:
        assert image.size[0] > 200 and image.size[1] > 150


def test_every_figure_is_drawn(tables, tmp_path):
    t = tables
    drawn = {
        "most": lambda out: figures.top_channels(t["channels"], t["dirs"], 0, 3, True, out),
        "least": lambda out: figures.top_channels(t["channels"], t["dirs"], 1, 3, False, out),
        "random": lambda out: figures.random_channels(t["channels"], t["dirs"], 0, "layer4.1", 2, 7, out),
        "cosine": lambda out: figures.cosine_by_layer(t["channels"], t["layers"], out),
        "gram": lambda out: figures.gram_by_layer(t["gram"], out),
        "gray_scores": lambda out: figures.gray_scores(t["renders"], {"threshold": 100.0, "method": "fallback", "jump": None}, out),
        "gray_counts": lambda out: figures.gray_counts(t["renders"], out),
        "pairs": lambda out: figures.render_pairs(t["channels"], t["dirs"], 0, out),
    }
    for name, draw in drawn.items():
        out = _written(tmp_path, name)
        draw(out)
        check(out)


def test_figures_are_byte_identical_on_rerun(tables, tmp_path):
    for k in (1, 2):
        figures.cosine_by_layer(tables["channels"], tables["layers"], [tmp_path / f"c{k}.png", tmp_path / f"c{k}.pdf"])
    assert (tmp_path / "c1.png").read_bytes() == (tmp_path / "c2.png").read_bytes()
    assert (tmp_path / "c1.pdf").read_bytes() == (tmp_path / "c2.pdf").read_bytes()


def test_image_panels_draws_each_grid_and_rejects_mismatched_titles(tmp_path):
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    out = [tmp_path / "panels.png", tmp_path / "panels.pdf"]
    plots.image_panels([red, 255 - red, red], ["a", "b", "c"], "three panels", out, columns=2)
    picture = np.asarray(Image.open(out[0]).convert("RGB")).astype(int)
    # Red and cyan panels both appear; the empty fourth axis leaves no grid behind.
    assert ((picture[..., 0] > 200) & (picture[..., 1] < 60)).sum() > 100
    assert ((picture[..., 0] < 60) & (picture[..., 1] > 200)).sum() > 100
    assert out[1].stat().st_size > 1000
    with pytest.raises(ValueError, match="one title per canvas"):
        plots.image_panels([red], ["a", "b"], "x", out)


def test_overlays_have_the_image_shape_and_unit_range():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    fmap = torch.zeros(4, 4)
    fmap[0, 0] = 2.0
    up = plots.upsample_map(fmap, 32)
    assert up.shape == (32, 32) and up.max() <= 2.0
    out = plots.mask_overlay(image, fmap, vmax=1.0)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    # the map fires in the top-left corner: there the image shows through, elsewhere it is dark
    assert np.allclose(out[0, 0], image[:, 0, 0].numpy())
    assert np.all(out[-8:, -8:] == 0)
    with pytest.raises(ValueError):
        plots.mask_overlay(image, fmap, vmax=0)



def test_gram_figure_draws_a_layer_whose_channels_are_all_gray(tables, tmp_path):
    """A layer without one usable channel (every render gray, as a random-weights network's
    can be) is drawn without its lines instead of failing the figure job."""
    gram = tables["gram"].copy()
    gram.loc[gram["layer"] == "layer3.1", "gray"] = True
    out = _written(tmp_path, "gram_all_gray")
    figures.gram_by_layer(gram, out)
    check(out)
