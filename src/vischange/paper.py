"""The paper's side of the workflow: what the Quarto manuscript reads, the variables and
tables it quotes, and the staging of a renderable project.

The manuscript (paper/index.qmd and the section files it includes) never holds a result
number: numbers reach the text as Quarto variables (``{{< var name >}}``, read from
``_variables.yml``), tables as generated Markdown files (``{{< include tables/x.md >}}``)
and figures as image files. This module

- parses a manuscript for the variables, includes and figures it reads
  (:func:`read_manifest`), so the ``paper`` rule's inputs are exactly those files;
- finds literal numbers in manuscript text (:func:`literal_numbers`), for the test that
  keeps them out;
- builds the variables (:func:`build_variables`) and tables (:func:`build_tables`) from
  workflow outputs and config values only;
- stages the manuscript, variables, tables and figures into one folder that Quarto
  renders (:func:`stage`).

Sections whose outputs come from stages this workflow may not have yet (activation
atlases, top maps and attribution views) live in ``paper/sections/*.qmd``; the staged
project holds either the section itself or, when its files are not outputs of this
workflow, a short placeholder that names them (see :func:`placeholder`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import yaml

from .config import null_seeds
from .runtime import atomic_path

log = logging.getLogger(__name__)

# Manuscript sources, relative to the paper/ folder; copied into the staged project.
SOURCES = ("_quarto.yml", "index.qmd", "references.bib")
# Includes under this folder are manuscript sources; all others are generated tables.
SECTIONS_DIR = "sections"
TABLES_DIR = "tables"
VARIABLES_FILE = "variables.yml"

_VAR = re.compile(r"\{\{<\s*var\s+([^\s>]+)\s*>\}\}")
_INCLUDE = re.compile(r"\{\{<\s*include\s+([^\s>]+)\s*>\}\}")
# The target of a Markdown image or link to an image file: ](path.png) or ](path.png "title")
_IMAGE = re.compile(r"\]\(\s*<?([^)\s>]+\.(?:png|jpe?g|svg|gif|pdf))>?(?:\s+\"[^\"]*\")?\s*\)", re.I)


@dataclass
class Manifest:
    """What a manuscript reads. Paths are relative to the staged project folder.

    variables: every ``{{< var >}}`` key, in order of first use.
    tables: generated includes (``tables/*.md``).
    sections: section sources included from ``sections/``.
    figures: image files, relative to the staged folder and to results/{experiment}/
        alike (``figures/x.png`` is staged from results/{experiment}/figures/x.png).
    """

    variables: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def extend(self, other: "Manifest") -> None:
        for name in ("variables", "tables", "sections", "figures"):
            mine = getattr(self, name)
            mine.extend(x for x in getattr(other, name) if x not in mine)


def scan(text: str) -> Manifest:
    """The variables, includes and figures one manuscript file names.

    Shortcodes count wherever they stand, HTML comments included, because Quarto expands
    them there too; images inside comments do not count.
    """
    found = Manifest()
    found.variables = list(dict.fromkeys(_VAR.findall(text)))
    for path in dict.fromkeys(_INCLUDE.findall(text)):
        (found.sections if path.startswith(SECTIONS_DIR + "/") else found.tables).append(path)
    found.figures = list(dict.fromkeys(_IMAGE.findall(_strip_comments(text))))
    return found


def read_manifest(paper_dir: str | Path, enabled: Callable[[str], bool] = lambda section: True) -> Manifest:
    """What the manuscript in `paper_dir` reads: index.qmd plus every section file it
    includes for which `enabled(section)` is true (disabled sections are staged as
    placeholders, which read nothing)."""
    paper_dir = Path(paper_dir)
    manifest = scan((paper_dir / "index.qmd").read_text())
    for section in list(manifest.sections):
        if enabled(section):
            manifest.extend(scan((paper_dir / section).read_text()))
    return manifest


def section_manifest(paper_dir: str | Path, section: str) -> Manifest:
    """What one section file reads."""
    return scan((Path(paper_dir) / section).read_text())


# ---------------------------------------------------------------------------------------
# Literal numbers


# Tokens with digits that are names, not results (each with why it may appear).
ALLOWED_TOKENS = (
    "ResNet-50",  # the seed study's architecture, a fixed fact about that study
    "BT.601",  # the luma standard of the gray score
    "8-bit",  # the unit of the gray score (squared 8-bit levels)
    "1/f",  # lucid's Fourier spectrum scaling
)

_STRIP = [
    re.compile(r"\A---\n.*?\n---\n", re.S),  # YAML front matter
    re.compile(r"<!--.*?-->", re.S),  # HTML comments (notes for maintainers)
    re.compile(r"^(```|~~~).*?^\1", re.S | re.M),  # code blocks
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\{\{<.*?>\}\}", re.S),  # shortcodes: var, include, ...
    re.compile(r"\$\$.*?\$\$", re.S),  # display math: symbols, not results
    re.compile(r"\$[^$\n]+\$"),  # inline math
    re.compile(r"\]\([^)]*\)"),  # link and image targets
    re.compile(r"\{[#.][^}]*\}"),  # attributes: {#fig-x}, {.class width=...}
    re.compile(r"\{[a-z-]+=[^}]*\}"),  # attributes without id/class
    re.compile(r"-?@[\w:.-]+"),  # citations and cross-references (@fig-x, [@key])
    re.compile(r"https?://\S+"),  # bare URLs
]


def _strip_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def literal_numbers(text: str, allowed: Sequence[str] = ALLOWED_TOKENS) -> list[str]:
    """Snippets of `text` with a digit outside the places a digit may appear.

    Removed before looking: front matter, HTML comments, code, shortcodes (the variables
    themselves), math, link and image targets, attribute blocks, citations and
    cross-references, URLs, and the `allowed` tokens. Whatever digit is left is a number
    typed into the prose, which would not follow the config. Returns one snippet (the
    digit with up to 30 characters either side) per offending digit run.
    """
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    for token in allowed:
        text = text.replace(token, " ")
    return [
        text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ").strip()
        for m in re.finditer(r"\d+", text)
    ]


# ---------------------------------------------------------------------------------------
# Variables


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: the dotted names Quarto's var shortcode uses."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def pct(share: float | None, digits: int = 1) -> str:
    """0.5069 -> '50.7 %'; None or NaN -> 'n/a'."""
    if share is None or share != share:
        return "n/a"
    return f"{100 * share:.{digits}f} %"


def num(value: float | None, digits: int = 3) -> str:
    """Fixed decimals; None or NaN -> 'n/a'."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def sig(value: float | None, digits: int = 3) -> str:
    """Significant digits, plain notation; None or NaN -> 'n/a'."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}g}"


def ratio(a: float | None, b: float | None, digits: int = 1) -> str:
    """a / b with fixed decimals; 'n/a' when undefined."""
    if a is None or b is None or a != a or b != b or b == 0:
        return "n/a"
    return f"{a / b:.{digits}f}"


def count_of(n: int, total: int) -> str:
    """'3 of 8'."""
    return f"{n} of {total}"


def code_list(items: Iterable[str]) -> str:
    """['a', 'b', 'c'] -> '`a`, `b` and `c`' (Markdown: the var shortcode's value is parsed)."""
    items = [f"`{i}`" for i in items]
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def arch_name(arch: str) -> str:
    """torchvision name -> how papers write it: resnet50 -> ResNet-50."""
    match = re.fullmatch(r"(wide_)?resnet(\d+)(_\d+)?", arch)
    if match and not match.group(1) and not match.group(3):
        return f"ResNet-{match.group(2)}"
    return arch


_TASKS = {"shapes": "procedural shapes", "textures": "procedural shape-and-texture classes"}


def dataset_facts(config: Mapping[str, Any]) -> dict[str, str]:
    """Names of the fine-tuning and base tasks, and what the base network saw of the
    fine-tuning data, from the config."""
    data, base = config["data"], config["model"]["base"]
    source = data["source"]
    if source == "synthetic":
        synth = data["synthetic"]
        name = f"{_TASKS[synth['finetune_task']]} (the embedded synthetic demo)"
        overlap = (
            "The fine-tuning images are generated by the workflow and share drawing code, "
            "colours and backgrounds with the base task, but no image: the base network has "
            "not seen them."
        )
    elif source == "stanford_dogs":
        name = "Stanford Dogs"
        overlap = (
            "This run fine-tunes on Stanford Dogs, whose images are drawn from ImageNet: an "
            "ImageNet-pretrained base network has seen many of them, with ImageNet's labels, "
            "before fine-tuning."
        )
    elif source == "folder":
        name = f"the image folder `{Path(str((data.get('folder') or {}).get('path'))).name}` (one sub-folder per class)"
        overlap = (
            "This run fine-tunes on images from a folder given in the config; whether the base "
            "network saw any of them, or images like them, is not known to the workflow."
        )
    else:
        name = "Stanford Cars"
        overlap = (
            "This run fine-tunes on Stanford Cars, collected separately from ImageNet, so less "
            "overlap with the base network's training images is expected (not measured here)."
        )
    if base["source"] == "pretrain":
        base_task = _TASKS[data["synthetic"]["base_task"]] if source == "synthetic" else "the base task"
        base_weights = f"weights trained from scratch in this run on {base_task}"
    elif base["source"] == "torchvision":
        base_task = "ImageNet"
        base_weights = f"torchvision's ImageNet weights (`{base['weights']}`)"
    else:
        base_task = "its original task"
        base_weights = "weights read from a local file"
    return {"name": name, "source": source, "base_task": base_task, "base_weights": base_weights, "overlap": overlap}


def training_facts(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Accuracies and epochs of one training run (finetune_metrics.json or
    pretrain_metrics.json)."""
    facts = {
        "epochs": len(metrics["epochs"]),
        "chosen_epoch": metrics["chosen_epoch"] if metrics["chosen_epoch"] is not None else "none",
        "test_accuracy": pct(metrics["test_accuracy"]),
        "val_accuracy": pct(metrics["val_accuracy"]),
        "chance": pct(metrics["chance_accuracy"]),
        "n_classes": metrics["num_classes"],
        "n_train": metrics["num_train"],
        "n_val": metrics["num_val"],
        "n_test": metrics["num_test"],
    }
    settings = metrics.get("settings")
    if settings:  # trained here
        facts.update(optimizer=settings["optimizer"], lr=sig(settings["lr"]), batch_size=settings["batch_size"])
        facts["how"] = (
            f"It trained for {facts['epochs']} epochs with {facts['optimizer']} (peak learning rate {facts['lr']}, "
            f"batches of {facts['batch_size']}); the epoch with the highest validation accuracy, epoch "
            f"{facts['chosen_epoch']}, was kept, and the test split was evaluated once, with those weights."
        )
    else:  # model.finetuned.source file
        facts["how"] = (
            f"It was fine-tuned elsewhere and read from `{Path(str(metrics.get('path'))).name}`; the workflow "
            "checked that every module outside those equals the base network's, bit for bit, and evaluated "
            "it once on the validation and test splits."
        )
    return facts


def _layer_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": f"`{row['layer']}`",
        "state": "fine-tuned" if row["fine_tuned"] else "frozen",
        "median_cosine": num(row["median_cosine"]),
        "median_noise_cosine": num(row["median_noise_cosine"]),
        "noise_floor": num(row["noise_floor"]),
        "below_floor": count_of(int(row["n_below_floor"]), int(row["n_used"])),
        "share_below_floor": pct(row["share_below_floor"], 0),
        "median_gram": sig(row["median_gram"]),
        "median_gram_noise": sig(row["median_gram_noise"]),
        "gram_ratio": ratio(row["median_gram"], row["median_gram_noise"]),
    }


def _interval(est: float, lo: float, hi: float) -> str:
    """A share with its interval, '38% (95% CI 0-75%)'; 'not estimated' for no tested channel."""
    if pd.isna(est):
        return "not estimated (no tested channel)"
    return f"{pct(est, 0)} (95 % CI {pct(lo, 0)} to {pct(hi, 0)})"


def _test_facts(rows: Sequence[Mapping[str, Any]], fdr: float) -> dict[str, Any]:
    """The calibrated test and its null summed over layers (`rows`: compare/layers.csv
    records), and one sentence per layer."""
    def total(key):
        return int(sum(0 if pd.isna(r.get(key)) else r[key] for r in rows))

    sentences = []
    for r in rows:
        if not r["n_tested"] and r["n_identical"]:
            sentences.append(f"`{r['layer']}`: renders bit-identical in both networks (the determinism check, no test)")
            continue
        text = (f"`{r['layer']}`: {r['n_significant']} of {r['n_tested']} tested channels significant, estimated changed "
                f"share {_interval(r['changed_share'], r['changed_share_low'], r['changed_share_high'])}; null: ")
        if pd.isna(r.get("null_n_tested")):
            text += "not run"
        else:
            text += (f"{int(r['null_n_significant'])} of {int(r['null_n_tested'])} significant, changed share "
                     f"{_interval(r['null_changed_share'], r['null_changed_share_low'], r['null_changed_share_high'])}")
        sentences.append(text)
    n_tested, null_tested = total("n_tested"), total("null_n_tested")
    return {
        "fdr": sig(fdr),
        "ci_level": "95 %",
        "n_tested": n_tested,
        "n_significant": total("n_significant"),
        "significant": count_of(total("n_significant"), n_tested),
        "n_died": total("n_died"),
        "n_born": total("n_born"),
        "null_significant": count_of(total("null_n_significant"), null_tested),
        "null_n_significant": total("null_n_significant"),
        "null_false_positive_share": pct(total("null_n_significant") / null_tested if null_tested else float("nan"), 1),
        "null_layers_above_q": code_list(
            r["layer"] for r in rows
            if not pd.isna(r["null_false_positive_share"]) and r["null_false_positive_share"] > fdr
        ) or "none",
        "per_layer": "; ".join(sentences) + ".",
    }


def _gray_sentence(gray: Mapping[str, Any]) -> str:
    jump = f"a factor of {gray['jump']:.2f}" if gray.get("jump") else "none"
    if gray["method"] == "spike":
        return (
            f"The largest jump of the sorted scores ({jump}) reached the spike criterion "
            f"({sig(gray['min_jump'])}), so the cut lies at that jump: a threshold of "
            f"{sig(gray['threshold'])} squared 8-bit levels."
        )
    return (
        f"The largest jump of the sorted scores ({jump}) stayed below the spike criterion "
        f"({sig(gray['min_jump'])}), so the fallback threshold of {sig(gray['threshold'])} "
        "squared 8-bit levels applied."
    )


def _quality_facts(quality: pd.DataFrame) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for net, part in quality.groupby("net", sort=False):
        facts[net] = {
            "median_activation_ratio": f"{part.median_activation_ratio.median():.2f}",
            "min_activation_ratio": f"{part.median_activation_ratio.min():.2f}",
            "max_activation_ratio": f"{part.median_activation_ratio.max():.2f}",
            "own_channel_fraction": pct(float((part.own_channel_fraction * part.renders).sum() / part.renders.sum()), 0),
        }
    return facts


@dataclass(frozen=True)
class RunOutputs:
    """The core outputs the paper quotes, read once (:meth:`read`).

    finetune, pretrain: finetune_metrics.json, pretrain_metrics.json (None when the base
    network was not trained here); summary: compare/summary.json; layers:
    compare/layers.csv (one row per render layer); quality: renders/quality.csv (one row
    per network and layer)."""

    finetune: Mapping[str, Any]
    summary: Mapping[str, Any]
    layers: pd.DataFrame
    quality: pd.DataFrame
    pretrain: Mapping[str, Any] | None = None

    @classmethod
    def read(cls, *, finetune: str | Path, summary: str | Path, layers: str | Path, quality: str | Path,
             pretrain: str | Path | None = None) -> "RunOutputs":
        def read_json(path):
            return json.loads(Path(path).read_text())

        return cls(finetune=read_json(finetune), summary=read_json(summary), layers=pd.read_csv(layers),
                   quality=pd.read_csv(quality), pretrain=read_json(pretrain) if pretrain else None)


def build_variables(config: Mapping[str, Any], outputs: RunOutputs) -> dict[str, Any]:
    """Everything the manuscript quotes, as a nested dict of display strings and integers.

    Inputs are workflow outputs (finetune_metrics.json, pretrain_metrics.json when the
    base network was trained here, compare/summary.json, compare/layers.csv,
    renders/quality.csv) and the run's config. Wall-clock times are left out on purpose,
    so a rerun on the CPU writes the same file.
    """
    finetune, summary, layers, quality, pretrain = (
        outputs.finetune, outputs.summary, outputs.layers, outputs.quality, outputs.pretrain
    )
    render, cmp = config["render"], config["compare"]
    rows = layers.to_dict("records")
    n_renders = int(quality.renders.sum())
    frozen = [r["layer"] for r in rows if not r["fine_tuned"]]
    tuned = [r["layer"] for r in rows if r["fine_tuned"]]
    below = int(layers.n_below_floor.sum())
    used = int(layers.n_used.sum())
    gray = summary["gray"]
    n_gray_channels = int(layers.n_gray.sum())
    variables: dict[str, Any] = {
        "experiment": config["experiment"],
        "seed": config["seed"],
        "dataset": dataset_facts(config),
        "model": {
            "arch": config["model"]["arch"],
            "name": arch_name(config["model"]["arch"]),
            "image_size": config["data"]["image_size"],
        },
        "finetune": {
            **training_facts(finetune),
            "trainable": code_list(finetune["trainable_modules"]),
            "trainable_parameters": f"{finetune['trainable_parameters']:,}",
            "total_parameters": f"{finetune['total_parameters']:,}",
            "trainable_share": pct(finetune["trainable_parameters"] / finetune["total_parameters"], 0),
        },
        "base": {"trained_here": "yes" if pretrain else "no"},
        "render": {
            "layers": code_list(render["layers"]),
            "n_layers": len(render["layers"]),
            "channels": render["channels"] if render["channels"] == "all" else f"the first {render['channels']}",
            "n_channels": int(layers.n_channels.sum()),
            "n_seeds": len(render["seeds"]),
            "n_renders": n_renders,
            "size": render["size"],
            "steps": render["steps"],
            "lr": sig(render["lr"]),
            "param": render["param"],
            "redirect_steps": render["redirect_steps"],
        },
        "quality": _quality_facts(quality),
        "gray": {
            "n_renders": gray["n_renders"],
            "n_gray_renders": gray["n_gray_renders"],
            "n_gray_base": gray["gray_renders_by_net"]["base"],
            "n_gray_finetuned": gray["gray_renders_by_net"]["finetuned"],
            "n_gray_channels": n_gray_channels,
            "method": gray["method"],
            "threshold": sig(gray["threshold"]),
            "min_jump": sig(gray["min_jump"]),
            "cut": _gray_sentence(gray),
        },
        "compare": {
            "embedding": (
                f"the base network itself ({arch_name(config['model']['arch'])}, its pooled penultimate features)"
                if cmp["embedding"] == "base"
                else f"an independent {arch_name(cmp['embedding'])} (`{cmp['embedding_weights']}`)"
            ),
            "noise_percentile": sig(summary["noise_percentile"]),
            "n_channels": summary["n_channels"],
            "n_used": used,
            "n_below_floor": below,
            "below_floor": count_of(below, used),
            "share_below_floor": pct(below / used if used else float("nan"), 0),
            "frozen_layers": code_list(frozen),
            "finetuned_layers": code_list(tuned),
            "n_frozen_layers": len(frozen),
            "n_gram_layers": int(layers.n_feature_layers.max()),
            "layers_below_floor": code_list(r["layer"] for r in rows if r["n_below_floor"] > 0),
            "tests": _test_facts(rows, float(cmp["fdr"])),
            "null_seeds": ", ".join(str(x) for x in null_seeds(config)),
            "first": _layer_facts(rows[0]),
            "last": _layer_facts(rows[-1]),
        },
    }
    if pretrain:
        variables["pretrain"] = training_facts(pretrain)
    return variables


# ---------------------------------------------------------------------------------------
# Tables


def markdown_table(frame: pd.DataFrame, align: Sequence[str] | None = None) -> str:
    """A pipe table; `align` per column: 'l', 'r' or 'c' (numbers right, text left by default)."""
    if align is None:
        align = ["r" if pd.api.types.is_numeric_dtype(t) else "l" for t in frame.dtypes]
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(str(c) for c in frame.columns) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def training_table(finetune: Mapping[str, Any], pretrain: Mapping[str, Any] | None, dataset: Mapping[str, str]) -> str:
    rows = []
    if pretrain:
        rows.append(("base", dataset["base_task"], pretrain))
    rows.append(("fine-tuned", dataset["name"], finetune))
    frame = pd.DataFrame(
        [
            {
                "network": net,
                "task": task,
                "classes": m["num_classes"],
                "train / val / test images": f"{m['num_train']} / {m['num_val']} / {m['num_test']}",
                "chosen epoch": f"{m['chosen_epoch']} of {len(m['epochs'])}" if m["epochs"] else "fine-tuned elsewhere",
                "validation accuracy": pct(m["val_accuracy"]),
                "test accuracy": pct(m["test_accuracy"]),
                "chance": pct(m["chance_accuracy"]),
            }
            for net, task, m in rows
        ]
    )
    return markdown_table(frame, ["l", "l", "r", "r", "r", "r", "r", "r"])


def layers_table(layers: pd.DataFrame) -> str:
    frame = pd.DataFrame(
        [
            {
                "layer": f"`{r['layer']}`",
                "state": "fine-tuned" if r["fine_tuned"] else "frozen",
                "channels used (gray)": f"{r['n_used']} ({r['n_gray']})",
                "median cosine, base vs fine-tuned": num(r["median_cosine"]),
                "median cosine, seed vs seed": num(r["median_noise_cosine"]),
                "noise floor": num(r["noise_floor"]),
                "below the floor": f"{r['n_below_floor']} ({pct(r['share_below_floor'], 0)})",
                "median Gram distance, base vs fine-tuned / seed vs seed": f"{sig(r['median_gram'])} / {sig(r['median_gram_noise'])}",
            }
            for r in layers.to_dict("records")
        ]
    )
    return markdown_table(frame, ["l", "l", "r", "r", "r", "r", "r", "r"])


def tests_table(layers: pd.DataFrame) -> str:
    """Per layer: the calibrated test beside the null experiment (compare/layers.csv)."""
    def share(r, prefix=""):
        est, lo, hi = (r[f"{prefix}changed_share{x}"] for x in ("", "_low", "_high"))
        return f"{pct(est, 0)} [{pct(lo, 0)}, {pct(hi, 0)}]" if not pd.isna(est) else "n/a"

    frame = pd.DataFrame(
        [
            {
                "layer": f"`{r['layer']}`",
                "state": "fine-tuned" if r["fine_tuned"] else "frozen",
                "tested": r["n_tested"],
                "significant": f"{r['n_significant']} ({pct(r['share_significant'], 0)})",
                "changed share [95% CI]": share(r),
                "died / born": f"{r['n_died']} / {r['n_born']}",
                "bit-identical": r["n_identical"],
                "null: significant (false positives)": (
                    "not run" if pd.isna(r["null_n_tested"]) else f"{int(r['null_n_significant'])} of {int(r['null_n_tested'])}"
                ),
                "null: changed share [95% CI]": share(r, "null_"),
            }
            for r in layers.to_dict("records")
        ]
    )
    return markdown_table(frame, ["l", "l", "r", "r", "r", "r", "r", "r", "r"])


def quality_table(quality: pd.DataFrame) -> str:
    frame = pd.DataFrame(
        [
            {
                "network": r["net"],
                "layer": f"`{r['layer']}`",
                "renders": r["renders"],
                "median activation ratio": f"{r['median_activation_ratio']:.2f}",
                "own-channel fraction": pct(r["own_channel_fraction"], 0),
            }
            for r in quality.to_dict("records")
        ]
    )
    return markdown_table(frame, ["l", "l", "r", "r", "r"])


def gram_table(summary: Mapping[str, Any]) -> str:
    """Median Gram distance per Gram layer (rows) and render layer (columns), base vs
    fine-tuned beside seed vs seed."""
    by_layer = summary["gram_by_feature_layer"]
    features = list(dict.fromkeys(f for fs in by_layer.values() for f in fs))
    rows = []
    for feature in features:
        row = {"Gram layer": f"`{feature}`"}
        for layer, fs in by_layer.items():
            d = fs.get(feature, {})
            row[f"`{layer}`"] = f"{sig(d.get('median_gram'))} / {sig(d.get('median_gram_noise'))}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    return markdown_table(frame, ["l"] + ["r"] * (len(frame.columns) - 1))


def settings_table(config: Mapping[str, Any], dataset: Mapping[str, str]) -> str:
    """The run's main settings, straight from the config."""
    render, ft, cmp = config["render"], config["finetune"], config["compare"]
    rows = [
        ("experiment", f"`{config['experiment']}`"),
        ("fine-tuning data", dataset["name"]),
        ("network", f"{arch_name(config['model']['arch'])} (`{config['model']['arch']}`), {config['data']['image_size']} px input"),
        ("base weights", dataset["base_weights"]),
        ("trained in fine-tuning", code_list(ft["trainable"]) + ", with a new classifier head"),
        ("fine-tuning", f"{ft['epochs']} epochs, {ft['optimizer']}, peak learning rate {sig(ft['lr'])}, batch {ft['batch_size']}"),
        ("rendered layers", code_list(render["layers"])),
        ("channels per layer", str(render["channels"])),
        ("render seeds", ", ".join(str(s) for s in render["seeds"])),
        ("render", f"{render['param']} parameterization, {render['size']} px, {render['steps']} steps, Adam lr {sig(render['lr'])}"),
        ("embedding network", "base" if cmp["embedding"] == "base" else f"`{cmp['embedding']}` (`{cmp['embedding_weights']}`)"),
        ("null experiment seeds", ", ".join(str(s) for s in null_seeds(config))),
        ("per-channel test", f"seed-flip effect size, pooled flip null, Benjamini-Hochberg per layer at q = {sig(cmp['fdr'])}"),
        ("noise floor (descriptive)", f"percentile {sig(cmp['noise_percentile'])} of the seed-vs-seed cosines"),
        ("master seed", str(config["seed"])),
    ]
    return markdown_table(pd.DataFrame(rows, columns=["setting", "value"]), ["l", "l"])


def build_tables(config: Mapping[str, Any], outputs: RunOutputs) -> dict[str, str]:
    """File name (under tables/) -> Markdown table."""
    dataset = dataset_facts(config)
    return {
        "settings.md": settings_table(config, dataset),
        "training.md": training_table(outputs.finetune, outputs.pretrain, dataset),
        "quality.md": quality_table(outputs.quality),
        "layers.md": layers_table(outputs.layers),
        "tests.md": tests_table(outputs.layers),
        "gram.md": gram_table(outputs.summary),
    }


TABLES = ("settings.md", "training.md", "quality.md", "layers.md", "tests.md", "gram.md")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_variables(path: str | Path, variables: Mapping[str, Any]) -> None:
    """YAML in insertion order, unicode kept, long strings unwrapped."""
    write_text(path, yaml.safe_dump(dict(variables), sort_keys=False, allow_unicode=True, width=10_000))


# ---------------------------------------------------------------------------------------
# Staging and rendering


def placeholder(section: str, missing: Sequence[str]) -> str:
    """The text staged for a section whose files this workflow does not produce."""
    files = ", ".join(f"`{m}`" for m in missing)
    return (
        "::: {.callout-note}\n"
        f"This section is not part of this run: its inputs ({files}) are not outputs of "
        "this version of the workflow, so the paper was built without it.\n"
        ":::\n"
    )


INSTALL_HINT = (
    "The paper rule needs Quarto (https://quarto.org), which is not on PATH. Install it with "
    "`pip install quarto-cli` in the workflow's environment (it brings pandoc and Typst, so the "
    "PDF needs no LaTeX), or from https://quarto.org/docs/get-started/, then rerun "
    "`snakemake --cores all paper`. Without Quarto, `snakemake --report report.html` gives a "
    "browsable report of the same run."
)


def stage(
    paper_dir: str | Path,
    results_dir: str | Path,
    out_dir: str | Path,
    enabled: Mapping[str, bool],
    missing: Mapping[str, Sequence[str]] | None = None,
) -> Manifest:
    """Copy the manuscript and everything it reads into `out_dir` (results/{exp}/paper/).

    `out_dir` already holds variables.yml and tables/ (written by the paper_variables
    rule); variables.yml is copied to _variables.yml, where Quarto reads variables.
    Figures are copied from `results_dir` to the same relative path under `out_dir`
    (Typst reads only files below the project folder). A section that is not `enabled`
    is staged as a placeholder naming its `missing` files.
    """
    paper_dir, results_dir, out_dir = Path(paper_dir), Path(results_dir), Path(out_dir)
    manifest = read_manifest(paper_dir, lambda s: enabled.get(s, True))
    for name in SOURCES:
        shutil.copyfile(paper_dir / name, out_dir / name)
    for section in manifest.sections:
        target = out_dir / section
        target.parent.mkdir(parents=True, exist_ok=True)
        if enabled.get(section, True):
            shutil.copyfile(paper_dir / section, target)
        else:
            target.write_text(placeholder(section, (missing or {}).get(section, [])))
    for figure in manifest.figures:
        target = out_dir / figure
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results_dir / figure, target)
    shutil.copyfile(out_dir / VARIABLES_FILE, out_dir / "_variables.yml")
    return manifest


def sections_missing(paper_dir: str | Path, results_dir: str, rules: Iterable[Any]) -> dict[str, list[str]]:
    """Per section the manuscript includes: the files it reads that none of `rules`
    (Snakemake rules, anything with ``is_producer(path)``) declares as output. Figures are
    looked for under `results_dir`, tables under `results_dir`/paper."""
    rules = list(rules)

    def produced(path: str) -> bool:
        return any(rule.is_producer(path) for rule in rules)

    missing = {}
    for section in read_manifest(paper_dir, lambda s: False).sections:
        reads = section_manifest(paper_dir, section)
        missing[section] = [f for f in reads.figures if not produced(f"{results_dir}/{f}")] + [
            t for t in reads.tables if not produced(f"{results_dir}/paper/{t}")
        ]
    return missing


def require_quarto(dryrun: bool = False) -> list:
    """An input function's answer (no files); raises with how to install Quarto when it is
    not on PATH, unless this is a dry run (which only shows the plan)."""
    if shutil.which("quarto") is None and not dryrun:
        raise RuntimeError(INSTALL_HINT)
    return []


def missing_variables(manifest: Manifest, variables: Mapping[str, Any]) -> list[str]:
    """Variables the manuscript reads that `variables` does not define."""
    defined = flatten(variables)
    return [v for v in manifest.variables if v not in defined]


# The config keys the paper's variables and tables read (section -> keys; None: the whole
# value). The paper_variables rule gets only these, so an edit elsewhere does not rerun it.
CONFIG_KEYS: dict[str, tuple[str, ...] | None] = {
    "experiment": None,
    "seed": None,
    "data": ("source", "synthetic", "folder", "image_size"),
    "model": ("arch", "base"),
    "finetune": ("trainable", "epochs", "batch_size", "lr", "optimizer"),
    "render": ("layers", "channels", "seeds", "size", "steps", "lr", "param", "redirect_steps"),
    "compare": ("embedding", "embedding_weights", "noise_percentile", "fdr", "null_seeds"),
}


def used_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `config` the paper reads (:data:`CONFIG_KEYS`); missing keys stay missing."""
    out: dict[str, Any] = {}
    for section, keys in CONFIG_KEYS.items():
        if section not in config:
            continue
        value = config[section]
        out[section] = value if keys is None else {k: value[k] for k in keys if k in value}
    return out


def write_inputs(
    config: Mapping[str, Any],
    *,
    finetune: str | Path,
    summary: str | Path,
    layers: str | Path,
    quality: str | Path,
    pretrain: str | Path | None,
    out_variables: str | Path,
    out_tables: Sequence[str | Path],
    stage_variables: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Read the run's outputs, write variables.yml and the tables; returns the variables.

    `out_tables` are paths whose file names are :data:`TABLES`. `stage_variables`
    ({stage: variables}, from vischange.registry) go in under the stage's name, which
    must not be one of the core names (ValueError).
    """
    outputs = RunOutputs.read(finetune=finetune, summary=summary, layers=layers, quality=quality, pretrain=pretrain)
    variables = build_variables(config, outputs)
    clash = sorted(set(stage_variables or {}) & set(variables))
    if clash:
        raise ValueError(f"stage variables {clash} would replace the paper's own; rename the stage's key")
    variables.update(stage_variables or {})
    write_variables(out_variables, variables)
    tables = build_tables(config, outputs)
    for path in out_tables:
        write_text(path, tables[Path(path).name])
    log.info("wrote %d variables and %d tables", len(flatten(variables)), len(out_tables))
    return variables


def render(
    paper_dir: str | Path,
    results_dir: str | Path,
    out_dir: str | Path,
    enabled: Mapping[str, bool],
    missing: Mapping[str, Sequence[str]],
    quarto: str | None = None,
) -> tuple[Path, Path]:
    """Stage the project in `out_dir` and render it with Quarto to index.html and index.pdf.

    Stops before rendering when Quarto is missing (with how to install it) or when the
    manuscript reads a variable that variables.yml does not define. Quarto's output goes
    to the log.
    """
    import subprocess

    quarto = quarto or shutil.which("quarto")
    if quarto is None:
        raise RuntimeError(INSTALL_HINT)
    out_dir = Path(out_dir)
    manifest = stage(paper_dir, results_dir, out_dir, enabled, missing)
    for section, files in missing.items():
        if files:
            log.warning("section %s left out: no rule writes %s", section, ", ".join(files))
    variables = yaml.safe_load((out_dir / VARIABLES_FILE).read_text())
    undefined = missing_variables(manifest, variables)
    if undefined:
        raise RuntimeError(f"the manuscript reads variables that {VARIABLES_FILE} does not define: {', '.join(undefined)}")
    proc = subprocess.run([quarto, "render", "."], cwd=out_dir, capture_output=True, text=True)
    log.info("quarto render:\n%s%s", proc.stdout, proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"quarto render failed with exit status {proc.returncode}; its output is in the log")
    html, pdf = out_dir / "index.html", out_dir / "index.pdf"
    for path in (html, pdf):
        if not path.is_file():
            raise RuntimeError(f"quarto render did not write {path}")
    return html, pdf
