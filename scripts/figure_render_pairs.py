"""Rule figure_render_pairs: base over fine-tuned renders per layer."""
import pandas as pd

from vischange.compare import figures
from vischange.paths import keyed
from vischange.runtime import start_job

start_job(snakemake)
dirs = figures.render_dirs(keyed(snakemake.params.tables, snakemake.input.tables))
figures.render_pairs(pd.read_csv(snakemake.input.channels), dirs, snakemake.params.seed, snakemake.output)
