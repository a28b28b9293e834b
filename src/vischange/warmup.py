"""Compile, once per environment, the numba kernels that umap-learn and pynndescent mark
``cache=True``, by running every UMAP used here (atlas layouts: cosine; the decision-boundary
view: euclidean) on random data.

numba writes them beside the packages' sources, so every later process (each atlas and
attribution job) loads them instead of compiling: about 13 s of CPU saved per process on
the 2-core reference machine (``benchmarks/README.md``). Kernels umap-learn does not mark
cacheable are compiled in every process regardless. ``make setup`` runs this module.
"""

from __future__ import annotations

import numpy as np

from .atlas.layout import umap_fit_transform, umap_layout
from .attribution.embedding import umap_embedding


def warm_numba_cache(n_points: int = 1000, dims: int = 64) -> None:
    """Fit each UMAP variant once on uniform random (n_points, dims) vectors; below umap-learn's
    4,096-point threshold, as the demo's inputs are, so the same (exact-neighbour) kernels compile."""
    rng = np.random.default_rng(0)
    umap_layout(rng.random((n_points, dims)), pca=50)
    umap_fit_transform(rng.random((n_points, dims)), [rng.random((16, dims))], pca=50)
    umap_layout(rng.random((64, dims)), pca=50, n_components=1)
    umap_embedding(rng.random((n_points // 4, dims)), n_neighbors=15, min_dist=0.1, seed=0)


if __name__ == "__main__":
    warm_numba_cache()
