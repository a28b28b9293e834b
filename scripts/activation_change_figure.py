"""Rule activation_change_figure: the figure of activation_change's three tables."""
from vischange.change import stages
from vischange.runtime import start_job

start_job(snakemake)
stages.activation_change_figure(snakemake.input.layers, snakemake.input.channels, snakemake.input.weights, snakemake.output)
