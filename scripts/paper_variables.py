"""Rule paper_variables: the numbers (variables.yml) and tables the paper quotes, from the run's outputs."""
from vischange import paper
from vischange.runtime import start_job

start_job(snakemake)
paper.write_inputs(
    snakemake.params.config,
    finetune=snakemake.input.finetune,
    summary=snakemake.input.summary,
    layers=snakemake.input.layers,
    quality=snakemake.input.quality,
    pretrain=snakemake.input.pretrain[0] if snakemake.input.pretrain else None,
    out_variables=snakemake.output.variables,
    out_tables=snakemake.output.tables,
)
