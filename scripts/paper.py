"""Rule paper: stage the Quarto manuscript with what it reads and render HTML and PDF."""
from pathlib import Path

from vischange import paper
from vischange.runtime import start_job

start_job(snakemake)
out_dir = Path(snakemake.output.html).parent  # results/{experiment}/paper
paper.render(
    paper_dir=Path(snakemake.input.sources[0]).parent,
    results_dir=out_dir.parent,
    out_dir=out_dir,
    enabled=snakemake.params.enabled,
    missing=snakemake.params.missing,
)
