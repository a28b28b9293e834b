"""Rule activation_change_figure: the figure of activation_change's three tables."""
from vischange.change import jobs
from vischange.runtime import start_job

start_job(snakemake)
jobs.activation_change_figure(snakemake.input.layers, snakemake.input.channels, snakemake.input.weights, snakemake.output)
