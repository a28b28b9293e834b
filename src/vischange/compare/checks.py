"""Config checks of the compare section, run before any job (vischange.registry)."""

from __future__ import annotations

from .. import archinfo, names
from ..archinfo import ArchInfo
from ..config import null_seed_problems, readable


def problems(config: dict, info: ArchInfo) -> list[str]:
    """The embedding network (compare.embedding*), its Gram layers and the null's seeds."""
    settings = config.get("compare") or {}
    problems: list[str] = null_seed_problems(config)
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
    else:
        try:
            names.default_gram_layers(info.modules)
        except ValueError as err:
            problems.append(f"config key compare.gram_layers: {err}")
    return problems
