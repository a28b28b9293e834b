"""Rule activation_crosscheck: render-based against activation-based change, per layer."""
from vischange.change import stages
from vischange.runtime import start_job

start_job(snakemake)
p = snakemake.params
stages.crosscheck(
    snakemake.input.render,
    snakemake.input.activation,
    n_boot=p.n_boot,
    confidence=p.confidence,
    seed=p.seed,
    out_table=snakemake.output.table,
    out_figure=snakemake.output.figure,
)
