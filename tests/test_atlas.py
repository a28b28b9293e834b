"""Activation atlases: grid arithmetic, whitening, the dot x cos^n objective, UMAP
reproducibility, attribution, PCA and icon sharding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from vischange.atlas import collect, grid, icons, layout
from vischange.render import direction_cossim, render_directions, whitened_direction_cossim

# Grid ---------------------------------------------------------------------------------


def test_normalize_layout_clips_at_percentiles_and_fills_unit_square():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(1000, 2))
    xy[0] = [1e6, -1e6]  # an outlier must not squeeze the rest into a corner
    unit = grid.normalize_layout(xy, (1, 99))
    assert unit.min() == 0.0 and unit.max() == 1.0
    assert unit[0].tolist() == [1.0, 0.0]
    inner = (xy[:, 0] > np.percentile(xy[:, 0], 1)) & (xy[:, 0] < np.percentile(xy[:, 0], 99))
    assert np.ptp(unit[inner, 0]) > 0.9
    assert np.all(grid.normalize_layout(np.ones((5, 2))) == 0.5)  # no spread: centre


def test_every_sample_lands_in_exactly_one_cell():
    rng = np.random.default_rng(1)
    n = 7
    unit = rng.uniform(size=(2000, 2))
    # Points on every grid line and on the borders, where off-by-one errors live.
    lines = np.arange(n + 1) / n
    unit = np.vstack([unit, np.array([[a, b] for a in lines for b in lines])])
    rows, cols = grid.assign_cells(unit, n)
    assert rows.min() >= 0 and cols.min() >= 0 and rows.max() < n and cols.max() < n
    counts = np.bincount(rows * n + cols, minlength=n * n)
    assert counts.sum() == len(unit)
    # Brute force: a point belongs to the cells whose half-open box holds it (closed at
    # the top/right border); there must be exactly one.
    for (x, y), r, c in zip(unit, rows, cols):
        hits = [
            (rr, cc)
            for rr in range(n)
            for cc in range(n)
            if (cc / n <= x < (cc + 1) / n or (cc == n - 1 and x == 1.0))
            and (1 - (rr + 1) / n < y <= 1 - rr / n or (rr == n - 1 and y == 0.0))
        ]
        assert hits == [(r, c)], (x, y, hits, r, c)
    top_left = grid.assign_cells(np.array([[0.0, 1.0], [1.0, 0.0]]), n)
    assert [top_left[0].tolist(), top_left[1].tolist()] == [[0, n - 1], [0, n - 1]]
    with pytest.raises(ValueError):
        grid.assign_cells(np.array([[1.2, 0.5]]), n)


def test_cells_below_minimum_are_empty_and_means_are_exact():
    n = 2
    rows = np.array([0, 0, 0, 1, 1, 0])
    cols = np.array([0, 0, 0, 1, 1, 1])
    acts = np.arange(12, dtype=float).reshape(6, 2)
    attr = np.array([[1, 0, 0], [1, 0, 0], [0, 3, 0], [0, 0, 1], [0, 0, 1], [5, 0, 0]], float)
    table, mean_acts, mean_attr = grid.cell_table(rows, cols, n, acts, attr, ["a", "b", "c"], min_count=2, top_k=2)
    assert table[["row", "col"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert table["count"].tolist() == [3, 1, 0, 2]
    assert table["filled"].tolist() == [True, False, False, True]
    assert table.loc[~table.filled, "top_class"].tolist() == ["", ""]
    assert table.loc[~table.filled, "top_attribution"].isna().all()
    assert len(mean_acts) == 2 and len(mean_attr) == 2
    np.testing.assert_allclose(mean_acts[0], acts[:3].mean(axis=0))
    np.testing.assert_allclose(mean_acts[1], acts[3:5].mean(axis=0))
    assert table.loc[0, "top_class"] == "b" and table.loc[0, "top_classes"] == "b;a"
    assert table.loc[0, "top_attribution"] == pytest.approx(1.0)
    assert table.loc[3, "top_class"] == "c"
    assert table["count"].sum() == len(rows)


# Whitening ----------------------------------------------------------------------------


def _correlated(n=20000, c=6, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(c, c)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1, 0.02])
    return rng.normal(size=(n, c)) @ mix.T + rng.normal(size=c) * 3


def test_whitening_gives_identity_covariance():
    x = _correlated()
    w = grid.whitening_matrix(x, center=True, ridge=0.0)
    z = (x - x.mean(axis=0)) @ w.T
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(x.shape[1]), atol=1e-8)
    np.testing.assert_allclose(w, w.T, atol=1e-10)  # ZCA: symmetric
    # Uncentred (lucid's choice for icons): identity second moment about zero.
    w0 = grid.whitening_matrix(x, center=False, ridge=0.0)
    z0 = x @ w0.T
    np.testing.assert_allclose(z0.T @ z0 / len(z0), np.eye(x.shape[1]), atol=1e-8)
    # The raw data were far from white.
    assert np.abs(np.cov(x.T) - np.eye(x.shape[1])).max() > 1


def test_whitened_direction_dot_is_inverse_second_moment_dot():
    x = np.abs(_correlated(seed=3))
    w = grid.whitening_matrix(x, center=False, ridge=0.0)
    v = x[:10].mean(axis=0, keepdims=True)
    u = grid.whiten_directions(v, w)[0].astype(np.float64)
    assert np.linalg.norm(u) == pytest.approx(1.0, abs=1e-6)
    # dot(W a, u) is proportional to a . S^-1 v for every activation a.
    want = x[:50] @ np.linalg.solve(x.T @ x / len(x), v[0])
    got = (x[:50] @ w.T) @ u
    np.testing.assert_allclose(got / got[0], want / want[0], rtol=1e-4)
    # The objective on raw activations equals dot x cos^n on whitened ones.
    a = torch.from_numpy(x[:4]).float().view(4, -1, 1, 1)
    ut = torch.from_numpy(np.tile(u, (4, 1))).float()
    value = whitened_direction_cossim("L", torch.from_numpy(w), ut, 2.0)({"L": a})
    ref = direction_cossim("L", ut, 2.0)({"L": torch.from_numpy(x[:4] @ w.T).float().view(4, -1, 1, 1)})
    torch.testing.assert_close(value, ref, rtol=1e-4, atol=1e-6)
    eye = whitened_direction_cossim("L", torch.eye(x.shape[1]), ut, 2.0)({"L": a})
    torch.testing.assert_close(eye, direction_cossim("L", ut, 2.0)({"L": a}))
    # A dead channel (never fires) needs the ridge.
    dead = np.column_stack([x, np.zeros(len(x))])
    with pytest.raises(ValueError):
        grid.whitening_matrix(dead, ridge=0.0)
    assert np.isfinite(grid.whitening_matrix(dead, ridge=1e-3)).all()


# The dot x cos^n objective ------------------------------------------------------------


@pytest.mark.parametrize("power", [0.0, 1.0, 4.0])
def test_dot_cos_objective_gradient(power):
    """d/da [ (a.v) cos^n ] = cos^n [ (n+1) v - n (a.v) a / |a|^2 ]  (|v| = 1), and an
    ascent step turns the activation towards v."""
    torch.manual_seed(0)
    c = 8
    v = torch.nn.functional.normalize(torch.randn(c), dim=0)
    a = (0.7 * v + 0.5 * torch.nn.functional.normalize(torch.randn(c), dim=0)).double()
    a.requires_grad_(True)
    acts = {"L": a.view(1, c, 1, 1)}
    value = direction_cossim("L", v[None].double(), cossim_pow=power)(acts)
    (grad,) = torch.autograd.grad(value.sum(), a)
    a0, vd = a.detach(), v.double()
    dot = a0 @ vd
    cos = dot / a0.norm()
    assert cos > 0.1  # the objective clamps the cosine below at 0.1
    want = cos**power * ((power + 1) * vd - power * dot * a0 / a0.norm() ** 2)
    torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)
    stepped = a0 + 1e-2 * grad
    assert stepped @ vd / stepped.norm() >= cos - 1e-12
    if power > 0:
        # Grows along v, and the part orthogonal to v shrinks: the gradient has a
        # component against the activation's off-direction part.
        off = a0 - dot * vd
        assert grad @ vd > 0 and grad @ off < 0
        assert stepped @ vd / stepped.norm() > cos
    # Parallel activation: the gradient points along v.
    par = (2.0 * v).double().requires_grad_(True)
    (g2,) = torch.autograd.grad(direction_cossim("L", v[None].double(), power)({"L": par.view(1, c, 1, 1)}).sum(), par)
    assert torch.nn.functional.cosine_similarity(g2, vd, dim=0) > 1 - 1e-5


# Layout -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(0)
    centres = np.abs(rng.normal(size=(3, 20))) * 3
    x = np.vstack([np.abs(c + rng.normal(scale=0.3, size=(25, 20))) for c in centres])
    return x, np.repeat(np.arange(3), 25)


@pytest.fixture(scope="module")
def umap_runs(clusters):
    x, _ = clusters
    kw = dict(n_neighbors=8, min_dist=0.1, pca=10)
    return layout.umap_layout(x, seed=3, **kw), layout.umap_layout(x, seed=3, **kw), layout.umap_layout(x, seed=4, **kw)


def test_umap_is_reproducible_with_a_fixed_seed(umap_runs):
    first, again, other = umap_runs
    assert first.shape == (75, 2)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_umap_keeps_clusters_apart(umap_runs, clusters):
    emb, labels = umap_runs[0], clusters[1]
    centroids = np.stack([emb[labels == k].mean(axis=0) for k in range(3)])
    spread = max(np.linalg.norm(emb[labels == k] - centroids[k], axis=1).mean() for k in range(3))
    gaps = [np.linalg.norm(centroids[i] - centroids[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 2 * spread


def test_identical_vectors_share_one_point(clusters):
    x, _ = clusters
    doubled = layout.umap_layout(np.vstack([x, x]), n_neighbors=8, pca=10, seed=3)
    np.testing.assert_array_equal(doubled[: len(x)], doubled[len(x) :])


def test_fit_on_one_set_and_transform_another(clusters, umap_runs):
    x, labels = clusters
    rng = np.random.default_rng(5)
    moved = np.abs(x[labels == 0] + rng.normal(scale=0.05, size=(25, 20)))  # cluster 0, slightly perturbed
    fitted, (same, near) = layout.umap_fit_transform(x, [x, moved], n_neighbors=8, min_dist=0.1, pca=10, seed=3)
    np.testing.assert_array_equal(fitted, umap_runs[0])  # the fit is the base layout itself
    np.testing.assert_array_equal(same, fitted)  # unchanged vectors keep their fitted point exactly
    centroids = np.stack([fitted[labels == k].mean(axis=0) for k in range(3)])
    nearest = np.linalg.norm(near[:, None] - centroids[None], axis=2).argmin(axis=1)
    assert (nearest == 0).mean() > 0.9  # placed among their own cluster, not anywhere
    tiny, (other,) = layout.umap_fit_transform(np.ones((3, 5)), [np.zeros((2, 5))])
    assert tiny.tolist() == [[0.0, 0.0]] * 3 and other.tolist() == [[0.0, 0.0]] * 2


def test_normalize_layout_with_a_reference_maps_like_the_reference():
    ref = np.array([[0.0, 0.0], [10.0, 2.0]])
    out = grid.normalize_layout(np.array([[5.0, 1.0], [20.0, -1.0]]), (0, 100), reference=ref)
    np.testing.assert_allclose(out, [[0.5, 0.5], [1.0, 0.0]])  # outside the reference: clamped


def test_tiny_sample_sets_get_a_trivial_layout():
    assert layout.umap_layout(np.ones((3, 5))).tolist() == [[0.0, 0.0]] * 3
    assert layout.umap_layout(np.ones((0, 5))).shape == (0, 2)


def test_uncentred_pca_preserves_dot_products_in_full_rank():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6))
    p = layout.project_pca(x, 6)
    np.testing.assert_allclose(p @ p.T, x @ x.T, atol=1e-9)
    p2 = layout.project_pca(x, 2)
    assert p2.shape == (50, 2)
    assert (p2**2).sum(axis=0)[0] >= (p2**2).sum(axis=0)[1]  # leading axis first


# Collection ---------------------------------------------------------------------------


def test_attribution_is_gradient_times_activation_for_every_class():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5).eval()
    x = torch.randn(3, 3, 64, 64)
    positions = torch.tensor([[0, 2], [1, 0], [3, 3]])
    acts, attr = collect.activations_and_attributions(model, "layer3.1", x, positions)
    assert acts.shape == (3, 256) and attr.shape == (3, 5)
    # Reference: one backward pass per class.
    store = {}
    handle = model.layer3[1].register_forward_hook(lambda m, i, o: store.__setitem__("out", o))
    logits = model(x)
    handle.remove()
    out, idx = store["out"], torch.arange(3)
    picked = out[idx, :, positions[:, 0], positions[:, 1]]
    torch.testing.assert_close(acts, picked.detach())
    want = []
    for k in range(5):
        (g,) = torch.autograd.grad(logits[:, k].sum(), out, retain_graph=True)
        want.append((g[idx, :, positions[:, 0], positions[:, 1]] * picked).sum(dim=1))
    torch.testing.assert_close(attr, torch.stack(want, dim=1).detach(), rtol=1e-4, atol=1e-5)


def test_images_and_positions_are_seeded_and_network_independent():
    pos = collect.draw_positions(500, 4, 3, 7)
    np.testing.assert_array_equal(pos, collect.draw_positions(500, 4, 3, 7))
    assert pos[:, 0].max() == 3 and pos[:, 1].max() == 2 and pos.min() == 0


def test_collect_matches_direct_call_in_batches():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=4).eval()
    x = torch.randn(5, 3, 32, 32)
    batches = [(x[:2], range(0, 2)), (x[2:], range(2, 5))]
    out = collect.collect(model, "layer2.1", batches, 5, seed=1, device=torch.device("cpu"), progress=False)
    assert out["acts"].shape == (5, 128) and out["attributions"].shape == (5, 4)
    assert out["map_shape"].tolist() == [4, 4]
    acts, attr = collect.activations_and_attributions(model, "layer2.1", x, torch.from_numpy(out["positions"]))
    np.testing.assert_allclose(out["acts"], acts.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["attributions"], attr.numpy(), rtol=1e-4, atol=1e-5)


# Icons --------------------------------------------------------------------------------


def test_shards_cover_every_icon_once():
    for n_items in (0, 1, 7, 100):
        for shards in (1, 2, 3, 8):
            parts = [range(n_items)[icons.shard_slice(n_items, shards, k)] for k in range(shards)]
            assert [i for p in parts for i in p] == list(range(n_items))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_icon_seeds_depend_on_atlas_and_cell_only():
    assert icons.icon_seed(0, "compare", 1, 2) == icons.icon_seed(0, "compare", 1, 2)
    assert len({icons.icon_seed(0, a, r, c) for a in ("atlas", "compare") for r in range(3) for c in range(3)}) == 18


def test_render_icons_follow_their_directions():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1)).eval()
    directions = np.eye(4, dtype=np.float32)[:3]
    seeds = np.array([icons.icon_seed(0, "atlas", 0, c) for c in range(3)])
    kw = dict(size=16, steps=30, lr=0.1, param="fourier", cossim_pow=2.0, redirect_steps=0,
              device=torch.device("cpu"), progress=False)
    images, values = render_directions(model, "2", directions, seeds, batch_size=None, **kw)
    assert images.shape == (3, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    again, _ = render_directions(model, "2", directions, seeds, batch_size=None, **kw)
    torch.testing.assert_close(images, again, rtol=0, atol=0)
    # Each direction is served best by its own icon: score every icon under every direction.
    with torch.no_grad():
        out = model(images)
        score = torch.stack(
            [direction_cossim("L", torch.from_numpy(directions[j])[None], 2.0)({"L": out}) for j in range(3)], dim=1
        )  # score[i, j]: icon i under direction j
    assert torch.all(score.argmax(dim=0) == torch.arange(3)), score
    assert np.all(values > 0)



def test_ledoit_wolf_whitens_the_true_moment_better_than_the_fixed_ridge():
    """Few samples per dimension (1.5): the shrunk estimate's whitening, applied to the
    true second moment, is much closer to the identity than the fixed ridge's."""
    rng = np.random.default_rng(0)
    c, n = 40, 60
    q, _ = np.linalg.qr(rng.normal(size=(c, c)))
    true = (q * np.geomspace(10.0, 0.1, c)) @ q.T  # condition number 100
    x = rng.multivariate_normal(np.zeros(c), true, size=n)
    errors = {}
    for method in ("ledoit_wolf", "ridge"):
        w, stats = grid.whitening_estimate(x, center=False, method=method, ridge=1e-3)
        errors[method] = np.linalg.norm(w @ true @ w.T - np.eye(c)) / np.sqrt(c)
        assert stats["samples"] == n and stats["dimensions"] == c
        assert stats["samples_per_dimension"] == pytest.approx(1.5)
        assert stats["condition_number"] >= 1
        np.testing.assert_allclose(w, w.T, atol=1e-10)
    assert errors["ledoit_wolf"] < 0.5 * errors["ridge"], errors
    _, lw = grid.whitening_estimate(x, method="ledoit_wolf")
    _, ridge = grid.whitening_estimate(x, method="ridge", ridge=1e-3)
    assert 0 < lw["shrinkage"] < 1 and lw["condition_number"] < ridge["condition_number"]
    # Plenty of samples: the shrinkage fades and the estimate whitens almost exactly.
    many = rng.multivariate_normal(np.zeros(c), true, size=200 * c)
    w, stats = grid.whitening_estimate(many, method="ledoit_wolf")
    assert stats["shrinkage"] < 0.05
    assert np.linalg.norm(w @ true @ w.T - np.eye(c)) / np.sqrt(c) < 0.1
    with pytest.raises(ValueError, match="ledoit_wolf"):
        grid.whitening_estimate(x, method="oracle")


def test_moment_positions_are_distinct_seeded_and_capped():
    a = collect.draw_moment_positions(5, 3, 4, 6, seed=1)
    assert a.shape == (5, 6) and all(len(set(row)) == 6 for row in a) and a.min() >= 0 and a.max() < 12
    np.testing.assert_array_equal(a, collect.draw_moment_positions(5, 3, 4, 6, seed=1))
    assert collect.draw_moment_positions(2, 2, 2, 16, seed=0).shape == (2, 4)  # the whole map
    assert collect.draw_moment_positions(2, 2, 2, 0, seed=0).shape == (2, 0)


def test_moment_activations_are_the_map_at_those_positions():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)).eval()
    images = torch.randn(2, 3, 5, 5)
    moment = torch.tensor([[0, 7, 24], [3, 12, 13]])
    acts, attr, m = collect.activations_and_attributions(model, "1", images, torch.tensor([[0, 0], [1, 2]]), moment)
    with torch.no_grad():
        full = model[:2](images).flatten(2)  # (N, C, 25)
    want = torch.stack([full[i, :, moment[i]].T for i in range(2)]).reshape(-1, 4)
    torch.testing.assert_close(m, want)
    torch.testing.assert_close(acts, torch.stack([full[0, :, 0], full[1, :, 7]]))


def test_null_sample_takes_another_position_of_the_same_image():
    from vischange.atlas.stages import null_sample

    # 2 images, a 2 x 2 map, 3 moment positions each; activations encode (image, position).
    where = np.array([[1, 3, 0], [2, 0, 1]])
    moments = np.array([[10 * i + p] for i in range(2) for p in where[i]], dtype=np.float32)
    data = {"moment_acts": moments, "moment_positions": where, "map_shape": np.array([2, 2]),
            "positions": np.array([[0, 1], [1, 0]])}  # flat 1 and 2: the first moment position of each
    assert null_sample(data)[:, 0].tolist() == [3.0, 10.0]  # image 0 -> position 3, image 1 -> position 0
    assert null_sample({**data, "moment_positions": np.zeros((2, 0), dtype=np.int64)}) is None
    assert null_sample({"acts": moments}) is None


def test_movement_tests_find_moved_cells_and_spare_unmoved_ones():
    from vischange.atlas.stages import movement_tests

    rng = np.random.default_rng(0)
    null = rng.uniform(0.05, 0.15, size=60)
    frame = pd.DataFrame({"cell": np.repeat([0, 1, 2], 20), "null": null})
    frame["distance"] = np.where(frame.cell == 0, null + 0.3, 0.0)  # cell 0 moved, cells 1-2 frozen
    frame.loc[frame.cell == 2, "distance"] = null[40:] + rng.normal(0, 0.01, 20)  # cell 2: like the null
    tests = movement_tests(frame, min_count=5, fdr=0.05)
    assert tests.loc[0, "moved_beyond_null"] and tests.loc[0, "q_moved"] < 1e-3
    assert not tests.loc[1, "moved_beyond_null"] and not tests.loc[2, "moved_beyond_null"]
    assert len(movement_tests(frame[frame.cell == 0].head(3), min_count=5, fdr=0.05)) == 0
