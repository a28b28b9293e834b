"""Config checks that a JSON schema cannot express, run before any job starts.

The schema (workflow/schemas/config.schema.yaml, applied by Snakemake's `validate`)
fills defaults and checks types and ranges; here the values are checked against the
real model and the file system. Every problem names its config key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlparse

from . import archinfo
from .archinfo import ArchInfo


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


# A stage's config check: (the validated config, the facts of model.arch at
# data.image_size) -> problems, each "config key a.b: what is wrong".
StageCheck = Callable[[dict, ArchInfo], list[str]]


def readable(path: str | None) -> bool:
    """Whether `path` names a readable file."""
    return bool(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def check_config(config: dict[str, Any], stage_checks: Iterable[StageCheck] = ()) -> dict[str, int]:
    """Check names against torchvision and the model, and paths against the disk: the
    shared sections here, then each stage's own section with its `stage_checks`
    (`vischange.registry.stage_checks()` finds them; see there).

    Returns the channel count of every render layer. Raises ConfigError listing
    every problem found (not only the first).
    """
    problems: list[str] = []
    arch = config["model"]["arch"]
    try:
        archinfo.check_architecture(arch)
    except ValueError as err:
        raise ConfigError([f"config key model.arch: {err}"]) from None

    size = config["data"]["image_size"]
    # names and shapes of a weightless model, cached: no torch while Snakemake parses
    info = archinfo.info(arch, size)

    def check_modules(key: str, values: list[str]) -> list[str]:
        good, found = info.known_modules(key, values)
        problems.extend(found)
        return good

    check_modules("finetune.trainable", config["finetune"]["trainable"])
    layers = check_modules("render.layers", config["render"]["layers"])
    if len(set(config["render"]["layers"])) != len(config["render"]["layers"]):
        problems.append("config key render.layers: a layer is listed twice")

    channels: dict[str, int] = {}
    if layers:
        try:
            channels = info.channels(layers)
        except (ValueError, RuntimeError) as err:
            problems.append(f"config key data.image_size: {size} px does not pass through {arch}: {err}")
    wanted = config["render"]["channels"]
    for layer, count in channels.items():
        if wanted != "all" and wanted > count:
            problems.append(f"config key render.channels: {wanted} exceeds the {count} channels of {layer}")


    base = config["model"]["base"]
    if base["source"] == "file" and not readable(base["path"]):
        problems.append(f"config key model.base.path: cannot read weights file {base['path']!r}")
    elif base["source"] == "file" and base.get("checksum"):
        problems.extend(checksum_problems(base["path"], base["checksum"], "model.base"))
    if base["source"] == "torchvision" and base["weights"] not in info.weights:
        problems.append(
            f"config key model.base.weights: {arch} has no torchvision weights {base['weights']!r} "
            f"(choose from {', '.join(info.weights)})"
        )
    if base["source"] == "pretrain" and config["data"]["source"] != "synthetic":
        problems.append("config key model.base.source: 'pretrain' needs data.source synthetic (a base task)")
    problems.extend(data_problems(config["data"]))
    problems.extend(finetuned_problems(config))
    for check in stage_checks:
        problems.extend(check(config, info))
    if problems:
        raise ConfigError(problems)
    return channels


def checksum_problems(path: str, checksum: str, key: str) -> list[str]:
    """A local file checked against its configured checksum before any job (a weights file is
    read in place, so a wrong one would otherwise surface deep inside a job); `key` is the
    file's config section (its checksum is `key`.checksum)."""
    from .datasets.download import DownloadError, verify

    try:
        verify(path, checksum, key=key)
    except DownloadError as err:
        return [f"config key {key}.checksum: {err}"]
    return []


# Class counts of the seed study's datasets, known before their data job has run.
KNOWN_CLASS_COUNTS = {"stanford_dogs": 120, "stanford_cars": 196}


def finetuned_problems(config: dict) -> list[str]:
    """A fine-tuned network from a file (model.finetuned.source file): the file is readable,
    matches its checksum, loads strictly into model.arch, and its head has one output per
    class of the data (when the classes are known before any job). Loads the file, so
    torch is imported here only for this source."""
    fin = config["model"].get("finetuned") or {}
    if fin.get("source", "train") != "file":
        return []
    if not readable(fin.get("path")):
        return [f"config key model.finetuned.path: cannot read weights file {fin.get('path')!r}"]
    if fin.get("checksum"):
        found = checksum_problems(fin["path"], fin["checksum"], "model.finetuned")
        if found:
            return found
    classes = task_classes(config)
    count = len(classes) if classes else KNOWN_CLASS_COUNTS.get(config["data"]["source"])
    from . import models

    try:
        models.check_state_dict(config["model"]["arch"], models.load_state_dict_file(fin["path"]), count,
                                what=f"the weights in {fin['path']}")
    except Exception as err:  # an unreadable pickle as much as a wrong architecture
        return [f"config key model.finetuned.path: {err}"]
    return []


def task_classes(config: dict) -> list[str] | None:
    """The fine-tuning task's class names when they are known before any job runs.

    Synthetic: from the generator. Stanford: from data/classes.txt of an earlier run of the
    experiment, else None (the jobs then check the names against the prepared classes).
    """
    data = config["data"]
    if data["source"] == "synthetic":
        from .datasets import synthetic

        return synthetic.class_names((data.get("synthetic") or {}).get("finetune_task", "textures"))
    if data["source"] == "folder":
        listing = folder_listing(data)
        return listing.classes if listing else None
    path = Path("results") / config["experiment"] / "data" / "classes.txt"
    return [l.strip() for l in path.read_text().splitlines() if l.strip()] if path.is_file() else None


def count_test_images(config: dict) -> int | None:
    """Number of test images when known before any job runs (synthetic; or an earlier run's test.csv)."""
    data = config["data"]
    if data["source"] == "synthetic":
        counts = (data.get("synthetic") or {}).get("finetune_counts") or {"test": 50}
        return int(counts["test"]) * len(task_classes(config))
    if data["source"] == "folder":
        from .datasets import folder

        listing = folder_listing(data)
        return folder.test_count(listing, data["folder"]["test_fraction"]) if listing else None
    path = Path("results") / config["experiment"] / "data" / "test.csv"
    if path.is_file():
        with open(path) as handle:
            return max(0, sum(1 for line in handle if line.strip()) - 1)
    return None


def embedding_size(config: dict) -> int:
    """Side in pixels renders are embedded at: compare.embedding_size, else the embedding
    network's own input size (data.image_size for the base network, the torchvision
    weights' crop size otherwise)."""
    settings = config.get("compare") or {}
    if settings.get("embedding_size"):
        return int(settings["embedding_size"])
    if settings.get("embedding", "base") == "base":
        return int(config["data"]["image_size"])

    # the crop size the weights were evaluated at; 224 for a local file under another name
    weights = archinfo.info(settings["embedding"], 224).weights
    return weights.get(settings.get("embedding_weights", "IMAGENET1K_V1"), 224)


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


def folder_listing(data: dict[str, Any]):
    """The data.folder dataset as listed (:func:`vischange.datasets.folder.list_folder`), or None
    when it cannot be (:func:`data_problems` says why)."""
    from .datasets import folder

    try:
        return folder.list_folder((data.get("folder") or {}).get("path"))
    except folder.FolderError:
        return None


def data_problems(data: dict[str, Any]) -> list[str]:
    """Problems of the data section: each file has a source, local paths are readable, names are
    unique; your own folder lists as a dataset."""
    problems = []
    source = data["source"]
    if source == "folder":
        from .datasets import folder

        try:
            folder.list_folder((data.get("folder") or {}).get("path"))
        except folder.FolderError as err:
            problems.append(str(err))
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
            if not readable(spec["path"]):
                problems.append(f"config key {spec['key']}.path: cannot read {spec['path']!r}")
        elif not spec["url"]:
            problems.append(f"config key {spec['key']}: set url (to download) or path (a local copy)")
        elif not spec["name"]:
            problems.append(f"config key {spec['key']}.url: {spec['url']!r} names no file")
    names = [spec["name"] for spec in files if spec["name"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"config key data.{source}: two files are called {name!r}; each needs its own name")
    return problems


def selected_channels(config: dict, layer_channels: dict[str, int]) -> dict[str, list[int]]:
    """The channel indices rendered for each layer: the first N, or all."""
    wanted = config["render"]["channels"]
    return {
        layer: list(range(count if wanted == "all" else min(wanted, count)))
        for layer, count in layer_channels.items()
    }


def null_seeds(config: dict) -> list[int]:
    """The base network's seeds for the null experiment (compare.null_seeds): the list
    given, or for auto the len(render.seeds) seeds after the largest render seed, so the
    two seed sets are disjoint and equally large."""
    seeds = config["render"]["seeds"]
    given = (config.get("compare") or {}).get("null_seeds", "auto")
    if given == "auto":
        return list(range(max(seeds) + 1, max(seeds) + 1 + len(seeds)))
    return list(given)


def tested_layers(layers: Sequence[str], trainable: Sequence[str], modules: Sequence[str]) -> list[str]:
    """The render layers whose comparison is a test: those with a trainable module at or
    before them in definition order (`modules`, dotted names; the order the change stage
    uses too). A layer with nothing trained up to it renders bit-identically in both
    networks, a determinism check; the null experiment is left out there."""
    def last(name: str) -> int:
        hits = [i for i, m in enumerate(modules) if m == name or m.startswith(name + ".")]
        if not hits:
            raise KeyError(f"{name!r} is not a module of the model")
        return hits[-1]

    def first(name: str) -> int:
        return min(i for i, m in enumerate(modules) if m == name or m.startswith(name + "."))

    starts = [first(t) for t in trainable if any(m == t or m.startswith(t + ".") for m in modules)]
    return [layer for layer in layers if starts and min(starts) <= last(layer)]


def null_seed_problems(config: dict) -> list[str]:
    """compare.null_seeds against render.seeds: as many, none shared (the null's two
    "networks" are disjoint seed sets of the base network)."""
    seeds, null = config["render"]["seeds"], null_seeds(config)
    problems = []
    if len(null) != len(seeds):
        problems.append(
            f"config key compare.null_seeds: {len(null)} seeds, but render.seeds has {len(seeds)}; "
            "the null experiment needs as many seeds as the real comparison"
        )
    shared = sorted(set(null) & set(seeds))
    if shared:
        problems.append(f"config key compare.null_seeds: seeds {shared} are also render seeds; the sets must be disjoint")
    return problems


def chunks(channels: dict[str, list[int]], chunk_size: int) -> list[list[tuple[str, list[int]]]]:
    """The render jobs of one network: the selected channels of every layer, in layer
    order, cut into consecutive jobs of at most `chunk_size` channels.

    channels: {layer: channel indices}. Returns one list per job of its (layer, channels)
    parts, in order; a job may span the end of one layer and the start of the next, so
    a few small layers share one job (one process start, one model load) while a wide
    layer is still split over several.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    flat = [(layer, c) for layer, chans in channels.items() for c in chans]
    jobs = []
    for start in range(0, len(flat), chunk_size):
        parts: list[tuple[str, list[int]]] = []
        for layer, c in flat[start : start + chunk_size]:
            if parts and parts[-1][0] == layer:
                parts[-1][1].append(c)
            else:
                parts.append((layer, [c]))
        jobs.append(parts)
    return jobs


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
        node = resolve(node)
        for name, sub in node.get("properties", {}).items():
            sub = resolve(sub)
            key = f"{prefix}{name}"
            out.append((key, {**sub, "required_here": name in node.get("required", [])}))
            walk(sub, key + ".")
            # a list of objects (variants): its items' keys as key[].name
            if isinstance(sub.get("items"), dict):
                walk(sub["items"], key + "[].")

    walk(schema, "")
    return out


def markdown_table(schema: dict) -> str:
    """The key reference of config/README.md, generated from the schema (kept in sync by a test)."""
    lines = ["| key | default | description |", "|---|---|---|"]
    for key, sub in schema_keys(schema):
        default = ("*required*" if sub["required_here"] else "*optional*") if "default" not in sub else f"`{sub['default']}`"
        if "default" in sub and sub["default"] == "":
            default = '`""`'
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
