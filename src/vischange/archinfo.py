"""What the config checks need to know of a torchvision architecture, without torch.

The checks (vischange.config and each stage's ``checks``) run every time Snakemake parses
the workflow: every `snakemake` command, and every job a cluster runs. Importing torch and
torchvision for them costs about 5 s of CPU each time. So the facts they read (module
names, each module's output shape for one image of a given side, the weights torchvision
has) are computed once with torch, from a weightless model on the meta device, and kept
as JSON in a cache keyed by the torch and torchvision versions:
``$VISCHANGE_CACHE``, else ``$XDG_CACHE_HOME/vischange``, else ``~/.cache/vischange``.
A cache that cannot be written only costs the time.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Sequence

from . import names

FORMAT = 1  # bump when the facts' layout changes: old cache files are then ignored


def cache_dir() -> Path:
    if os.environ.get("VISCHANGE_CACHE"):
        return Path(os.environ["VISCHANGE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vischange"


def _versions() -> str:
    return f"torch{metadata.version('torch')}-torchvision{metadata.version('torchvision')}-v{FORMAT}"


def _cached(name: str, compute) -> object:
    """The JSON value cached under `name` for these versions, computed and stored if absent."""
    path = cache_dir() / _versions() / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
            json.dump(value, handle)
        os.replace(handle.name, path)  # atomic: concurrent parses never read half a file
    except OSError:
        pass
    return value


def architectures() -> list[str]:
    """torchvision's classification architectures (``torchvision.models.list_models``)."""

    def compute():
        from . import models

        return sorted(models.available_architectures())

    return list(_cached("architectures", compute))


def check_architecture(arch: str) -> None:
    """Raise ValueError naming close matches if `arch` is not a torchvision classifier
    (the cached list of :func:`architectures`)."""
    names.check_architecture(arch, architectures())


@dataclass(frozen=True)
class ArchInfo:
    """One architecture at one input side, as the checks see it.

    modules: every named submodule (dotted names, definition order). shapes: each module's
    output shape for one (1, 3, S, S) input, for the modules the forward pass runs.
    shape_error: why such an input does not pass (shapes then holds the modules that ran
    before the error). weights: torchvision's weights for the architecture, name -> crop
    size in pixels.
    """

    arch: str
    image_size: int
    modules: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    shape_error: str | None = None
    weights: dict[str, int] = field(default_factory=dict)

    def missing_module(self, name: str) -> str | None:
        """"model has no module ..." with close matches when `name` is not a module, else None."""
        if name and name in self.modules:
            return None
        return f"model has no module {name!r}{names.did_you_mean(name, self.modules)}"

    def module_problem(self, key: str, name: str) -> str | None:
        """``config key {key}: ...`` when `name` is not a module, else None."""
        missing = self.missing_module(name)
        return f"config key {key}: {missing} ({self.arch})" if missing else None

    def known_modules(self, key: str, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """The `names` that are modules, and a problem for each other one (``{key}[i]``)."""
        good, problems = [], []
        for i, name in enumerate(names):
            problem = self.module_problem(f"{key}[{i}]", name)
            if problem:
                problems.append(problem)
            else:
                good.append(name)
        return good, problems

    def layer_shapes(self, layers: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """Output shape of each of `layers` (modules) for one image. A layer the forward
        pass does not reach: ValueError when the image side stopped it earlier, else
        RuntimeError (a module the forward pass never runs)."""
        missing = [name for name in layers if name not in self.shapes]
        if missing and self.shape_error is not None:
            raise ValueError(self.shape_error)
        if missing:
            raise RuntimeError(f"modules never run in the forward pass of {self.arch}: {missing}")
        return {name: self.shapes[name] for name in layers}

    def channels(self, layers: Sequence[str]) -> dict[str, int]:
        """Output channels (dim 1) of each of `layers`."""
        return {name: shape[1] for name, shape in self.layer_shapes(layers).items()}


def _compute(arch: str, image_size: int) -> dict:
    import torchvision

    from . import models
    from .activations import layer_shapes

    probe = models.build_meta(arch)
    modules = [name for name, _ in probe.named_modules() if name]
    error = None
    try:
        shapes = layer_shapes(probe, modules, image_size)
    except (ValueError, RuntimeError) as err:
        # One module at a time: the capture stops the forward pass once its module ran, so
        # the modules before the failure keep their shapes (as a check of them alone would).
        error, shapes = str(err), {}
        for name in modules:
            try:
                shapes.update(layer_shapes(probe, [name], image_size))
            except (ValueError, RuntimeError):
                pass
    weights = {}
    for member in torchvision.models.get_model_weights(arch):
        crop = getattr(member.transforms(), "crop_size", None)
        weights[member.name] = int(crop[0]) if crop else 224
    return {"modules": modules, "shapes": {k: list(v) for k, v in shapes.items()}, "shape_error": error,
            "weights": weights}


def info(arch: str, image_size: int) -> ArchInfo:
    """The facts of torchvision `arch` for (1, 3, image_size, image_size) inputs, from the
    cache or computed (ValueError for an unknown architecture)."""
    check_architecture(arch)
    facts = _cached(f"{arch}-{int(image_size)}", lambda: _compute(arch, int(image_size)))
    return ArchInfo(
        arch=arch,
        image_size=int(image_size),
        modules=tuple(facts["modules"]),
        shapes={k: tuple(v) for k, v in facts["shapes"].items()},
        shape_error=facts["shape_error"],
        weights={k: int(v) for k, v in facts["weights"].items()},
    )
