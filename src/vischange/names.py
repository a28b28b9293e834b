"""Names that several stages spell the same way: class slugs and atlas ids.

An atlas id names an atlas inside a (network, layer) folder and is also a path below
it: ``atlas``, ``class/{slug}``, ``pair/{slug_a}_vs_{slug_b}``, ``compare``. The atlas
stage writes them, the patch stage reads its pair atlases by them.
"""

from __future__ import annotations

import re

__all__ = ["slug", "class_atlas_id", "pair_atlas_id"]


def slug(name: str) -> str:
    """A class name as a path component: runs of anything but letters, digits, '-' and
    '_' become '_' (ImageNet names hold spaces and commas). ValueError if nothing is left."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_")
    if not out:
        raise ValueError(f"class name {name!r} has no usable characters")
    return out


def class_atlas_id(name: str) -> str:
    """The atlas id of class `name`'s atlas: ``class/{slug}``."""
    return f"class/{slug(name)}"


def pair_atlas_id(a: str, b: str) -> str:
    """The atlas id of the two-class atlas of `a` against `b`: ``pair/{slug_a}_vs_{slug_b}``."""
    return f"pair/{slug(a)}_vs_{slug(b)}"
