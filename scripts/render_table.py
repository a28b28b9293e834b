"""Rule render_table: concatenate a layer's chunk tables into renders.csv."""
from vischange.render import chunk
from vischange.runtime import start_job

start_job(snakemake)
chunk.merge_tables(snakemake.input, snakemake.output[0])
