"""The paper's inputs: manuscript parsing, the literal-number check, the variables and
tables built from (made-up) workflow outputs, staging, and the Quarto requirement."""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vischange import paper, registry

from .test_pairs import pair_tables
from .conftest import REPO
from .test_change import _variables_files as change_tables

PAPER = REPO / "paper"


def manuscript_files() -> list[Path]:
    return [PAPER / "index.qmd", *sorted((PAPER / "sections").glob("*.qmd"))]


# ---------------------------------------------------------------------------------------
# Made-up workflow outputs, shaped like the real ones


@pytest.fixture
def config():
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config/test.yaml").read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))  # fills the defaults
    return cfg


def metrics(epochs: int, test_accuracy: float = 0.5, classes: int = 9, optimizer: str = "sgd") -> dict:
    return {
        "epochs": [{"epoch": e + 1, "val_accuracy": 0.1 * (e + 1)} for e in range(epochs)],
        "chosen_epoch": epochs,
        "val_accuracy": 0.1 * epochs,
        "test_accuracy": test_accuracy,
        "chance_accuracy": 1 / classes,
        "num_classes": classes,
        "num_train": 36,
        "num_val": 18,
        "num_test": 18,
        "trainable_modules": ["layer4.1", "fc"],
        "trainable_parameters": 4725257,
        "total_parameters": 11181129,
        "settings": {"epochs": epochs, "optimizer": optimizer, "lr": 0.05, "batch_size": 16},
    }


@pytest.fixture
def outputs():
    layers = pd.DataFrame(
        [
            dict(layer="layer3.1", fine_tuned=False, n_channels=3, n_gray=0, n_used=3, median_cosine=0.918,
                 median_noise_cosine=0.918, noise_floor=0.9, n_below_floor=0, share_below_floor=0.0,
                 median_gram=0.076, median_gram_noise=0.076, n_feature_layers=9),
            dict(layer="layer4.1", fine_tuned=True, n_channels=3, n_gray=1, n_used=2, median_cosine=0.81,
                 median_noise_cosine=0.95, noise_floor=0.89, n_below_floor=1, share_below_floor=0.5,
                 median_gram=0.2, median_gram_noise=0.05, n_feature_layers=9),
        ]
    )
    # The calibrated test and the null experiment: the frozen layer's channels are
    # bit-identical (not tested); the fine-tuned layer has one died channel.
    tests = dict(
        n_tested=[0, 2], n_significant=[0, 1], share_significant=[float("nan"), 0.5], n_identical=[3, 0],
        n_died=[0, 1], n_born=[0, 0], changed_share=[float("nan"), 0.5], changed_share_low=[float("nan"), 0.0],
        changed_share_high=[float("nan"), 1.0], fdr=[0.05, 0.05], null_n_tested=[float("nan"), 3],
        null_n_significant=[float("nan"), 1], null_false_positive_share=[float("nan"), 1 / 3],
        null_changed_share=[float("nan"), 0.0], null_changed_share_low=[float("nan"), 0.0],
        null_changed_share_high=[float("nan"), 0.6], null_n_died=[float("nan"), 0], null_n_born=[float("nan"), 0],
    )
    layers = layers.assign(**tests)
    quality = pd.DataFrame(
        [
            dict(net=n, layer=l, renders=6, median_activation_ratio=r, own_channel_fraction=f, median_seconds=1.5)
            for n, l, r, f in [("base", "layer3.1", 0.34, 1.0), ("base", "layer4.1", 5.06, 0.5),
                               ("finetuned", "layer3.1", 0.34, 1.0), ("finetuned", "layer4.1", 0.5, 1.0)]
        ]
    )
    summary = {
        "gray": {"threshold": 100.0, "method": "fallback", "jump": 1.06, "min_jump": 5.0, "n_renders": 24,
                 "n_gray_renders": 1, "gray_renders_by_net": {"base": 0, "finetuned": 1}},
        "noise_percentile": 5,
        "n_channels": 6,
        "n_used": 5,
        "gram_by_feature_layer": {
            "layer3.1": {"conv1": {"median_gram": 0.02, "median_gram_noise": 0.02}},
            "layer4.1": {"conv1": {"median_gram": 0.03, "median_gram_noise": 0.01}},
        },
    }
    return paper.RunOutputs(finetune=metrics(2), pretrain=metrics(1, 0.8, 8, "adamw"), summary=summary, layers=layers,
                            quality=quality)


# ---------------------------------------------------------------------------------------
# The manuscript


def test_manuscript_has_no_literal_numbers():
    for path in manuscript_files():
        assert paper.literal_numbers(path.read_text()) == [], f"a number is typed into {path.name}"


@pytest.mark.parametrize(
    "text",
    [
        "The fine-tuned network reached 82.5 % accuracy.",
        "Only 3 of 8 channels fell below the floor.",
        "a cosine of .97",
        "In `layer4.1` the floor was {{< var x >}} and in layer 4 it was lower.",
        "Figure 9 of the seed study",
    ],
)
def test_number_check_catches_typed_numbers(text):
    assert paper.literal_numbers(text)


def test_number_check_allows_names_references_and_markup():
    text = """---
title: "Study 2026"
---
<!-- note: 42 -->
A {{< var model.name >}} [@he2016resnet; @fel2023maco] as in @fig-a1 and @sec-s2 and
@tbl-layers, see `layer4.1` and $(1 - c)/(1 - f)$ and ResNet-50, BT.601, 8-bit, 1/f.

![Caption.](figures/render_pairs2.png){#fig-a1 width=50%}

```python
x = 3
```
See https://doi.org/10.23915/distill.00007 and [a link](https://x.org/2017).
"""
    assert paper.literal_numbers(text) == []


def test_no_shortcode_inside_code():
    """Quarto leaves shortcodes inside code as they are: one there would print raw."""
    for path in manuscript_files():
        text = path.read_text()
        in_code = re.findall(r"`[^`\n]*\{\{<[^`\n]*`", text) + [
            block for block in re.findall(r"^```.*?^```", text, re.S | re.M) if "{{<" in block
        ]
        assert not in_code, f"{path.name}: {in_code}"


def test_scan_finds_variables_includes_and_figures():
    text = """{{< var a.b >}} and {{<var c >}} and {{< var a.b >}}
{{< include tables/layers.md >}}
{{< include sections/atlas.qmd >}}
![A [@cite] caption with `code`.](figures/x.png){#fig-x}
<!-- ![old](figures/commented_out.png) {{< var in_comment >}} -->
"""
    found = paper.scan(text)
    # Quarto expands shortcodes inside HTML comments too, so they count.
    assert found.variables == ["a.b", "c", "in_comment"]
    assert found.tables == ["tables/layers.md"]
    assert found.sections == ["sections/atlas.qmd"]
    assert found.figures == ["figures/x.png"]


def test_manuscript_reads_generated_tables_and_run_figures_only():
    reads = paper.read_manifest(PAPER)
    assert set(reads.tables) == {f"{paper.TABLES_DIR}/{t}" for t in paper.TABLES}
    assert reads.figures and all(not Path(f).is_absolute() and ".." not in Path(f).parts for f in reads.figures)
    assert all((PAPER / s).is_file() for s in reads.sections)


def test_every_citation_is_in_the_bibliography():
    bib = (PAPER / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, re.M))
    cited = set()
    for path in manuscript_files():
        text = re.sub(r"<!--.*?-->", "", path.read_text(), flags=re.S)
        for group in re.findall(r"\[([^\]]*@[^\]]*)\]", text):
            cited.update(re.findall(r"@([\w:-]+)", group))
    assert cited and cited <= keys, f"cited but not in references.bib: {cited - keys}"
    # Every entry has an author and a title (nothing half-filled).
    for entry in re.split(r"\n(?=@)", bib.strip()):
        assert re.search(r"^\s*author\s*=", entry, re.M) and re.search(r"^\s*title\s*=", entry, re.M), entry[:60]


# ---------------------------------------------------------------------------------------
# Variables and tables


def test_variables_define_everything_the_manuscript_reads(config, outputs, tmp_path):
    variables = paper.build_variables(config, outputs)
    # and every stage's own (vischange.registry), here from small tables of each stage
    (tmp_path / "pairs").mkdir()
    stage_files = {"change": change_tables(tmp_path), "pairs": pair_tables(tmp_path / "pairs")}
    assert set(stage_files) == set(registry.stage_variables()), "give this test tables of the new stage"
    variables.update(registry.paper_variables(stage_files))
    flat = paper.flatten(variables)
    for path in manuscript_files():
        used = paper.scan(path.read_text()).variables
        assert not [v for v in used if v not in flat], path.name
    # Quarto prints scalars; a list or an empty value would print badly.
    assert all(isinstance(v, (str, int)) and v != "" for v in flat.values())


def test_variables_follow_the_inputs(config, outputs):
    variables = paper.flatten(paper.build_variables(config, outputs))
    assert variables["finetune.test_accuracy"] == "50.0 %"
    assert variables["finetune.chance"] == "11.1 %"
    assert variables["pretrain.test_accuracy"] == "80.0 %"
    assert variables["compare.below_floor"] == "1 of 5"
    assert variables["compare.last.name"] == "`layer4.1`"
    assert variables["compare.last.gram_ratio"] == "4.0"
    assert variables["compare.layers_below_floor"] == "`layer4.1`"
    assert variables["quality.base.own_channel_fraction"] == "75 %"
    assert variables["gray.n_gray_channels"] == 1
    assert "fallback" in variables["gray.cut"]
    # No wall-clock time reaches the paper: a rerun must write the same variables.
    assert not [k for k in variables if "second" in k]


def test_changing_the_config_changes_the_variables(config, outputs):
    """A rerun with more fine-tuning epochs (the metrics follow the config) and other render
    settings gives different numbers, with no edit to the manuscript."""
    before = paper.flatten(paper.build_variables(config, outputs))
    tables_before = paper.build_tables(config, outputs)
    changed = copy.deepcopy(config)
    changed["finetune"]["epochs"] = 7
    changed["render"]["steps"] = 99
    after_outputs = dataclasses.replace(outputs, finetune=metrics(7, test_accuracy=0.62))
    after = paper.flatten(paper.build_variables(changed, after_outputs))
    tables_after = paper.build_tables(changed, after_outputs)
    assert (before["finetune.epochs"], after["finetune.epochs"]) == (2, 7)
    assert (before["finetune.test_accuracy"], after["finetune.test_accuracy"]) == ("50.0 %", "62.0 %")
    assert (before["render.steps"], after["render.steps"]) == (6, 99)
    assert "7 epochs" in tables_after["settings.md"] and "7 epochs" not in tables_before["settings.md"]
    assert "7 of 7" in tables_after["training.md"]


def test_dataset_facts_name_the_imagenet_overlap(config):
    dogs = copy.deepcopy(config)
    dogs["data"]["source"] = "stanford_dogs"
    dogs["model"]["base"] = {"source": "torchvision", "weights": "IMAGENET1K_V1"}
    facts = paper.dataset_facts(dogs)
    assert facts["name"] == "Stanford Dogs" and "ImageNet" in facts["overlap"]
    assert "IMAGENET1K_V1" in facts["base_weights"]
    assert "not seen" in paper.dataset_facts(config)["overlap"]


def test_tables_have_one_row_per_item(config, outputs):
    tables = paper.build_tables(config, outputs)
    assert set(tables) == set(paper.TABLES)

    def rows(md):
        lines = [l for l in md.splitlines() if l.startswith("|")]
        assert re.fullmatch(r"\|(:?-+:?\|)+", lines[1])  # the alignment row
        assert len({l.count("|") for l in lines}) == 1  # same number of cells everywhere
        return len(lines) - 2

    assert rows(tables["layers.md"]) == len(outputs.layers)
    assert rows(tables["quality.md"]) == len(outputs.quality)
    assert rows(tables["training.md"]) == 2  # base (trained here) and fine-tuned
    assert rows(paper.build_tables(config, dataclasses.replace(outputs, pretrain=None))["training.md"]) == 1
    assert rows(tables["gram.md"]) == 1
    assert "0.810" in tables["layers.md"] and "1 (50 %)" in tables["layers.md"]
    assert rows(tables["tests.md"]) == len(outputs.layers)
    assert "50 % [0 %, 100 %]" in tables["tests.md"] and "1 of 3" in tables["tests.md"] and "not run" in tables["tests.md"]


def test_test_variables_sum_layers_and_name_the_null(config, outputs):
    tests = paper.build_variables(config, outputs)["compare"]["tests"]
    assert tests["significant"] == paper.count_of(1, 2) and tests["n_died"] == 1
    assert tests["null_significant"] == paper.count_of(1, 3)  # the frozen layer has no null (nothing to test)
    assert tests["null_layers_above_q"] == "`layer4.1`"  # 1 of 3 > 0.05: the control failed there
    assert "`layer3.1`: renders bit-identical in both networks" in tests["per_layer"]
    assert "`layer4.1`: 1 of 2 tested channels significant, estimated changed share 50 % (95 % CI 0 % to 100 %)" in tests["per_layer"]


def test_write_inputs_writes_yaml_that_reads_back(tmp_path, config, outputs):
    import json

    files = {}
    for name in ("finetune", "pretrain", "summary"):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(getattr(outputs, name)))
    for name in ("layers", "quality"):
        files[name] = tmp_path / f"{name}.csv"
        getattr(outputs, name).to_csv(files[name], index=False)
    out_tables = [tmp_path / "tables" / t for t in paper.TABLES]
    variables = paper.write_inputs(config, out_variables=tmp_path / "variables.yml", out_tables=out_tables, **files)
    assert yaml.safe_load((tmp_path / "variables.yml").read_text()) == variables
    assert all(p.read_text().startswith("| ") for p in out_tables)
    # The rule passes only the keys the paper reads: the same variables and tables.
    tables = [p.read_text() for p in out_tables]
    assert paper.write_inputs(paper.used_config(config), out_variables=tmp_path / "v2.yml", out_tables=out_tables, **files) == variables
    assert [p.read_text() for p in out_tables] == tables


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "dogs.yaml", "cars.yaml"])
def test_paper_reads_only_the_config_keys_it_declares(tmp_path, outputs, name):
    """build_variables and build_tables on the narrowed config of every shipped config (a
    missing key raises), and a key outside CONFIG_KEYS changes nothing."""
    from snakemake.utils import validate

    full = yaml.safe_load((REPO / "config" / name).read_text())
    validate(full, str(REPO / "workflow/schemas/config.schema.yaml"))
    narrowed = paper.used_config(full)
    assert paper.build_variables(narrowed, outputs) == paper.build_variables(full, outputs)
    assert paper.build_tables(narrowed, outputs) == paper.build_tables(full, outputs)
    assert "atlas" not in narrowed and "examples" not in narrowed["render"]


# ---------------------------------------------------------------------------------------
# Sections, staging and rendering


class FakeRule:
    def __init__(self, *outputs):
        self.outputs = outputs

    def is_producer(self, path):
        return path in self.outputs


def test_sections_turn_on_only_when_the_workflow_writes_what_they_read():
    sections = paper.read_manifest(PAPER, lambda s: False).sections
    assert sections, "index.qmd includes the optional sections"
    missing = paper.sections_missing(PAPER, "results/x", [FakeRule("results/x/figures/render_pairs.png")])
    assert all(missing[s] for s in sections)  # no rule writes atlas or top-map figures
    atlas = "sections/atlas.qmd"
    wanted = paper.section_manifest(PAPER, atlas).figures
    rule = FakeRule(*[f"results/x/{f}" for f in wanted])
    missing = paper.sections_missing(PAPER, "results/x", [rule])
    assert missing[atlas] == [] and missing["sections/topmaps.qmd"]


def test_stage_copies_what_the_manuscript_reads(tmp_path, config, outputs):
    results, out = tmp_path / "results/test", tmp_path / "results/test/paper"
    # Every optional section off: each is staged as a placeholder.
    enabled = {s: False for s in paper.read_manifest(PAPER, lambda s: False).sections}
    reads = paper.read_manifest(PAPER, enabled.get)
    for figure in reads.figures:
        (results / figure).parent.mkdir(parents=True, exist_ok=True)
        (results / figure).write_bytes(b"png " + figure.encode())
    paper.write_variables(out / "variables.yml", paper.build_variables(config, outputs))
    for name, text in paper.build_tables(config, outputs).items():
        paper.write_text(out / "tables" / name, text)
    missing = {s: [f"figures/{Path(s).stem}.png"] for s in enabled}

    staged = paper.stage(PAPER, results, out, enabled, missing)
    assert staged.figures == reads.figures
    for name in paper.SOURCES:
        assert (out / name).read_text() == (PAPER / name).read_text()
    for figure in reads.figures:
        assert (out / figure).read_bytes() == (results / figure).read_bytes()
    assert (out / "_variables.yml").read_text() == (out / "variables.yml").read_text()
    placeholder = (out / "sections/atlas.qmd").read_text()
    assert "`figures/atlas.png`" in placeholder and not paper.scan(placeholder).figures
    assert paper.missing_variables(staged, yaml.safe_load((out / "variables.yml").read_text())) == []


def test_render_without_quarto_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no quarto
    with pytest.raises(RuntimeError, match="pip install quarto-cli"):
        paper.render(PAPER, tmp_path, tmp_path, {}, {})
    with pytest.raises(RuntimeError, match="pip install quarto-cli"):
        paper.require_quarto(dryrun=False)
    assert paper.require_quarto(dryrun=True) == []


@pytest.mark.skipif(shutil.which("quarto") is None, reason="quarto is not on PATH (pip install quarto-cli)")
def test_render_for_real(tmp_path, config, outputs):
    """Quarto renders the staged manuscript (made-up numbers, blank figures) to HTML and PDF."""
    from PIL import Image

    results, out = tmp_path / "results/test", tmp_path / "results/test/paper"
    enabled = {"sections/atlas.qmd": False, "sections/topmaps.qmd": False}
    for figure in paper.read_manifest(PAPER, enabled.get).figures:
        (results / figure).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 32), "white").save(results / figure)
    paper.write_variables(out / "variables.yml", paper.build_variables(config, outputs))
    for name, text in paper.build_tables(config, outputs).items():
        paper.write_text(out / "tables" / name, text)
    html, pdf = paper.render(PAPER, results, out, enabled, {s: ["figures/x.png"] for s in enabled})
    text = html.read_text()
    assert "{{<" not in text and "ResNet-18" in text and "50.0 %" in text
    assert pdf.read_bytes()[:4] == b"%PDF"
