"""Rule render_table: join a layer's chunk tables and dataset statistics into renders.csv."""
from vischange.render import tables
from vischange.runtime import start_job

start_job(snakemake)
tables.merge_tables(snakemake.input.chunks, snakemake.output[0], dataset_stats=snakemake.input.stats)
