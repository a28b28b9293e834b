"""Icons: feature visualizations of atlas cells, rendered by the render engine.

Each icon maximizes ``dot x cos^n`` between the layer's activations and the cell's mean
activation, both whitened (:func:`vischange.render.render_directions`). This module
holds the atlas's own conventions: the seed of an icon (:func:`icon_seed`), so the same
cell renders the same in both networks, and the shards that separate jobs render
(:func:`shard_slice`).
"""

from __future__ import annotations

from ..runtime import derive_seed

__all__ = ["icon_seed", "shard_slice"]


def icon_seed(seed: int, atlas: str, row: int, col: int) -> int:
    """Seed of one icon, from the atlas name and the cell only: the same cell of the
    same atlas starts from the same image and sees the same transforms in both
    networks, whatever else is rendered in its batch or shard."""
    return derive_seed(seed, "atlas-icon", atlas, int(row), int(col))


def shard_slice(n_items: int, shards: int, shard: int) -> slice:
    """The contiguous part of ``n_items`` that shard ``shard`` of ``shards`` renders;
    the parts differ in size by at most one and cover every item once."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} outside 0..{shards - 1}")
    return slice(shard * n_items // shards, (shard + 1) * n_items // shards)
