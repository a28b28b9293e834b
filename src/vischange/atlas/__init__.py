"""Activation atlases (Carter et al., Distill 2019) and atlases comparing two networks.

* :mod:`.collect` -- one activation vector per image at a random position, with its
  gradient x activation attribution to every class.
* :mod:`.layout` -- UMAP (cosine) layouts, optionally after PCA; the two-class layout.
* :mod:`.grid` -- percentile-clipped normalization, the n x n grid, cell means, whitening.
* :mod:`.icons` -- icons rendered by the render engine (``dot x cos^n`` objective).
* :mod:`.images` -- icon grids, labelled atlases, density and comparison figures.
* :mod:`.stages` -- the workflow's atlas rules, one function each.
"""

from .grid import assign_cells, cell_table, normalize_layout, whiten_directions, whitening_matrix
from .layout import pair_layout, project_pca, umap_layout

__all__ = [
    "assign_cells", "cell_table", "normalize_layout", "whiten_directions", "whitening_matrix",
    "pair_layout", "project_pca", "umap_layout",
]
