"""Names that several stages spell the same way: class slugs and atlas ids; and the
messages and selections on a network's module names that the config checks (without
torch) and vischange.models (with it) share.

An atlas id names an atlas inside a (network, layer) folder and is also a path below
it: ``atlas``, ``class/{slug}``, ``pair/{slug_a}_vs_{slug_b}``, ``compare``. The atlas
stage writes them, the patch stage reads its pair atlases by them.
"""

from __future__ import annotations

import difflib
import re
from typing import Sequence

__all__ = ["slug", "class_atlas_id", "pair_atlas_id", "did_you_mean", "check_architecture", "default_gram_layers",
           "pair_columns"]


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


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """" (did you mean a, b?)" naming up to three close matches of `name`, or ""."""
    close = difflib.get_close_matches(name, list(names), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def check_architecture(arch: str, names: Sequence[str]) -> None:
    """Raise ValueError naming close matches if `arch` is not among `names` (torchvision's
    classification architectures)."""
    if arch not in names:
        raise ValueError(f"unknown torchvision classification architecture {arch!r}{did_you_mean(arch, names)}")


# A residual block of a torchvision ResNet: layerN.M.
_BLOCK = re.compile(r"^layer\d+\.\d+$")


def default_gram_layers(modules: Sequence[str]) -> list[str]:
    """`conv1` and every residual block (modules named layerN.M) among a ResNet's module
    names. ValueError for networks without that structure: name the layers in
    compare.gram_layers."""
    blocks = [n for n in modules if _BLOCK.match(n)]
    if "conv1" not in modules or not blocks:
        raise ValueError(
            "the embedding network has no ResNet conv1 and layerN.M blocks; list the Gram layers "
            "in compare.gram_layers"
        )
    return ["conv1"] + blocks


# The study's pair's tables (compare/, change/) name the networks base and finetuned in
# their columns; the tables of any other pair of networks (pairs/{a}/{b}/) name them a and b.
_NET_PART = re.compile(r"_(base|finetuned)(?=_|$)")


def pair_columns(columns: Sequence[str]) -> list[str]:
    """Column names with their _base and _finetuned parts as _a and _b
    (gray_score_base -> gray_score_a, n_gray_finetuned -> n_gray_b; finetuned_mean stays)."""
    return [_NET_PART.sub(lambda m: "_a" if m.group(1) == "base" else "_b", c) for c in columns]
