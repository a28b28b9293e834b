"""vischange.archinfo: the architecture facts the config checks read, cached without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from vischange import archinfo, models
from vischange.activations import layer_shapes

from .conftest import REPO


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISCHANGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_facts_match_the_meta_model(cache):
    info = archinfo.info("resnet18", 64)
    probe = models.build_meta("resnet18")
    assert info.modules == tuple(name for name, _ in probe.named_modules() if name)
    layers = ["conv1", "layer2.1", "layer4.1", "avgpool", "fc"]
    assert info.layer_shapes(layers) == layer_shapes(probe, layers, 64)
    assert info.channels(["layer3.1", "layer4.1"]) == {"layer3.1": 256, "layer4.1": 512}
    assert info.shape_error is None
    assert info.weights == {"IMAGENET1K_V1": 224}


def test_facts_are_read_back_from_the_cache(cache, monkeypatch):
    first = archinfo.info("resnet18", 32)
    files = sorted(p.name for p in cache.rglob("*.json"))
    assert files == ["architectures.json", "resnet18-32.json"]
    assert all("torch" in p.parent.name for p in cache.rglob("*.json"))  # keyed by the versions
    monkeypatch.setattr(archinfo, "_compute", lambda *a: pytest.fail("computed again despite the cache"))
    assert archinfo.info("resnet18", 32) == first
    (cache.rglob("resnet18-32.json").__next__()).write_text("{broken")
    monkeypatch.undo()
    monkeypatch.setenv("VISCHANGE_CACHE", str(cache))
    assert archinfo.info("resnet18", 32) == first  # a damaged file is computed again


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VISCHANGE_CACHE", str(blocker / "cache"))  # a folder below a file
    assert archinfo.info("resnet18", 32).channels(["layer1"]) == {"layer1": 64}


def test_unknown_architecture_names_close_matches(cache):
    with pytest.raises(ValueError, match="resnet18"):
        archinfo.info("resnet17", 32)


def test_a_size_that_stops_the_forward_pass(cache):
    info = archinfo.info("vgg11", 16)
    assert info.shape_error and "features.0" in info.shapes  # the modules before the error ran
    assert info.layer_shapes(["features.0"]) == {"features.0": (1, 64, 16, 16)}
    with pytest.raises(ValueError):
        info.layer_shapes(["classifier.0"])
    with pytest.raises(RuntimeError, match="never run"):
        archinfo.ArchInfo("x", 8, modules=("a", "b"), shapes={"a": (1, 2)}).layer_shapes(["b"])


def test_module_problems_name_the_key_and_close_matches(cache):
    info = archinfo.info("resnet18", 32)
    assert info.module_problem("render.layers[0]", "layer4.1") is None
    problem = info.module_problem("render.layers[0]", "layer4.9")
    assert problem.startswith("config key render.layers[0]: model has no module 'layer4.9'") and "layer4.1" in problem
    assert info.known_modules("atlas.layers", ["layer1", "nope"]) == (
        ["layer1"], [info.module_problem("atlas.layers[1]", "nope")])
    assert info.module_problem("k", "") is not None  # the model itself is not a layer


def test_parsing_the_workflow_does_not_import_torch(tmp_path):
    """The checks and every module the rule files import, on a warm cache: no torch."""
    env = {**os.environ, "VISCHANGE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO / "src")}
    code = (
        "import sys, yaml\n"
        "from vischange.registry import validate_and_check\n"
        "from vischange import config, paths, names, paper\n"
        "from vischange.datasets import stanford\n"
        "from vischange.patches import candidates, checks\n"
        f"cfg = yaml.safe_load(open({str(REPO / 'config/test.yaml')!r}))\n"
        f"print(validate_and_check(cfg, {str(REPO / 'workflow/schemas/config.schema.yaml')!r}))\n"
        "print('torch' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    for expected in ("True True", "False False"):  # the first run fills the cache with torch
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.splitlines()[-1] == expected, out.stdout
        assert json.loads(out.stdout.splitlines()[0].replace("'", '"')) == {"layer3.1": 256, "layer4.1": 512}
