"""Config checks of the topmaps section, run before any job (vischange.registry)."""

from __future__ import annotations

from ..archinfo import ArchInfo
from ..config import count_test_images, task_classes


def problems(config: dict, info: ArchInfo) -> list[str]:
    """The layer and its map counts, class names (when known before any job runs), the
    image row, and no selection on the evaluated split: ``topmaps.split: test`` would
    select the class maps on the test images their detector is evaluated on (its
    threshold comes from val, its accuracy from test)."""
    top = config.get("topmaps") or {}
    layer = top.get("layer", "layer4")
    problem = info.module_problem("topmaps.layer", layer)
    problems = [problem] if problem else []
    if not problem:
        try:
            maps = info.channels([layer])[layer]
        except (ValueError, RuntimeError) as err:
            problems.append(f"config key topmaps.layer: {err}")
            maps = None
        for key, default in (("n_per_image", 25), ("n_per_class", 25)):
            value = top.get(key, default)
            if maps is not None and value > maps:
                problems.append(f"config key topmaps.{key}: {value} exceeds the {maps} feature maps of {layer}")
    names = task_classes(config)
    if names is not None:
        for i, name in enumerate(top.get("classes") or []):
            if name not in names:
                problems.append(f"config key topmaps.classes[{i}]: {name!r} is not a class of the dataset ({', '.join(names)})")
        if top.get("map_class") is not None and top["map_class"] not in names:
            problems.append(f"config key topmaps.map_class: {top['map_class']!r} is not a class of the dataset ({', '.join(names)})")
    n_test = count_test_images(config)
    index = top.get("image", 0)
    if n_test is not None and index >= n_test:
        problems.append(f"config key topmaps.image: image {index} is out of range (the test split has {n_test} images)")
    if top.get("split", "train") == "test":
        problems.append("config key topmaps.split: 'test' selects the class maps on the test images their "
                        "detector is evaluated on; use train (or val)")
    return problems
