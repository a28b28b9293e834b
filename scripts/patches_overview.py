"""Rule patches_overview: every tested (network, direction) of the atlas-patch experiment in one table and figure."""
from vischange.patches import stages
from vischange.runtime import start_job

start_job(snakemake)
stages.overview_stage(
    snakemake.input.summaries,
    networks=snakemake.params.networks,
    out_table=snakemake.output.table,
    out_margin=snakemake.output.margin,
    out_figure=snakemake.output.figure,
)
