"""Rule figure_render_pairs: base over fine-tuned renders per layer."""
import pandas as pd

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
dirs = plots.render_dirs(snakemake.input.tables)
plots.render_pairs(pd.read_csv(snakemake.input.channels), dirs, snakemake.params.seed, snakemake.output)
