"""Config checks of the compare section, run before any job (vischange.registry)."""

from __future__ import annotations

import torch

from .. import models
from ..config import readable


def problems(config: dict, probe: torch.nn.Module) -> list[str]:
    """The embedding network (compare.embedding*) and its Gram layers."""
    settings = config.get("compare") or {}
    problems: list[str] = []
    name = settings.get("embedding", "base")
    if name != "base":
        try:
            models.check_architecture(name)
        except ValueError as err:
            return [f"config key compare.embedding: {err}"]
        probe = models.build_meta(name)
        path = settings.get("embedding_path")
        if path is not None and not readable(path):
            problems.append(f"config key compare.embedding_path: cannot read weights file {path!r}")
        if path is None:
            import torchvision

            enum = torchvision.models.get_model_weights(name)
            weights = settings.get("embedding_weights", "IMAGENET1K_V1")
            if weights not in enum.__members__:
                problems.append(
                    f"config key compare.embedding_weights: {name} has no torchvision weights {weights!r} "
                    f"(choose from {', '.join(enum.__members__)})"
                )
    layers = settings.get("gram_layers")
    if layers:
        for i, layer in enumerate(layers):
            try:
                models.get_module(probe, layer)
            except KeyError as err:
                problems.append(f"config key compare.gram_layers[{i}]: {err.args[0]} (embedding network)")
    else:
        try:
            models.default_gram_layers(probe)
        except ValueError as err:
            problems.append(f"config key compare.gram_layers: {err}")
    return problems
