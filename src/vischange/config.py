"""Config checks that a JSON schema cannot express, run before any job starts.

The schema (workflow/schemas/config.schema.yaml, applied by Snakemake's `validate`)
fills defaults and checks types and ranges; here the values are checked against the
real model and the file system. Every problem names its config key.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from . import models
from .names import slug
from .activations import layer_shapes, module_channels


class ConfigError(ValueError):
    """One or more config keys are wrong; the message lists each as `key: problem`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Every schema violation as 'config key a.b.c: message', most specific first."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        # Descend into oneOf/anyOf/allOf to report the failing leaf, not the combinator.
        leaf = jsonschema.exceptions.best_match([error])
        key = ".".join(str(p) for p in leaf.absolute_path) or "(top level)"
        problems.append(f"config key {key}: {leaf.message}")
    return problems


def _readable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def check_config(config: dict[str, Any]) -> dict[str, int]:
    """Check names against torchvision and the model, and paths against the disk.

    Returns the channel count of every render layer. Raises ConfigError listing
    every problem found (not only the first).
    """
    problems: list[str] = []
    arch = config["model"]["arch"]
    try:
        models.check_architecture(arch)
    except ValueError as err:
        raise ConfigError([f"config key model.arch: {err}"]) from None

    size = config["data"]["image_size"]
    probe = models.build_meta(arch)  # names and shapes only: no weights, no compute

    def check_modules(key: str, values: list[str]) -> list[str]:
        good = []
        for i, name in enumerate(values):
            try:
                models.get_module(probe, name)
                good.append(name)
            except KeyError as err:
                problems.append(f"config key {key}[{i}]: {err.args[0]} ({arch})")
        return good

    check_modules("finetune.trainable", config["finetune"]["trainable"])
    layers = check_modules("render.layers", config["render"]["layers"])
    if len(set(config["render"]["layers"])) != len(config["render"]["layers"]):
        problems.append("config key render.layers: a layer is listed twice")

    channels: dict[str, int] = {}
    if layers:
        try:
            channels = module_channels(probe, layers, size)
        except (ValueError, RuntimeError) as err:
            problems.append(f"config key data.image_size: {size} px does not pass through {arch}: {err}")
    wanted = config["render"]["channels"]
    for layer, count in channels.items():
        if wanted != "all" and wanted > count:
            problems.append(f"config key render.channels: {wanted} exceeds the {count} channels of {layer}")

    problems.extend(_atlas_problems(config, probe, check_modules))
    problems.extend(patches_problems(config))

    base = config["model"]["base"]
    if base["source"] == "file" and not _readable(base["path"]):
        problems.append(f"config key model.base.path: cannot read weights file {base['path']!r}")
    if base["source"] == "torchvision":
        import torchvision

        enum = torchvision.models.get_model_weights(arch)
        if base["weights"] not in enum.__members__:
            problems.append(
                f"config key model.base.weights: {arch} has no torchvision weights {base['weights']!r} "
                f"(choose from {', '.join(enum.__members__)})"
            )
    if base["source"] == "pretrain" and config["data"]["source"] != "synthetic":
        problems.append("config key model.base.source: 'pretrain' needs data.source synthetic (a base task)")
    problems.extend(_compare_problems(config, probe))
    problems.extend(_analysis_problems(config, probe))
    problems.extend(domain_problems(config))
    problems.extend(split_problems(config))
    problems.extend(data_problems(config["data"]))
    if problems:
        raise ConfigError(problems)
    return channels


def _compare_problems(config: dict, probe) -> list[str]:
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
        if path is not None and not _readable(path):
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


def task_classes(config: dict) -> list[str] | None:
    """The fine-tuning task's class names when they are known before any job runs.

    Synthetic: from the generator. Stanford: from data/classes.txt of an earlier run of the
    experiment, else None (the jobs then check the names against the prepared classes).
    """
    data = config["data"]
    if data["source"] == "synthetic":
        from .datasets import synthetic

        return synthetic.class_names((data.get("synthetic") or {}).get("finetune_task", "textures"))
    path = Path("results") / config["experiment"] / "data" / "classes.txt"
    return [l.strip() for l in path.read_text().splitlines() if l.strip()] if path.is_file() else None


def count_test_images(config: dict) -> int | None:
    """Number of test images when known before any job runs (synthetic; or an earlier run's test.csv)."""
    data = config["data"]
    if data["source"] == "synthetic":
        counts = (data.get("synthetic") or {}).get("finetune_counts") or {"test": 50}
        return int(counts["test"]) * len(task_classes(config))
    path = Path("results") / config["experiment"] / "data" / "test.csv"
    if path.is_file():
        with open(path) as handle:
            return max(0, sum(1 for line in handle if line.strip()) - 1)
    return None


def _analysis_problems(config: dict, probe) -> list[str]:
    """Layers, map counts, class names and image rows of the topmaps and attribution sections."""
    top = config.get("topmaps") or {}
    att = config.get("attribution") or {}
    problems: list[str] = []

    def module(key: str, name: str) -> bool:
        try:
            models.get_module(probe, name)
            return True
        except KeyError as err:
            problems.append(f"config key {key}: {err.args[0]} ({config['model']['arch']})")
            return False

    layer = top.get("layer", "layer4")
    if module("topmaps.layer", layer):
        try:
            maps = module_channels(probe, [layer], config["data"]["image_size"])[layer]
        except (ValueError, RuntimeError) as err:
            problems.append(f"config key topmaps.layer: {err}")
            maps = None
        for key, default in (("n_per_image", 25), ("n_per_class", 25)):
            value = top.get(key, default)
            if maps is not None and value > maps:
                problems.append(f"config key topmaps.{key}: {value} exceeds the {maps} feature maps of {layer}")
    module("attribution.layer", att.get("layer", "layer4"))
    for i, name in enumerate(att.get("layers", ["conv1", "layer1", "layer2", "layer3", "layer4"])):
        module(f"attribution.layers[{i}]", name)

    names = task_classes(config)
    if names is not None:
        for i, name in enumerate(top.get("classes") or []):
            if name not in names:
                problems.append(f"config key topmaps.classes[{i}]: {name!r} is not a class of the dataset ({', '.join(names)})")
        if top.get("map_class") is not None and top["map_class"] not in names:
            problems.append(f"config key topmaps.map_class: {top['map_class']!r} is not a class of the dataset ({', '.join(names)})")
    n_test = count_test_images(config)
    if n_test is not None:
        for key, section in (("topmaps.image", top), ("attribution.image", att)):
            index = section.get("image", 0)
            if index >= n_test:
                problems.append(f"config key {key}: image {index} is out of range (the test split has {n_test} images)")
    return problems


def domain_problems(config: dict) -> list[str]:
    """The domain section: a synthetic target needs the synthetic data and a shifted style;
    a folder target needs a folder (whether it exists is checked by the target_data job,
    so that a study can be planned before its data are on disk)."""
    dom = config.get("domain") or {}
    source = dom.get("source", "none")
    problems: list[str] = []
    if source == "synthetic":
        from .datasets import synthetic

        if config["data"]["source"] != "synthetic":
            problems.append("config key domain.source: 'synthetic' needs data.source synthetic; use 'folder' with domain.folder")
        style = dom.get("style", "xray")
        if style not in synthetic.STYLES:
            problems.append(f"config key domain.style: unknown style {style!r} (choose from {', '.join(sorted(synthetic.STYLES))})")
        elif style == "default":
            problems.append("config key domain.style: 'default' is the source domain's own style; choose a shifted one")
    if source == "folder" and not dom.get("folder"):
        problems.append("config key domain.folder: source 'folder' needs the target domain's image folder")
    return problems


def embedding_size(config: dict) -> int:
    """Side in pixels renders are embedded at: compare.embedding_size, else the embedding
    network's own input size (data.image_size for the base network, the torchvision
    weights' crop size otherwise)."""
    settings = config.get("compare") or {}
    if settings.get("embedding_size"):
        return int(settings["embedding_size"])
    if settings.get("embedding", "base") == "base":
        return int(config["data"]["image_size"])

    return models.embedding_input_size(settings["embedding"], settings.get("embedding_weights", "IMAGENET1K_V1"))


def data_files(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The files the configured data source needs, each as its file spec plus `key` and `name`.

    `key` is the spec's config key (for messages), `name` the file name under
    {download_dir}/{source}/ (the URL's or the path's last component). Empty for the
    synthetic demo and for a Stanford Cars `directory`.
    """
    source = data["source"]
    if source == "stanford_dogs":
        specs = [(f"data.stanford_dogs.{part}", data["stanford_dogs"][part]) for part in ("images", "lists")]
    elif source == "stanford_cars" and not data["stanford_cars"]["directory"]:
        specs = [(f"data.stanford_cars.files[{i}]", spec) for i, spec in enumerate(data["stanford_cars"]["files"])]
    else:
        return []
    out = []
    for key, spec in specs:
        where = spec.get("path") or spec.get("url") or ""
        name = os.path.basename(urlparse(where).path if spec.get("url") and not spec.get("path") else where)
        out.append({"key": key, "name": name, "url": spec.get("url"), "path": spec.get("path"), "checksum": spec["checksum"]})
    return out


def data_problems(data: dict[str, Any]) -> list[str]:
    """Problems of the data section: each file has a source, local paths are readable, names are unique."""
    problems = []
    source = data["source"]
    if source == "stanford_cars":
        cars = data["stanford_cars"]
        if cars["directory"]:
            if not os.path.isdir(cars["directory"]):
                problems.append(f"config key data.stanford_cars.directory: {cars['directory']!r} is not a folder")
        elif not cars["files"]:
            problems.append(
                "config key data.stanford_cars.files: list the dataset's files (url or path, and checksum) "
                "or set data.stanford_cars.directory to an extracted copy"
            )
    files = data_files(data)
    for spec in files:
        if spec["path"]:
            if not _readable(spec["path"]):
                problems.append(f"config key {spec['key']}.path: cannot read {spec['path']!r}")
        elif not spec["url"]:
            problems.append(f"config key {spec['key']}: set url (to download) or path (a local copy)")
        elif not spec["name"]:
            problems.append(f"config key {spec['key']}.url: {spec['url']!r} names no file")
    names = [spec["name"] for spec in files if spec["name"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"config key data.{source}: two files are called {name!r}; each needs its own name")
    return problems


def _atlas_problems(config: dict, probe, check_modules) -> list[str]:
    """Atlas layers must be modules with (N, C, H, W) outputs; with the synthetic demo the
    class names of class atlases and pairs are known before any job runs, so check them."""
    atlas = config.get("atlas", {})
    problems: list[str] = []
    layers = check_modules("atlas.layers", atlas.get("layers", []))
    if layers:
        try:
            shapes = layer_shapes(probe, layers, config["data"]["image_size"])
        except (ValueError, RuntimeError):
            shapes = {}  # the render-layer check already reports an image size that does not fit
        for i, name in enumerate(layers):
            if name in shapes and len(shapes[name]) != 4:
                problems.append(f"config key atlas.layers[{i}]: {name} outputs {shapes[name]}, not (N, C, H, W) maps")
    if config["data"]["source"] == "synthetic":
        from .datasets import synthetic

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


def split_problems(config: dict) -> list[str]:
    """Selection on the split that is evaluated: a choice made by looking at the test
    images leaks into the numbers measured on them.

    * ``topmaps.split: test``: the class maps would be selected on the images the
      detector built from them is evaluated on (its threshold comes from val, its
      accuracy from test).
    * ``atlas.split: test`` while the fine-tuned network's patch experiment runs: its
      pair atlases, whose cells the patches are rendered from, would be built from the
      fine-tuning task's test images that the patches are then pasted onto and counted
      on. (The base network's patches are tested on the base task's own test split.)
    """
    problems: list[str] = []
    top = config.get("topmaps") or {}
    if top.get("split", "train") == "test":
        problems.append("config key topmaps.split: 'test' selects the class maps on the test images their "
                        "detector is evaluated on; use train (or val)")
    atlas = config.get("atlas") or {}
    if atlas.get("split", "train") == "test" and patch_pairs(config)["finetuned"]:
        problems.append("config key atlas.split: 'test' builds the pair atlases, whose cells the patches are "
                        "rendered from, on the test images the patches are evaluated on; use train (or val), "
                        "or set patches.enabled: false")
    return problems


def patch_pairs(config: dict) -> dict[str, list[tuple[str, str]]]:
    """The pairs [a, b] the patch experiment tests, per network: patches.pairs.{net}, or
    every atlas.class_pairs.{net} when null; none when patches are disabled or there is
    no atlas layer. The base network's pairs only when model.base.source is pretrain
    (other base weights come without a test set of their classes)."""
    settings = config.get("patches") or {}
    atlas = config.get("atlas") or {}
    out: dict[str, list[tuple[str, str]]] = {"base": [], "finetuned": []}
    if not settings.get("enabled", True) or not atlas.get("layers"):
        return out
    for net in out:
        if net == "base" and config["model"]["base"]["source"] != "pretrain":
            continue
        chosen = (settings.get("pairs") or {}).get(net)
        pairs = (atlas.get("class_pairs") or {}).get(net, []) if chosen is None else chosen
        out[net] = [tuple(p) for p in pairs]
    return out


def patches_problems(config: dict) -> list[str]:
    """The patches section against the atlas: its layer, its pairs, and patch sizes
    that round to distinct pixel sizes at data.image_size."""
    settings = config.get("patches") or {}
    atlas = config.get("atlas") or {}
    problems: list[str] = []
    layer = settings.get("layer")
    if layer is not None and layer not in atlas.get("layers", []):
        problems.append(f"config key patches.layer: {layer!r} is not one of atlas.layers ({', '.join(atlas.get('layers', [])) or 'none'})")
    for net in ("base", "finetuned"):
        chosen = (settings.get("pairs") or {}).get(net)
        known = [list(p) for p in (atlas.get("class_pairs") or {}).get(net, [])]
        for i, pair in enumerate(chosen or []):
            if list(pair) not in known:
                problems.append(f"config key patches.pairs.{net}[{i}]: {list(pair)} is not one of atlas.class_pairs.{net}")
        slugs = [tuple(sorted(slug(n) for n in p)) for p in (known if chosen is None else chosen)]
        for pair in sorted({p for p in slugs if slugs.count(p) > 1}):
            problems.append(f"config key patches.pairs.{net}: the classes {list(pair)} are paired twice; "
                            "each pair is tested in both directions already")
    side = config["data"]["image_size"]
    pixels: dict[int, float] = {}
    for size in settings.get("sizes", [0.1, 0.2, 0.3, 0.4]):
        p = max(1, round(size * side))
        if p in pixels:
            problems.append(f"config key patches.sizes: {pixels[p]:g} and {size:g} are both {p} px "
                            f"at data.image_size {side}")
        pixels[p] = size
    return problems


def selected_channels(config: dict, layer_channels: dict[str, int]) -> dict[str, list[int]]:
    """The channel indices rendered for each layer: the first N, or all."""
    wanted = config["render"]["channels"]
    return {
        layer: list(range(count if wanted == "all" else min(wanted, count)))
        for layer, count in layer_channels.items()
    }


def chunks(channels: list[int], chunk_size: int) -> list[list[int]]:
    """Split channel indices into consecutive chunks of at most `chunk_size`."""
    n = math.ceil(len(channels) / chunk_size)
    return [channels[i * chunk_size : (i + 1) * chunk_size] for i in range(n)]


def load_schema(path: str | os.PathLike) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def schema_keys(schema: dict) -> list[tuple[str, dict]]:
    """Every documented key of the schema as (dotted name, its schema), parents first.

    Follows local `$ref`s and `allOf`, so keys shared through `$defs` are listed
    under each section that uses them.
    """
    defs = schema.get("$defs", {})

    def resolve(node: dict) -> dict:
        merged = dict(node)
        if "$ref" in merged:
            merged = {**resolve(defs[merged.pop("$ref").split("/")[-1]]), **merged}
        for part in merged.pop("allOf", []):
            sub = resolve(part)
            merged["properties"] = {**sub.get("properties", {}), **merged.get("properties", {})}
        return merged

    out: list[tuple[str, dict]] = []

    def walk(node: dict, prefix: str) -> None:
        for name, sub in resolve(node).get("properties", {}).items():
            sub = resolve(sub)
            key = f"{prefix}{name}"
            out.append((key, sub))
            walk(sub, key + ".")

    walk(schema, "")
    return out


def markdown_table(schema: dict) -> str:
    """The key reference of config/README.md, generated from the schema (kept in sync by a test)."""
    lines = ["| key | default | description |", "|---|---|---|"]
    for key, sub in schema_keys(schema):
        default = "*required*" if "default" not in sub else f"`{sub['default']}`"
        if "default" in sub and sub["default"] in ({}, None):
            default = "`{}`" if sub["default"] == {} else "`null`"
        text = " ".join(str(sub.get("description", "")).split())
        if "enum" in sub:
            text += " One of: " + ", ".join(f"`{v}`" for v in sub["enum"]) + "."
        lines.append(f"| `{key}` | {default} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m vischange.config [schema.yaml]
    import sys

    print(markdown_table(load_schema(sys.argv[1] if len(sys.argv) > 1 else "workflow/schemas/config.schema.yaml")), end="")
