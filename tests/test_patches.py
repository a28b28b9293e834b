"""Atlas patches: pasting, candidate selection, baselines, flip-rate arithmetic, best corner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vischange.patches import checks as patches_checks
from vischange.patches import baselines, candidates, figures, flips, pasting

# Pasting ------------------------------------------------------------------------------


@pytest.mark.parametrize("corner", pasting.CORNERS)
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 1.0])
def test_paste_lands_exactly_where_and_as_large_as_requested(corner, fraction):
    h = w = 40
    images = torch.rand(3, 3, h, w, generator=torch.Generator().manual_seed(0))
    p = pasting.patch_pixels(fraction, w)
    assert p == max(1, round(fraction * w))
    patch = torch.full((3, p, p), 7.0)  # a value no image pixel has
    out = pasting.paste(images, patch, corner)
    marked = (out == 7.0).all(dim=1)  # (N, H, W)
    rows = np.flatnonzero(marked[0].any(1).numpy())
    cols = np.flatnonzero(marked[0].any(0).numpy())
    assert len(rows) == p and len(cols) == p and marked[0].sum() == p * p
    expect_rows = range(0, p) if corner.startswith("top") else range(h - p, h)
    expect_cols = range(0, p) if corner.endswith("left") else range(w - p, w)
    assert rows.tolist() == list(expect_rows) and cols.tolist() == list(expect_cols)
    assert torch.equal(marked[0], marked[1]) and torch.equal(marked[0], marked[2])
    # The rest is untouched, and the input is not modified in place.
    assert torch.equal(out[~marked[:, None].expand_as(out)], images[~marked[:, None].expand_as(out)])
    assert not (images == 7.0).any()


def test_paste_rejects_patches_that_do_not_fit():
    with pytest.raises(ValueError):
        pasting.paste(torch.zeros(1, 3, 8, 8), torch.zeros(3, 9, 9), "top_left")
    with pytest.raises(ValueError):
        pasting.paste(torch.zeros(1, 3, 8, 8), torch.zeros(3, 2, 2), "middle")
    with pytest.raises(ValueError):
        pasting.patch_pixels(0.0, 64)


def test_resize_patch_gives_the_requested_side_in_range():
    patch = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    small = pasting.resize_patch(patch, 10)
    assert small.shape == (3, 10, 10) and small.min() >= 0 and small.max() <= 1
    assert torch.equal(pasting.resize_patch(patch, 32), patch)
    flat = pasting.resize_patch(torch.full((3, 32, 32), 0.25), 7)
    assert torch.allclose(flat, torch.full((3, 7, 7), 0.25))


# Candidates ---------------------------------------------------------------------------


def _cells():
    return pd.DataFrame({
        "row": [0, 0, 1, 1, 2, 2],
        "col": [0, 1, 0, 1, 0, 1],
        "filled": [True, True, True, False, True, True],
        "attribution_difference": [2.0, -1.5, 0.5, 9.0, -0.2, 2.0],
    })


def test_candidates_favour_the_target_side_of_the_pair():
    cells = _cells()
    toward_a = candidates.select_candidates(cells, toward_first=True, top_k=2)
    # Largest a - b among filled cells; the empty cell (9.0) never counts; tie by (row, col).
    assert list(zip(toward_a.row, toward_a.col)) == [(0, 0), (2, 1)]
    toward_b = candidates.select_candidates(cells, toward_first=False, top_k=5)
    # Only cells whose difference favours b, strongest first: never a cell that favours a.
    assert list(zip(toward_b.row, toward_b.col)) == [(0, 1), (2, 0)]
    assert (toward_b.score > 0).all() and toward_b.score.tolist() == [1.5, 0.2]
    assert candidates.pair_directions("a", "b") == [("b", "a"), ("a", "b")]
    assert candidates.pair_directions("a", "b", both=False) == [("b", "a")]


# Baselines ----------------------------------------------------------------------------


def test_baselines_are_seeded_and_of_the_requested_size():
    one = baselines.noise_patch(13, baselines.baseline_seed(0, "noise", "s", "t", 0, 0.2))
    again = baselines.noise_patch(13, baselines.baseline_seed(0, "noise", "s", "t", 0, 0.2))
    other = baselines.noise_patch(13, baselines.baseline_seed(1, "noise", "s", "t", 0, 0.2))
    assert one.shape == (3, 13, 13) and torch.equal(one, again) and not torch.equal(one, other)
    assert one.min() >= 0 and one.max() <= 1
    image = torch.arange(3 * 20 * 24, dtype=torch.float32).view(3, 20, 24)
    crop, (top, left) = baselines.crop_patch(image, 9, seed=5)
    assert crop.shape == (3, 9, 9) and 0 <= top <= 11 and 0 <= left <= 15
    assert torch.equal(crop, image[:, top : top + 9, left : left + 9])
    assert baselines.crop_patch(image, 9, seed=5)[1] == (top, left)
    labels = np.array([0, 1, 1, 0, 2])
    picks = {baselines.pick_crop_image(labels, exclude=1, seed=s) for s in range(50)}
    assert picks == {0, 3, 4}  # never the target class, and not always the same image
    with pytest.raises(ValueError):
        baselines.pick_crop_image(np.array([1, 1]), exclude=1, seed=0)


# Arithmetic ---------------------------------------------------------------------------


def _rows(image, kind, corner, before, after, p_before, p_after, patch="p0", size=0.5):
    return {"image": image, "kind": kind, "patch": patch, "size": size, "pixels": 8, "corner": corner,
            "top1_before": before, "p_target_before": p_before, "top1_after": after, "p_target_after": p_after}


def _tiny():
    """Three source images (S), target T, one atlas patch, two corners used.

    i0: correct; top_left -> T (p 0.1 -> 0.6), top_right stays S (0.1 -> 0.3)
    i1: correct; top_left -> other class X (0.2 -> 0.1), top_right -> T (0.2 -> 0.55)
    i2: wrong before (X); top_left -> T; must never count
    """
    rows = [
        _rows("i0", "atlas", "top_left", "S", "T", 0.1, 0.6),
        _rows("i0", "atlas", "top_right", "S", "S", 0.1, 0.3),
        _rows("i1", "atlas", "top_left", "S", "X", 0.2, 0.1),
        _rows("i1", "atlas", "top_right", "S", "T", 0.2, 0.55),
        _rows("i2", "atlas", "top_left", "X", "T", 0.3, 0.9),
        _rows("i2", "atlas", "top_right", "X", "X", 0.3, 0.3),
    ]
    return flips.flip_columns(pd.DataFrame(rows), "S", "T")


def test_flip_rates_on_a_hand_made_case():
    frame = _tiny()
    summary = flips.flip_summary(frame).set_index("corner")
    left, right = summary.loc["top_left"], summary.loc["top_right"]
    assert left.images == 2 and right.images == 2  # i2 was misclassified before: left out
    assert left.flip_target_rate == 0.5 and left.flip_other_rate == 0.5
    assert right.flip_target_rate == 0.5 and right.flip_other_rate == 0.0
    assert left.mean_delta_target == pytest.approx(((0.6 - 0.1) + (0.1 - 0.2)) / 2)
    assert right.mean_delta_target == pytest.approx(((0.3 - 0.1) + (0.55 - 0.2)) / 2)


def test_best_corner_prefers_a_flip_then_the_highest_target_probability():
    frame = _tiny()
    best = flips.best_corner(frame).set_index("image")
    assert best.loc["i0", "best_corner"] == "top_left"
    assert best.loc["i1", "best_corner"] == "top_right"
    assert (best["corner"] == flips.BEST).all()
    # Without any flip, the corner with the larger target probability wins.
    no_flip = frame[frame.image == "i0"].assign(top1_after="S")
    no_flip = flips.flip_columns(no_flip, "S", "T")
    assert flips.best_corner(no_flip)["best_corner"].tolist() == ["top_left"]
    # A flip beats a higher target probability that does not flip.
    mixed = pd.DataFrame([_rows("i", "atlas", "top_left", "S", "S", 0.1, 0.45),
                          _rows("i", "atlas", "bottom_right", "S", "T", 0.1, 0.40)])
    assert flips.best_corner(flips.flip_columns(mixed, "S", "T"))["best_corner"].tolist() == ["bottom_right"]
    summary = flips.flip_summary(pd.concat([frame, best.reset_index().drop(columns="best_corner")]))
    at_best = summary[summary.corner == flips.BEST].iloc[0]
    assert at_best.images == 2 and at_best.flip_target_rate == 1.0 and at_best.flip_other_rate == 0.0


def test_kind_summary_averages_over_patches_and_draws():
    frame = pd.concat([
        _tiny(),
        flips.flip_columns(pd.DataFrame([
            _rows("i0", "noise", "top_left", "S", "S", 0.1, 0.1, patch="draw0"),
            _rows("i1", "noise", "top_left", "S", "T", 0.2, 0.6, patch="draw0"),
            _rows("i0", "noise", "top_left", "S", "S", 0.1, 0.1, patch="draw1"),
            _rows("i1", "noise", "top_left", "S", "S", 0.2, 0.2, patch="draw1"),
        ]), "S", "T"),
    ])
    best = flips.best_corner(frame).drop(columns="best_corner")
    kinds = flips.kind_summary(flips.flip_summary(best)).set_index("kind")
    assert kinds.loc["atlas", "flip_target_rate"] == 1.0
    assert kinds.loc["noise", "patches"] == 2
    assert kinds.loc["noise", "flip_target_rate"] == 0.25  # mean of 0.5 and 0.0
    assert kinds.loc["noise", "flip_target_max"] == 0.5 and kinds.loc["noise", "flip_target_min"] == 0.0


# Config -------------------------------------------------------------------------------


def _config(**patch_settings):
    return {
        "data": {"image_size": 64},
        "model": {"base": {"source": "pretrain"}},
        "atlas": {"layers": ["layer4.1"], "class_pairs": {"base": [["circle", "ring"]], "finetuned": [["a", "b"]]}},
        "patches": {"enabled": True, "layer": None, "pairs": {"base": None, "finetuned": None},
                    "sizes": [0.1, 0.2], **patch_settings},
    }


def test_config_checks_name_the_patches_keys():
    assert patches_checks.problems(_config()) == []
    problems = patches_checks.problems(_config(layer="layer3.1", pairs={"base": [["circle", "star"]], "finetuned": None},
                                             sizes=[0.1, 0.095]))
    assert any(p.startswith("config key patches.layer:") for p in problems)
    assert any(p.startswith("config key patches.pairs.base[0]:") for p in problems)
    assert any(p.startswith("config key patches.sizes:") and "6 px" in p for p in problems)
    twice = _config()
    twice["atlas"]["class_pairs"]["finetuned"] = [["a", "b"], ["b", "a"]]
    assert any(p.startswith("config key patches.pairs.finetuned:") for p in patches_checks.problems(twice))


def test_base_pairs_only_with_a_base_task_of_our_own():
    assert patches_checks.patch_pairs(_config()) == {"base": [("circle", "ring")], "finetuned": [("a", "b")]}
    torchvision_base = _config()
    torchvision_base["model"]["base"]["source"] = "torchvision"
    assert patches_checks.patch_pairs(torchvision_base) == {"base": [], "finetuned": [("a", "b")]}
    assert patches_checks.patch_pairs(_config(enabled=False)) == {"base": [], "finetuned": []}
    assert patches_checks.patch_pairs(_config(pairs={"base": [], "finetuned": None}))["base"] == []


def _summary(net, source, target, by_kind, correct=4):
    return {"network": net, "layer": "layer4.1", "source": source, "target": target, "source_images": 5,
            "correct_before": correct, "by_kind": by_kind}


def _rates(rate, best):
    return {"patches": 2, "flip_target_rate": rate, "flip_target_max": best, "flip_other_rate": 0.0,
            "mean_delta_target": 0.0}


def test_overview_orders_networks_and_sizes_and_measures_the_atlas_margin(tmp_path):
    fine = _summary("finetuned", "b", "a", {
        "atlas": {"0.5": _rates(0.5, 0.75), "0.25": _rates(0.0, 0.25)},
        "noise": {"0.25": _rates(0.0, 0.0), "0.5": _rates(0.25, 0.5)},
        "image": {"0.25": _rates(0.25, 0.5), "0.5": _rates(0.0, 0.25)},
    })
    base = _summary("base", "x", "y", {"atlas": {"0.25": _rates(0.0, 0.0)}, "noise": {"0.25": _rates(0.0, 0.0)},
                                       "image": {"0.25": _rates(0.25, 0.25)}})
    table = flips.overview_table([fine, base], ["base", "finetuned"])
    assert list(table.columns) == flips.OVERVIEW_COLUMNS
    assert list(table["network"].unique()) == ["base", "finetuned"]
    part = table[(table["network"] == "finetuned") & (table["kind"] == "atlas")]
    assert list(part["size"]) == [0.25, 0.5]  # numeric order, not the JSON's
    margin = flips.atlas_margin(table).set_index(["network", "size"])
    # Best atlas patch minus the best draw of either baseline at the same size.
    assert margin.loc[("finetuned", 0.5), "margin"] == pytest.approx(0.75 - 0.5)
    assert margin.loc[("finetuned", 0.25), "margin"] == pytest.approx(0.25 - 0.5)
    assert margin.loc[("base", 0.25), "margin"] == pytest.approx(-0.25)
    out = [tmp_path / "o.png", tmp_path / "o.pdf"]
    figures.overview_figure(table, ["base", "finetuned"], out)
    assert all(p.stat().st_size > 0 for p in out)
