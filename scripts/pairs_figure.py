"""Rule pairs_figure: per-layer change for every pair of networks."""
from vischange.pairs import stages
from vischange.runtime import start_job

start_job(snakemake)
stages.pairs_figure(snakemake.input.layers, snakemake.input.weights, snakemake.input.noise, snakemake.output)
