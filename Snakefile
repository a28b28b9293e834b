# vischange: how fine-tuning changes a pretrained CNN's features.
# Default: the embedded demo (config/config.yaml). A --configfile replaces it whole,
# so config/dogs.yaml or config/test.yaml stand on their own.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The package in this checkout is what the rules run, installed or not
# (also inside --sdm conda environments, which hold only its dependencies):
# the parser imports it from src/, and so do the jobs through PYTHONPATH.
sys.path.insert(0, f"{workflow.basedir}/src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (f"{workflow.basedir}/src", os.getenv("PYTHONPATH")) if p)
)

if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/atlas_common.smk"
include: "workflow/rules/atlas.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/topmaps.smk"
include: "workflow/rules/patches_common.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/domain.smk"


# Every other rule file is a stage that needs only what the files above define: it is
# included here, in name order, with no edit to this file (docs/ARCHITECTURE.md).
for _stage_file in stage_rule_files(
    f"{workflow.basedir}/workflow/rules",
    known=["common", "data", "models", "render", "compare", "figures", "atlas_common", "atlas", "attribution",
           "topmaps", "patches_common", "patches", "domain", "paper"],
):

    include: _stage_file


# Last: it checks which of the paper's sections the rules above can feed.
include: "workflow/rules/paper.smk"


# `snakemake --report report.html`: the figures marked with report() and their captions.
report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        # Built from the stage registry (workflow/rules/common.smk): each stage's rule file
        # registers its outputs and paper figures.
        all_targets(),
        f"{R}/contract.json",


document_outputs(
    "workflow",
    """
contract.json                            what the run promised, from the stage registry: {stages: {stage: [outputs]},
                                         figures: {name: {stage, category, caption, files}}}
""",
)


rule contract:
    """What this run promises: each stage's final outputs and the paper figures with their captions."""
    output:
        f"{R}/contract.json",
    params:
        stages=STAGES,
        figures={name: f for name, f in FIGURES.items() if f["stage"] in STAGES},
        documented=DOCUMENTED,
    localrule: True
    log:
        log_file("contract"),
    benchmark:
        bench_file("contract")
    conda:
        "envs/vischange.yaml"
    script:
        "scripts/contract.py"
