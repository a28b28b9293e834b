# The paper: variables and tables from the run's outputs (paper_variables), then the
# Quarto manuscript in paper/ staged with everything it reads and rendered to HTML and
# PDF (paper). Not part of `rule all`: `snakemake --cores all paper` builds it, and only
# that target needs Quarto. Include this file last: it asks the rules defined before it
# which of the manuscript's optional sections their outputs can feed.
from vischange import paper as vpaper

PAPER_DIR = f"{workflow.basedir}/paper"
_PRETRAIN_METRICS = (
    [f"{R}/models/pretrain_metrics.json"] if config["model"]["base"]["source"] == "pretrain" else []
)


# Optional sections (atlases, top maps) go in only when the workflow writes all they read.
PAPER_MISSING = vpaper.sections_missing(
    PAPER_DIR, R, [r for r in workflow.rules if r.name not in ("paper", "all")]
)
PAPER_ENABLED = {s: not missing for s, missing in PAPER_MISSING.items()}
PAPER_READS = vpaper.read_manifest(PAPER_DIR, PAPER_ENABLED.get)


rule paper_variables:
    """Numbers (variables.yml, for Quarto's var shortcode) and tables (tables/*.md) the paper quotes."""
    input:
        finetune=f"{R}/models/finetune_metrics.json",
        pretrain=_PRETRAIN_METRICS,
        summary=f"{R}/compare/summary.json",
        layers=f"{R}/compare/layers.csv",
        quality=f"{R}/renders/quality.csv",
        # Each stage's own numbers (register_paper_variables), named {stage}__{name}.
        **{f"{stage}__{name}": path for stage, files in PAPER_FILES.items() for name, path in files.items()},
    output:
        variables=f"{R}/paper/{vpaper.VARIABLES_FILE}",
        tables=[f"{R}/paper/{vpaper.TABLES_DIR}/{name}" for name in vpaper.TABLES],
    params:
        # Only the keys the paper quotes: editing any other setting does not rerun this job.
        config=vpaper.used_config(config),
        stage_files={stage: list(files) for stage, files in PAPER_FILES.items()},
    localrule: True
    log:
        log_file("paper_variables"),
    benchmark:
        bench_file("paper_variables")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/paper_variables.py"


# What the paper reads besides the figures (no Quarto needed); the paper itself is the
# separate target `paper`.
register_stage("paper", [f"{R}/paper/{vpaper.VARIABLES_FILE}"] + [f"{R}/paper/{vpaper.TABLES_DIR}/{name}" for name in vpaper.TABLES])


rule paper:
    """Stage the manuscript with its variables, tables and figures in results/{experiment}/paper/ and render HTML and PDF (Typst)."""
    input:
        # No file: stops the run before any job starts when Quarto is missing.
        lambda wildcards: vpaper.require_quarto(dryrun=workflow.dryrun),
        sources=[f"{PAPER_DIR}/{name}" for name in vpaper.SOURCES]
        + [f"{PAPER_DIR}/{s}" for s in PAPER_READS.sections if PAPER_ENABLED[s]],
        variables=f"{R}/paper/{vpaper.VARIABLES_FILE}",
        tables=[f"{R}/paper/{t}" for t in PAPER_READS.tables],
        figures=[f"{R}/{f}" for f in PAPER_READS.figures],
    output:
        html=f"{R}/paper/index.html",
        pdf=f"{R}/paper/index.pdf",
    params:
        enabled=PAPER_ENABLED,
        missing=PAPER_MISSING,
    localrule: True
    log:
        log_file("paper"),
    benchmark:
        bench_file("paper")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/paper.py"


document_outputs(
    "paper",
    """
paper/variables.yml                      every number the paper quotes, as Quarto variables (from the outputs above
                                         and the config; no wall-clock time)
paper/tables/{settings,training,quality,layers,tests,gram}.md   the paper's tables, as Markdown
paper/index.html, paper/index.pdf        target `paper` only (needs Quarto): the rendered paper; the staged
                                         manuscript (index.qmd, _variables.yml, figures/, sections/) sits beside them
""",
)
