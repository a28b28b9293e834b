"""Layouts of activation vectors: UMAP with the cosine metric, optionally after PCA.

:func:`umap_layout` places (N, C) activations in the plane (or on a line); the atlas
then normalizes it (:func:`vischange.atlas.grid.normalize_layout`) and grids it.
:func:`pair_layout` is the two-class comparison's layout: the attribution difference
on x, a one-dimensional UMAP of the activations on y.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np

__all__ = ["project_pca", "pca_axes", "umap_layout", "umap_fit_transform", "pair_layout"]

log = logging.getLogger(__name__)

# UMAP's spectral initialization needs a few more points than dimensions.
MIN_UMAP_POINTS = 4


def project_pca(x: np.ndarray, components: int) -> np.ndarray:
    """Project (N, C) vectors on their top ``components`` principal axes, uncentred.

    The axes are the leading eigenvectors of the second moment ``X^T X / N`` (an SVD of
    X), not of the covariance: centring would change the angles between vectors, and
    the layout that follows measures angles (cosine metric). Each axis's sign is fixed
    (largest loading positive) so the result is unique. Returns (N, min(components, C))
    float64.
    """
    x = np.asarray(x, dtype=np.float64)
    return x @ pca_axes(x, components)


def pca_axes(x: np.ndarray, components: int) -> np.ndarray:
    """The (C, k) uncentred principal axes of (N, C) vectors used by :func:`project_pca`,
    k = min(components, C); project other vectors on them with ``y @ axes``."""
    x = np.asarray(x, dtype=np.float64)
    k = min(int(components), x.shape[1])
    evals, evecs = np.linalg.eigh(x.T @ x / max(len(x), 1))
    axes = evecs[:, ::-1][:, :k]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(k)])
    return axes * np.where(signs == 0, 1.0, signs)


def umap_layout(
    x: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    pca: int | None = 50,
    seed: int = 0,
    n_components: int = 2,
) -> np.ndarray:
    """UMAP (umap-learn, cosine metric) of (N, C) activation vectors.

    Args:
        x: (N, C) activations.
        n_neighbors: UMAP's neighbourhood size (capped at N - 1).
        min_dist: UMAP's minimum distance between embedded points.
        pca: reduce to this many dimensions first (:func:`project_pca`) when C is larger;
            None or 0 to skip. Speeds up the neighbour search on wide layers.
        seed: UMAP's random_state; with it UMAP runs single-threaded and a rerun gives
            the same layout.
        n_components: 2 for an atlas, 1 for the two-class comparison's second axis.

    Returns:
        (N, n_components) float64; identical rows get identical coordinates. Fewer than
        4 distinct points cannot be embedded: they get the coordinate 0 (one cell), which
        the caller's normalization maps to the centre.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (N, C) activations, got shape {x.shape}")
    # Identical vectors (a frozen layer in the comparison atlas gives every image twice)
    # are embedded once and share the point: UMAP would place copies near each other but
    # not together, and their zero distances make its neighbour graph depend on how ties
    # and last-bit rounding fall, which broke run-to-run reproducibility.
    x, inverse = np.unique(x, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(x) < MIN_UMAP_POINTS:
        return np.zeros((len(inverse), n_components))
    if pca and x.shape[1] > pca:
        x = project_pca(x, pca)
    reducer = _reducer(len(x), n_neighbors, min_dist, seed, n_components)
    with _quiet():
        out = reducer.fit_transform(x.astype(np.float32))
    return np.asarray(out, dtype=np.float64)[inverse]


def _reducer(n_points: int, n_neighbors: int, min_dist: float, seed: int, n_components: int):
    """umap-learn's UMAP as every layout here uses it: cosine metric, seeded, one thread."""
    import umap  # slow to import (numba): only where a layout is computed

    return umap.UMAP(
        n_components=n_components,
        n_neighbors=max(2, min(int(n_neighbors), n_points - 1)),
        min_dist=float(min_dist),
        metric="cosine",
        random_state=int(seed),
        n_jobs=1,
    )


@contextlib.contextmanager
def _quiet():
    """Tiny inputs make umap fall back from spectral to random initialization, and scipy's
    eigensolver warns about it: neither is an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def umap_fit_transform(
    x: np.ndarray,
    others: list[np.ndarray],
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    pca: int | None = 50,
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A 2-d UMAP layout fit on (N, C) vectors `x` only, and other (M_i, C) vectors placed
    in it with the fitted model's ``transform`` (the same PCA axes first).

    A vector of `others` equal to a fitted one takes that one's fitted position exactly
    (a frozen layer's fine-tuned activations land where the base ones are), so only
    vectors that changed go through ``transform``. Returns (xy (N, 2), [xy_i (M_i, 2)])
    float64; as :func:`umap_layout`, identical fitted rows share one point, and fewer than 4
    distinct fitted vectors put every point at 0.
    """
    x = np.asarray(x, dtype=np.float64)
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(uniq) < MIN_UMAP_POINTS:  # as umap_layout: too few to embed, one cell for all
        return np.zeros((len(x), 2)), [np.zeros((len(y), 2)) for y in others]
    axes = pca_axes(uniq, pca) if pca and uniq.shape[1] > pca else None
    fit = uniq @ axes if axes is not None else uniq
    reducer = _reducer(len(fit), n_neighbors, min_dist, seed, 2)
    with _quiet():
        placed = np.asarray(reducer.fit_transform(fit.astype(np.float32)), dtype=np.float64)
        lookup = {row.tobytes(): i for i, row in enumerate(uniq)}
        out = []
        for y in others:
            y = np.asarray(y, dtype=np.float64)
            hit = np.array([lookup.get(row.tobytes(), -1) for row in y], dtype=np.int64)
            xy = np.empty((len(y), 2))
            xy[hit >= 0] = placed[hit[hit >= 0]]
            new = hit < 0
            if new.any():
                z = y[new] @ axes if axes is not None else y[new]
                xy[new] = np.asarray(reducer.transform(z.astype(np.float32)), dtype=np.float64)
            out.append(xy)
    return placed[inverse], out


def pair_layout(
    acts: np.ndarray,
    attributions: np.ndarray,
    class_a: int,
    class_b: int,
    **umap_kwargs,
) -> np.ndarray:
    """Layout of the two-class comparison: x = attribution to A minus attribution to B,
    y = one-dimensional UMAP of the activations (so similar activations share a row).

    Args:
        acts: (N, C) activations; attributions: (N, K); class_a, class_b: class indices.
        umap_kwargs: passed to :func:`umap_layout` (n_components is forced to 1).

    Returns:
        (N, 2) float64, not yet normalized.
    """
    diff = np.asarray(attributions, dtype=np.float64)[:, class_a] - np.asarray(attributions)[:, class_b]
    umap_kwargs = {**umap_kwargs, "n_components": 1}
    return np.column_stack([diff, umap_layout(acts, **umap_kwargs)[:, 0]])
