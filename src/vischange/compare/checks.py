"""Config checks of the compare section, run before any job (vischange.registry)."""

from __future__ import annotations

import re

from .. import archinfo
from ..archinfo import ArchInfo
from ..config import readable

# A ResNet block's name (layerN.M), as vischange.models.default_gram_layers selects them.
_BLOCK = re.compile(r"layer\d+\.\d+")


def problems(config: dict, info: ArchInfo) -> list[str]:
    """The embedding network (compare.embedding*) and its Gram layers."""
    settings = config.get("compare") or {}
    problems: list[str] = []
    name = settings.get("embedding", "base")
    if name != "base":
        try:
            info = archinfo.info(name, 224)
        except ValueError as err:
            return [f"config key compare.embedding: {err}"]
        path = settings.get("embedding_path")
        if path is not None and not readable(path):
            problems.append(f"config key compare.embedding_path: cannot read weights file {path!r}")
        weights = settings.get("embedding_weights", "IMAGENET1K_V1")
        if path is None and weights not in info.weights:
            problems.append(
                f"config key compare.embedding_weights: {name} has no torchvision weights {weights!r} "
                f"(choose from {', '.join(info.weights)})"
            )
    layers = settings.get("gram_layers")
    if layers:
        for i, layer in enumerate(layers):
            missing = info.missing_module(layer)
            if missing:
                problems.append(f"config key compare.gram_layers[{i}]: {missing} (embedding network)")
    elif "conv1" not in info.modules or not any(_BLOCK.fullmatch(n) for n in info.modules):
        problems.append(
            "config key compare.gram_layers: the embedding network has no ResNet conv1 and layerN.M blocks; "
            "list the Gram layers in compare.gram_layers"
        )
    return problems
