"""Pairs and candidates: which cells of a pair atlas become patches, and at what size they are rendered."""

from __future__ import annotations

import pandas as pd

from .pasting import patch_pixels


def pair_directions(a: str, b: str, both: bool = True) -> list[tuple[str, str]]:
    """(source, target) class names of the pair atlas ``a_vs_b``.

    The pair's x axis is attribution(a) - attribution(b), so its right side holds
    what favours ``a``: target ``a`` takes patches from there and pastes them onto
    images of ``b``. With ``both`` the left side does the same the other way round.
    """
    return [(b, a), (a, b)] if both else [(b, a)]


def select_candidates(cells: pd.DataFrame, *, toward_first: bool, top_k: int) -> pd.DataFrame:
    """The filled cells of a pair atlas that most favour the target class.

    cells: the pair atlas's cells.csv (row, col, filled, attribution_difference =
    mean attribution(a) - attribution(b) over the cell's samples). toward_first: the
    target is ``a`` (largest differences) rather than ``b`` (most negative).
    Returns at most ``top_k`` rows, ordered from the strongest, with a ``score``
    column (the difference signed toward the target, > 0); cells whose difference does
    not favour the target are never picked. Ties break by (row, col).
    """
    filled = cells[cells["filled"].astype(bool)].copy()
    sign = 1.0 if toward_first else -1.0
    filled["score"] = sign * filled["attribution_difference"].astype(float)
    filled = filled[filled["score"] > 0]
    filled = filled.sort_values(["score", "row", "col"], ascending=[False, True, True], kind="stable")
    return filled.head(top_k).reset_index(drop=True)


def patch_id(row: int, col: int) -> str:
    return f"r{int(row):03d}_c{int(col):03d}"


def render_size(settings: dict, image_size: int) -> int:
    """Side in pixels the atlas patches are rendered at: ``render_size``, else the largest
    patch (at least 16 px, the render engine's smallest sensible image)."""
    if settings.get("render_size"):
        return int(settings["render_size"])
    return max(16, patch_pixels(max(settings["sizes"]), image_size))
