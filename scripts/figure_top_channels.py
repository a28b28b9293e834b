"""Rule figure_top_channels: the most and least changed channels per layer."""
import pandas as pd

from vischange.compare import figures
from vischange.paths import keyed
from vischange.runtime import start_job

start_job(snakemake)
channels = pd.read_csv(snakemake.input.channels)
dirs = figures.render_dirs(keyed(snakemake.params.tables, snakemake.input.tables))
p = snakemake.params
figures.top_channels(channels, dirs, p.seed, p.k, True, snakemake.output.most)
figures.top_channels(channels, dirs, p.seed, p.k, False, snakemake.output.least)
