"""The decision-boundary view: a 2-D UMAP of penultimate features, shaded by the nearest images' predictions."""

from __future__ import annotations

import numpy as np


def umap_embedding(features: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """2-D UMAP of features (N, D) -> (N, 2) float64 (seeded: single-threaded, reproducible)."""
    import umap

    n = len(features)
    if n < 3:
        raise ValueError("a UMAP needs at least 3 images")
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist,
                        random_state=seed % 2**31, n_jobs=1, init="spectral" if n > 10 else "random")
    return reducer.fit_transform(np.asarray(features, dtype=np.float32)).astype(np.float64)


def decision_regions(xy: np.ndarray, predicted: np.ndarray, grid: int = 200, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's predicted class around the embedded images: a k-nearest-neighbour vote.

    A UMAP cannot be inverted exactly, so the map is shaded by the predictions of the k
    nearest embedded test images (ties to the nearest). Returns (xs (grid,), ys (grid,),
    classes (grid, grid)).
    """
    from sklearn.neighbors import KNeighborsClassifier

    pad = 0.05 * (xy.max(0) - xy.min(0) + 1e-9)
    lo, hi = xy.min(0) - pad, xy.max(0) + pad
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    knn = KNeighborsClassifier(n_neighbors=min(k, len(xy)), weights="distance").fit(xy, predicted)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, knn.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(grid, grid)
