"""Grid arithmetic and whitening for activation atlases.

A layout (N, 2) is normalized to the unit square by clipping each axis at two
percentiles (:func:`normalize_layout`); the square is cut into an n x n grid
(:func:`assign_cells`: every sample lands in exactly one cell, row 0 at the top);
each cell with at least ``min_count`` samples gets the mean activation, the mean
attribution and its top classes (:func:`cell_table`). Icons are rendered against the
cell's mean activation after whitening (:func:`whitening_estimate`, :func:`whiten_directions`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "normalize_layout",
    "assign_cells",
    "cell_table",
    "whitening_matrix",
    "whitening_estimate",
    "whiten_directions",
    "second_moment",
]


def normalize_layout(
    xy: np.ndarray, clip: Sequence[float] = (1.0, 99.0), reference: np.ndarray | None = None
) -> np.ndarray:
    """Map each axis of a layout to [0, 1] after clipping outliers at percentiles.

    Args:
        xy: (N, D) layout coordinates (D = 2 for atlases).
        clip: (low, high) percentiles in [0, 100]; values beyond them are clamped, so a
            few outliers cannot squeeze the rest of the layout into a corner.
        reference: (M, D) coordinates whose percentiles define the map (default `xy`):
            points placed into a fitted layout are mapped as the fitted points are.

    Returns:
        (N, D) float64 in [0, 1]. An axis with no spread maps to 0.5.
    """
    xy = np.asarray(xy, dtype=np.float64)
    low, high = float(clip[0]), float(clip[1])
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"clip percentiles must satisfy 0 <= low < high <= 100, got {clip}")
    if xy.ndim != 2:
        raise ValueError(f"layout must be (N, D), got shape {xy.shape}")
    out = np.full_like(xy, 0.5)
    if len(xy) == 0:
        return out
    ref = xy if reference is None else np.asarray(reference, dtype=np.float64)
    lo = np.percentile(ref, low, axis=0)
    hi = np.percentile(ref, high, axis=0)
    for d in range(xy.shape[1]):
        if hi[d] > lo[d]:
            out[:, d] = (np.clip(xy[:, d], lo[d], hi[d]) - lo[d]) / (hi[d] - lo[d])
    return out


def assign_cells(unit_xy: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell of each point of a normalized layout.

    Args:
        unit_xy: (N, 2) coordinates in [0, 1] (x, y), e.g. from :func:`normalize_layout`.
        n: cells per side.

    Returns:
        ``(rows, cols)``, each (N,) int64 in [0, n): column from x (left to right), row
        from y with row 0 at the top (largest y), as an image is drawn. The right and top
        edges (x or y exactly 1) belong to the last column / first row, so every point
        lies in exactly one cell.
    """
    if n < 1:
        raise ValueError(f"grid size must be >= 1, got {n}")
    unit_xy = np.asarray(unit_xy, dtype=np.float64)
    if unit_xy.ndim != 2 or unit_xy.shape[1] != 2:
        raise ValueError(f"expected (N, 2) coordinates, got shape {unit_xy.shape}")
    if len(unit_xy) and (unit_xy.min() < 0 or unit_xy.max() > 1 or not np.isfinite(unit_xy).all()):
        raise ValueError("coordinates must lie in [0, 1]; normalize the layout first")
    cols = np.minimum(np.floor(unit_xy[:, 0] * n), n - 1).astype(np.int64)
    rows = np.minimum(np.floor((1.0 - unit_xy[:, 1]) * n), n - 1).astype(np.int64)
    return rows, cols


def cell_table(
    rows: np.ndarray,
    cols: np.ndarray,
    n: int,
    acts: np.ndarray,
    attributions: np.ndarray,
    class_names: Sequence[str],
    *,
    min_count: int,
    top_k: int = 3,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Aggregate the samples of every grid cell.

    Args:
        rows, cols: (N,) cell of each sample (from :func:`assign_cells`).
        n: cells per side.
        acts: (N, C) activation vectors.
        attributions: (N, K) attribution of each sample to each of K classes.
        class_names: K names.
        min_count: cells with fewer samples are left empty (no mean, no icon): a mean of
            one or two activations is a single image, not a region of the layer.
        top_k: how many classes to list per cell, by mean attribution.

    Returns:
        ``(table, mean_acts, mean_attr)``. ``table`` has one row per cell, all n * n in
        row-major order, with columns row, col, count, filled, top_class,
        top_attribution, top_classes (``;``-separated, best first). ``mean_acts`` (M, C)
        and ``mean_attr`` (M, K) hold the means of the M filled cells, in table order.
    """
    acts = np.asarray(acts, dtype=np.float64)
    attributions = np.asarray(attributions, dtype=np.float64)
    if len(acts) != len(rows) or len(attributions) != len(rows) or len(cols) != len(rows):
        raise ValueError("rows, cols, acts and attributions must have one entry per sample")
    if attributions.ndim != 2 or attributions.shape[1] != len(class_names):
        raise ValueError(f"attributions must be (N, {len(class_names)}), got {attributions.shape}")
    if min_count < 1:
        raise ValueError("min_count must be >= 1")
    flat = rows.astype(np.int64) * n + cols.astype(np.int64)
    if len(flat) and (flat.min() < 0 or flat.max() >= n * n):
        raise ValueError("cell index outside the grid")
    counts = np.bincount(flat, minlength=n * n)
    records, mean_acts, mean_attr = [], [], []
    for cell in range(n * n):
        count = int(counts[cell])
        record = {"row": cell // n, "col": cell % n, "count": count, "filled": count >= min_count}
        if record["filled"]:
            members = flat == cell
            mean_acts.append(acts[members].mean(axis=0))
            attr = attributions[members].mean(axis=0)
            mean_attr.append(attr)
            order = np.argsort(-attr, kind="stable")[:top_k]
            record.update(
                top_class=class_names[order[0]],
                top_attribution=float(attr[order[0]]),
                top_classes=";".join(class_names[i] for i in order),
            )
        else:
            record.update(top_class="", top_attribution=np.nan, top_classes="")
        records.append(record)
    c, k = acts.shape[1] if acts.ndim == 2 else 0, attributions.shape[1]
    return (
        pd.DataFrame.from_records(records),
        np.asarray(mean_acts, dtype=np.float64).reshape(-1, c),
        np.asarray(mean_attr, dtype=np.float64).reshape(-1, k),
    )


def second_moment(acts: np.ndarray, center: bool) -> np.ndarray:
    """(C, C) covariance of (N, C) samples (``center=True``, divided by N) or their
    second moment about zero (``center=False``)."""
    x = np.asarray(acts, dtype=np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise ValueError(f"need (N, C) samples, got shape {x.shape}")
    if center:
        x = x - x.mean(axis=0)
    return x.T @ x / len(x)


def whitening_estimate(
    acts: np.ndarray, *, center: bool = False, method: str = "ledoit_wolf", ridge: float = 1e-3
) -> tuple[np.ndarray, dict]:
    """Symmetric (ZCA) whitening matrix ``W = S_hat^(-1/2)`` and how well ``S_hat`` is known.

    ``S_hat`` estimates the covariance (``center=True``) or the second moment about zero
    (``center=False``, what lucid's atlas uses: icons render directions, which have no
    offset, and the uncentred moment also discounts the direction every ReLU activation
    shares, their mean) of the activations:

    * ``method="ledoit_wolf"``: Ledoit and Wolf's shrinkage (scikit-learn's
      ``ledoit_wolf``), ``S_hat = (1 - d) S + d (tr S / C) I`` with the shrinkage ``d``
      chosen from the data to minimize the expected squared error. With few samples per
      dimension the sample moment's small eigenvalues are far too small, and inverting
      them blows up noise directions; ``d`` grows exactly when that happens.
    * ``method="ridge"``: ``S_hat = S + r I`` with the fixed ``r = ridge * tr S / C``.

    Args:
        acts: (N, C) activation vectors.
        center: covariance (True) or second moment about zero (False).
        method: ``"ledoit_wolf"`` or ``"ridge"``.
        ridge: the ridge fraction (``method="ridge"`` only); 0 gives the exact inverse
            square root (then ``S`` must be full rank).

    Returns:
        ``(W, stats)``: (C, C) float64 ``W``, and ``{"method", "samples", "dimensions",
        "samples_per_dimension", "shrinkage" (d, or the ridge as a fraction of tr S / C),
        "condition_number" (of S_hat), "sample_condition_number" (of S; None when
        singular, as it is with fewer samples than dimensions)}``.
    """
    x = np.asarray(acts, dtype=np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise ValueError(f"need (N, C) samples, got shape {x.shape}")
    s = second_moment(x, center)
    c = s.shape[0]
    mu = max(float(np.trace(s)) / c, 0.0)
    if method == "ledoit_wolf":
        from sklearn.covariance import ledoit_wolf

        shrunk, shrinkage = ledoit_wolf(x - x.mean(axis=0) if center else x, assume_centered=True)
        shrunk = np.asarray(shrunk, dtype=np.float64)
        shrinkage = float(shrinkage)
    elif method == "ridge":
        shrunk = s + ridge * mu * np.eye(c)
        shrinkage = float(ridge)
    else:
        raise ValueError(f"whitening method must be 'ledoit_wolf' or 'ridge', got {method!r}")
    evals, evecs = np.linalg.eigh(shrunk)
    evals = np.clip(evals, 0.0, None)
    if evals.min() <= 0:
        raise ValueError("activation second moment is singular; use shrinkage (ledoit_wolf) or ridge > 0")
    raw = np.clip(np.linalg.eigvalsh(s), 0.0, None)
    stats = {
        "method": method,
        "centered": bool(center),
        "samples": int(len(x)),
        "dimensions": int(c),
        "samples_per_dimension": float(len(x) / c),
        "shrinkage": shrinkage,
        "condition_number": float(evals.max() / evals.min()),
        "sample_condition_number": float(raw.max() / raw.min()) if raw.min() > 1e-12 * raw.max() else None,
    }
    return (evecs / np.sqrt(evals)) @ evecs.T, stats


def whitening_matrix(
    acts: np.ndarray, *, center: bool = False, ridge: float = 1e-3, method: str = "ridge"
) -> np.ndarray:
    """The (C, C) whitening matrix of :func:`whitening_estimate`, without its statistics.

    With ``method="ridge"`` (the default here, for the old behaviour) and ``ridge=0``,
    ``W @ x`` for each (centred, if ``center``) sample has identity covariance / second
    moment exactly.
    """
    return whitening_estimate(acts, center=center, method=method, ridge=ridge)[0]


def whiten_directions(directions: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Directions in whitened space: ``W v``, scaled to unit length.

    Icons maximize ``dot x cos^n`` between the whitened activation ``W a`` and ``W v``
    (:func:`vischange.render.whitened_direction_cossim`); the dot product is then
    ``a . W W v = a . S^-1 v``: a direction that many activations share is cheap and a
    rare one expensive, which keeps every icon from collapsing to the layer's dominant
    feature.

    Args:
        directions: (M, C) mean activations.
        w: (C, C) from :func:`whitening_estimate`.

    Returns:
        (M, C) float32, each row of unit length (zero rows stay zero).
    """
    v = np.asarray(directions, dtype=np.float64) @ np.asarray(w, dtype=np.float64).T
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)
