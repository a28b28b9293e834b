"""Rule figure_top_channels: the most and least changed channels per layer."""
import pandas as pd

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
channels = pd.read_csv(snakemake.input.channels)
dirs = plots.render_dirs(snakemake.input.tables)
p = snakemake.params
plots.top_channels(channels, dirs, p.seed, p.k, True, snakemake.output.most)
plots.top_channels(channels, dirs, p.seed, p.k, False, snakemake.output.least)
