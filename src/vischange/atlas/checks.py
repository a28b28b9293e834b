"""Config checks of the atlas section, run before any job (vischange.registry)."""

from __future__ import annotations

from ..archinfo import ArchInfo
from ..datasets import synthetic


def problems(config: dict, info: ArchInfo) -> list[str]:
    """Atlas layers must be modules with (N, C, H, W) outputs; with the synthetic demo the
    class names of class atlases and pairs are known before any job runs, so check them."""
    atlas = config.get("atlas", {})
    layers, problems = info.known_modules("atlas.layers", atlas.get("layers", []))
    if layers:
        try:
            shapes = info.layer_shapes(layers)
        except (ValueError, RuntimeError):
            shapes = {}  # the render-layer check already reports an image size that does not fit
        for i, name in enumerate(layers):
            if name in shapes and len(shapes[name]) != 4:
                problems.append(f"config key atlas.layers[{i}]: {name} outputs {shapes[name]}, not (N, C, H, W) maps")
    if config["data"]["source"] == "synthetic":
        tasks = {"finetuned": config["data"]["synthetic"]["finetune_task"]}
        if config["model"]["base"]["source"] == "pretrain":  # else the base classes are the weights' own
            tasks["base"] = config["data"]["synthetic"]["base_task"]
        for net, task in tasks.items():
            names = synthetic.class_names(task)
            for i, name in enumerate(atlas.get("classes", {}).get(net, [])):
                if name not in names:
                    problems.append(f"config key atlas.classes.{net}[{i}]: {name!r} is not a class of {task} ({', '.join(names)})")
            for i, pair in enumerate(atlas.get("class_pairs", {}).get(net, [])):
                for name in pair:
                    if name not in names:
                        problems.append(f"config key atlas.class_pairs.{net}[{i}]: {name!r} is not a class of {task} ({', '.join(names)})")
                if len(set(pair)) != len(pair):
                    problems.append(f"config key atlas.class_pairs.{net}[{i}]: the two classes must differ")
    return problems
