# Config validation (schema, then checks against the real model) and shared names.
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from vischange import archinfo
from vischange import config as vcfg
from vischange.registry import validate_and_check
from vischange.paths import Layout
from vischange.datasets import folder as vfolder
from vischange.datasets import stanford
from vischange import runtime as vrun
from vischange.pairs import spec as vvariants

_SCHEMA = f"{workflow.basedir}/workflow/schemas/config.schema.yaml"

try:
    LAYER_CHANNELS = validate_and_check(config, _SCHEMA)
except vcfg.ConfigError as err:
    raise WorkflowError(str(err)) from None

# A network job's GPU tag and threads are functions: Snakemake evaluates them when it
# plans the job, once the executor is known (it is not while this file is parsed).


def _local_run():
    """Jobs run on this machine: a local run, not a cluster submission, not a dry run (which
    shows the tags as a cluster would get them), not a job's process on a node."""
    return workflow.local_exec and not workflow.dryrun and workflow.is_main_process


def GPU(wildcards):
    """resources: gpu of a network job: 1, or 0 where it cannot use one (vischange.runtime.gpu_request)."""
    return vrun.gpu_request(config["device"], local=_local_run())


# Which ready job starts first (Snakemake's priority; others 0): training, on which every
# network job waits, then the renders, on which the comparison and most figures wait, then
# the atlas-to-patches chain (collect, layout, icons, patch renders and experiments), the
# longest chain of jobs in the workflow: started late, it ran alone at the end of the demo.
PRIORITY = {"training": 100, "renders": 50, "atlas": 40}


def side_by_side(most):
    """threads: of a network job from fine-tuning on: `most`, at most half of a local run's cores."""

    def threads(wildcards):
        return vrun.side_by_side_threads(most, workflow.resource_settings.cores if _local_run() else None)

    return threads


EXP = config["experiment"]
# The results layout (vischange.layout): rule files and library share it.
L = Layout.of(EXP)
R = L.root
LOGS = f"logs/{EXP}"
BENCH = f"benchmarks/{EXP}"
# The study's pair, which every comparison stage compares ...
NETS = list(vvariants.MAIN)
# ... and the fine-tuning variants (variants: in the config; vischange.variants): more
# fine-tuned networks, rendered like these two and compared pairwise (pairs.smk).
VARIANTS = vvariants.names(config)
ALL_NETS = vvariants.networks(config)
LAYERS = config["render"]["layers"]
SEEDS = config["render"]["seeds"]
# The null experiment (compare.null_seeds): the base network rendered again with other
# seeds, under renders/basenull/, and compared with its own renders as if with another network.
NULL_NET = "basenull"
NULL_SEEDS = vcfg.null_seeds(config)
_SELECTED = vcfg.selected_channels(config, LAYER_CHANNELS)
CHANNELS = {layer: _SELECTED[layer] for layer in LAYERS}  # in render.layers order
# The render jobs of one network: [(layer, channels), ...] per chunk (vischange.config.chunks).
CHUNKS = vcfg.chunks(CHANNELS, config["render"]["chunk_size"])
SPLITS = ["train", "val", "test"]
# The render section as render jobs see it: MACO's own settings only when param is maco,
# so that editing them does not rerun Fourier renders.
# {(net, layer): renders.csv}; rules that read them pass keys as params, paths as input.
RENDER_TABLES = L.render_tables(NETS, LAYERS)
ALL_RENDER_TABLES = L.render_tables(ALL_NETS, LAYERS)
# The null experiment runs where the comparison is a test: layers with something trained
# at or before them (elsewhere the renders are bit-identical, a determinism check).
NULL_LAYERS = vcfg.tested_layers(
    LAYERS, config["finetune"]["trainable"], archinfo.info(config["model"]["arch"], config["data"]["image_size"]).modules
)
NULL_CHUNKS = vcfg.chunks({layer: CHANNELS[layer] for layer in NULL_LAYERS}, config["render"]["chunk_size"])
NULL_TABLES = L.render_tables([NULL_NET], NULL_LAYERS)
RENDER = {k: v for k, v in config["render"].items() if k != "maco" or config["render"]["param"] == "maco"}


wildcard_constraints:
    net="|".join(ALL_NETS),
    layer="|".join(re.escape(layer) for layer in LAYERS),
    chunk=r"\d+",
    split="|".join(SPLITS),


# The stage registry. Each stage's rule file registers what `rule all` builds of it
# (register_stage) and declares its paper figures with report_figure, which registers
# them too; `rule all`, the report and results/{experiment}/contract.json (which the
# tests read) are built from these two registries. document_outputs adds the stage's rows
# of the output contract in config/README.md (vischange.contract builds the table).
STAGES = {}  # stage -> final outputs
FIGURES = {}  # paper figure -> {"stage", "category", "caption", "files"}
DOCUMENTED = []  # [(stage, rows)]: config/README.md's output contract, in include order
PAPER_FILES = {}  # stage -> {name: path}: what vischange.<stage>.variables reads for the paper


def stage_rule_files(folder, known):
    """The .smk files in `folder` not named in `known` (stems), in name order: stages
    that the Snakefile includes without naming them."""
    return sorted(f"{folder}/{f}" for f in os.listdir(folder) if f.endswith(".smk") and f[:-4] not in known)


def register_stage(name, outputs=()):
    """Add `outputs` (paths) to stage `name`'s final outputs; a stage may register in parts."""
    STAGES.setdefault(name, []).extend(str(o) for o in outputs)


def document_outputs(stage, rows):
    """Document `stage`'s outputs in the output contract: rows of a path pattern under
    results/{experiment}/ at column 0 and its description (continuation lines indented).
    Call it whatever the config, so that every config gives the same table;
    `python -m vischange.contract` writes it into config/README.md."""
    DOCUMENTED.append((stage, rows))


def register_paper_variables(stage, files):
    """The files (name -> path) from which vischange.<stage>.variables.paper_variables
    computes the stage's numbers in the paper; the paper_variables job reads them and
    writes the result under `stage` in variables.yml."""
    PAPER_FILES.setdefault(stage, {}).update({name: str(path) for name, path in files.items()})


def figure_files(name):
    """A figure is declared as both PNG and PDF."""
    return L.figure(name)


def report_figure(name, category, stage):
    """A paper figure of `stage`: its PNG, marked for `snakemake --report` with the caption
    workflow/report/{name}.rst, and its PDF; registered, so `rule all` and the report
    include it. Call it in a rule file under workflow/rules/ (report() resolves the
    caption relative to the file that defines the rule)."""
    png, pdf = figure_files(name)
    caption = f"workflow/report/{name}.rst"
    if not os.path.isfile(f"{workflow.basedir}/{caption}"):
        raise WorkflowError(f"figure {name!r} of stage {stage!r} has no caption: write {caption}")
    FIGURES[name] = {"stage": stage, "category": category, "caption": caption, "files": [png, pdf]}
    return [report(png, caption=f"../report/{name}.rst", category=category), pdf]


def all_targets():
    """The targets of the default run (all), every registered stage's outputs and paper figures."""
    return [o for outputs in STAGES.values() for o in outputs] + [
        f for figure in FIGURES.values() if figure["stage"] in STAGES for f in figure["files"]
    ]


def log_file(folder, key=None):
    """A job's log, logs/{experiment}/{folder}/{key}.log. `folder` is the rule's name (the
    render chunks' rules share "render"); `key` is left out for a rule with one job, else
    it is the job's wildcards as a path ("{net}/{layer}")."""
    return f"{LOGS}/{folder}/{key or folder}.log"


def bench_file(folder, key=None):
    """The job's Snakemake benchmark, benchmarks/{experiment}/{folder}/{key}.tsv (as
    log_file): the README's per-rule timings are read from these."""
    return f"{BENCH}/{folder}/{key or folder}.tsv"


def render_pngs(net, layer, channels, seeds=SEEDS):
    """A layer's render PNGs in a render job's order: each channel's seeds together."""
    return [L.render_png(net, layer, c, s) for c in channels for s in seeds]


def train_params(section):
    """Params of a training rule: its config section, the seed and the device."""
    return {"settings": config[section], "seed": config["seed"], "device": config["device"]}


def retry_mem_mb(mb):
    """Memory request in MiB for a job's attempt: doubles on each retry (an out-of-memory
    kill is the usual reason a cluster job fails)."""
    return lambda wildcards, attempt: mb * 2 ** (attempt - 1)


def retry_runtime(minutes):
    """Wall-time request in minutes for a job's attempt: grows with each retry."""
    return lambda wildcards, attempt: minutes * attempt


def net_figure(stage, name):
    """A per-network figure of a stage as PNG and PDF: {R}/{stage}/{net}/{name}.{png,pdf},
    with {net} left as the rule's wildcard."""
    return [f"{R}/{stage}/{{net}}/{name}.png", f"{R}/{stage}/{{net}}/{name}.pdf"]


# Domain shift (domain.smk): on unless domain.source is none.
DOMAIN_ON = config["domain"]["source"] != "none"
# A user-given target folder that is not there yet leaves the stage out of `rule all`
# (the rest of the study runs); asking for a domain output then stops at target_data,
# which names the key.
DOMAIN_IN_ALL = DOMAIN_ON and (config["domain"]["source"] != "folder" or os.path.isdir(config["domain"]["folder"]))
if DOMAIN_ON and not DOMAIN_IN_ALL:
    logger.warning(
        f"domain: the target folder domain.folder={config['domain']['folder']!r} does not exist; the domain-shift "
        "study is left out of this run (put one sub-folder of images per class there, or set domain.source: none)"
    )


# The paper's per-network domain figures, both networks side by side (rule domain_figures).
DOMAIN_FIGURES = ("domain_confusion", "domain_detector", "domain_overlays")


def domain_outputs():
    """What `rule all` builds of the domain-shift stage besides its paper figures."""
    per_net = ["accuracy.csv", "confusion_source.csv", "confusion_target.csv", "detector.csv", "overlays.csv"]
    per_net += [f"{name}.{ext}" for name in ("confusion", "detector", "overlays", "class_sums") for ext in ("png", "pdf")]
    return expand(f"{R}/domain/{{net}}/{{name}}", net=ALL_NETS, name=per_net) + [
        f"{R}/domain/compare.csv",
        f"{R}/domain/summary.csv",
    ]
