"""Config checks of the attribution section, run before any job (vischange.registry)."""

from __future__ import annotations

from ..archinfo import ArchInfo
from ..config import count_test_images


def problems(config: dict, info: ArchInfo) -> list[str]:
    """The Grad-CAM layer, the feature-map layers and the image row."""
    att = config.get("attribution") or {}
    problem = info.module_problem("attribution.layer", att.get("layer", "layer4"))
    problems = [problem] if problem else []
    problems += info.known_modules("attribution.layers", att.get("layers", ["conv1", "layer1", "layer2", "layer3", "layer4"]))[1]
    n_test = count_test_images(config)
    index = att.get("image", 0)
    if n_test is not None and index >= n_test:
        problems.append(f"config key attribution.image: image {index} is out of range (the test split has {n_test} images)")
    return problems
