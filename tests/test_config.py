"""Config validation: the schema's defaults and ranges, the checks against the real model,
and the key reference in config/README.md."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate

from vischange import config as vcfg
from vischange.registry import check_config, stage_checks

from .conftest import REPO

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def schema():
    return vcfg.load_schema(SCHEMA_PATH)


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml"])
def test_shipped_configs_validate_and_check(name):
    config = load(name)
    validate(config, str(SCHEMA_PATH))
    channels = check_config(config)
    assert set(channels) == set(config["render"]["layers"])
    assert all(n > 0 for n in channels.values())


def test_defaults_are_filled():
    config = {"experiment": "x", "data": {"source": "synthetic"}, "model": {"arch": "resnet18"}, "render": {"layers": ["layer4.1"]}}
    validate(config, str(SCHEMA_PATH))
    assert config["finetune"]["augment"]["crop_scale"] == [0.7, 1.0]
    assert config["pretrain"]["epochs"] == 5
    assert config["render"]["seeds"] == [0, 1, 2]
    assert config["compare"]["null_seeds"] == "auto"
    assert config["model"]["base"]["source"] == "pretrain"


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["render"].__setitem__("steps", -3), "render.steps"),
        (lambda c: c["finetune"].__setitem__("epochs", 0), "finetune.epochs"),
        (lambda c: c.pop("experiment"), "(top level)"),
        (lambda c: c["finetune"].__setitem__("epochz", 3), "finetune"),
        (lambda c: c["render"].__setitem__("channels", "some"), "render.channels"),
        (lambda c: c["data"].__setitem__("source", "imagenet"), "data.source"),
        (lambda c: c["render"].__setitem__("seeds", [0]), "render.seeds"),
        (lambda c: c["compare"].__setitem__("null_seeds", "later"), "compare.null_seeds"),
    ],
)
def test_schema_problems_name_the_key(schema, edit, key):
    config = copy.deepcopy(load("test.yaml"))
    edit(config)
    problems = vcfg.schema_problems(config, schema)
    assert problems, "the bad value was accepted"
    assert any(p.startswith(f"config key {key}:") for p in problems), problems


def checked(**changes) -> dict:
    config = copy.deepcopy(load("test.yaml"))
    validate(config, str(SCHEMA_PATH))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


@pytest.mark.parametrize(
    "changes, key, words",
    [
        ({"model.arch": "resnet51"}, "model.arch", "resnet50"),
        ({"render.layers": ["layer4.1", "layer9.0"]}, "render.layers[1]", "layer9.0"),
        ({"finetune.trainable": ["layer4.7"]}, "finetune.trainable[0]", "layer4.7"),
        ({"render.channels": 100000}, "render.channels", "exceeds"),
        ({"model.base.source": "file", "model.base.path": "/nonexistent/weights.pt"}, "model.base.path", "cannot read"),
        ({"model.base.source": "torchvision", "model.base.weights": "IMAGENET9K"}, "model.base.weights", "IMAGENET1K_V1"),
        ({"compare.embedding": "resnet5"}, "compare.embedding", "resnet50"),
        ({"compare.embedding": "resnet50", "compare.embedding_weights": "X"}, "compare.embedding_weights", "IMAGENET1K_V2"),
        ({"compare.embedding": "resnet50", "compare.embedding_path": "/no/w.pt"}, "compare.embedding_path", "cannot read"),
        ({"compare.gram_layers": ["conv1", "layer9.9"]}, "compare.gram_layers[1]", "layer9.9"),
        ({"compare.embedding": "vgg11"}, "compare.gram_layers", "compare.gram_layers"),
        ({"topmaps.layer": "layer9"}, "topmaps.layer", "layer9"),
        ({"topmaps.n_per_image": 513}, "topmaps.n_per_image", "exceeds the 512 feature maps of layer4"),
        ({"topmaps.n_per_class": 600}, "topmaps.n_per_class", "exceeds"),
        ({"topmaps.classes": ["circle-dots", "zebra"]}, "topmaps.classes[1]", "'zebra' is not a class"),
        ({"topmaps.map_class": "zebra"}, "topmaps.map_class", "circle-stripes"),
        ({"topmaps.image": 18}, "topmaps.image", "the test split has 18 images"),
        ({"attribution.image": 99}, "attribution.image", "out of range"),
        ({"attribution.layers": ["conv1", "layer5"]}, "attribution.layers[1]", "layer5"),
        ({"attribution.layer": "fc.x"}, "attribution.layer", "fc.x"),
        ({"topmaps.split": "test"}, "topmaps.split", "detector is evaluated on"),
        ({"compare.null_seeds": [2, 3, 4]}, "compare.null_seeds", "also render seeds"),
        ({"compare.null_seeds": [5, 6]}, "compare.null_seeds", "as many seeds"),
        ({"atlas.split": "test", "patches.pairs": {"base": [], "finetuned": None}}, "atlas.split", "patches are evaluated on"),
    ],
)
def test_model_checks_name_the_key(changes, key, words):
    with pytest.raises(vcfg.ConfigError) as info:
        check_config(checked(**changes))
    message = str(info.value)
    assert f"config key {key}:" in message and words in message, message


def test_all_problems_reported_at_once():
    with pytest.raises(vcfg.ConfigError) as info:
        check_config(checked(**{"render.layers": ["nope"], "finetune.trainable": ["nada"]}))
    assert len(info.value.problems) == 2


def test_selected_channels_and_chunks():
    assert vcfg.selected_channels({"render": {"channels": 3}}, {"a": 10}) == {"a": [0, 1, 2]}
    assert vcfg.selected_channels({"render": {"channels": "all"}}, {"a": 4}) == {"a": [0, 1, 2, 3]}
    assert vcfg.chunks({"a": list(range(5))}, 2) == [[("a", [0, 1])], [("a", [2, 3])], [("a", [4])]]
    assert vcfg.chunks({"a": [7]}, 64) == [[("a", [7])]]
    # A job spans the end of one layer and the start of the next; every channel once, in order.
    jobs = vcfg.chunks({"a": [0, 1, 2], "b": [5, 6, 7]}, 2)
    assert jobs == [[("a", [0, 1])], [("a", [2]), ("b", [5])], [("b", [6, 7])]]
    assert vcfg.chunks({"a": [0, 1], "b": [0]}, 64) == [[("a", [0, 1]), ("b", [0])]]
    with pytest.raises(ValueError):
        vcfg.chunks({"a": [0]}, 0)


def test_config_readme_documents_every_key(schema):
    readme = (REPO / "config/README.md").read_text()
    assert vcfg.markdown_table(schema) in readme, "regenerate with: python -m vischange.config"
    for key, sub in vcfg.schema_keys(schema):
        assert "description" in sub, f"schema key {key} has no description"


def test_embedding_network_settings():
    config = checked(**{"compare.embedding": "vgg11", "compare.gram_layers": ["features.0", "features.3"]})
    check_config(config)  # any torchvision classifier, with named Gram layers
    assert vcfg.embedding_size(config) == 224
    assert vcfg.embedding_size(checked()) == checked()["data"]["image_size"]
    assert vcfg.embedding_size(checked(**{"compare.embedding_size": 96})) == 96
    defaults = checked()["compare"]
    assert defaults["embedding"] == "base" and defaults["gram_layers"] is None
    assert defaults["gray"] == {"min_jump": 5, "fallback_threshold": 100}
    assert defaults["noise_percentile"] == 5


def test_analysis_checks_accept_valid_names_and_read_a_prepared_run(tmp_path, monkeypatch):
    check_config(checked(**{"topmaps.classes": ["square-checker"], "topmaps.map_class": "circle-dots", "topmaps.image": 17}))
    # Stanford data: class names and test images are known once an earlier run prepared them.
    config = checked(**{"data.source": "stanford_cars", "data.stanford_cars.directory": str(tmp_path),
                        "model.base.source": "torchvision", "domain.source": "none",
                        "topmaps.classes": ["Audi"], "topmaps.image": 2})
    monkeypatch.chdir(tmp_path)
    assert vcfg.task_classes(config) is None and vcfg.count_test_images(config) is None
    check_config(config)  # unknown yet: the jobs check them
    prepared = tmp_path / "results" / config["experiment"] / "data"
    prepared.mkdir(parents=True)
    (prepared / "classes.txt").write_text("BMW\nVolvo\n")
    (prepared / "test.csv").write_text("path,label\na.jpg,0\nb.jpg,1\n")
    with pytest.raises(vcfg.ConfigError) as info:
        check_config(config)
    assert {p.split(":")[0] for p in info.value.problems} == {"config key topmaps.classes[0]", "config key topmaps.image"}


def test_atlas_split_test_is_allowed_without_the_patch_experiment():
    check_config(checked(**{"atlas.split": "test", "patches.enabled": False}))


def test_every_stage_that_checks_its_section_is_found():
    """Found by convention (vischange.<stage>.checks), so a new stage's checks need no edit."""
    assert set(stage_checks()) == {"atlas", "attribution", "compare", "domain", "pairs", "patches", "topmaps"}
    assert all(callable(f) for f in stage_checks().values())
