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
# Last: it checks which of the paper's sections the rules above can feed.
include: "workflow/rules/paper.smk"


# `snakemake --report report.html`: the figures marked with report() and their captions.
report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        f"{R}/models/finetune_metrics.json",
        f"{R}/compare/channels.csv",
        f"{R}/renders/quality.csv",
        f"{R}/compare/gram.csv",
        f"{R}/compare/layers.csv",
        f"{R}/compare/summary.json",
        expand(
            f"{R}/topmaps/{{net}}/{{name}}",
            net=NETS,
            name=["top_maps.csv", "detector.csv", "lists.png", "lists.pdf"],
        ),
        expand(
            f"{R}/attribution/{{net}}/{{name}}",
            net=NETS,
            name=["attributions.csv", "embedding.csv", "confusion.csv"],
        ),
        [
            figure_files(name)
            for name in (
                "render_pairs",
                "most_changed",
                "least_changed",
                "random_channels",
                "cosine_by_layer",
                "gram_by_layer",
                "gray_scores",
                "gray_counts",
            )
        ],
        # What the paper reads besides the figures (no Quarto needed); the paper itself
        # is the separate target `paper`.
        f"{R}/paper/{vpaper.VARIABLES_FILE}",
        [f"{R}/paper/{vpaper.TABLES_DIR}/{name}" for name in vpaper.TABLES],
        atlas_outputs(),
        patch_outputs(),
        [figure_files(name) for name in ATLAS_FIGURES],
        [figure_files(name) for name in ("topmaps", "topmaps_separation", "attribution", "decision_boundary")],
        domain_outputs(),
