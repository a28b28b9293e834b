"""Rule figure_render_pairs: base over fine-tuned renders per layer."""
from pathlib import Path

import pandas as pd

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
dirs = {(Path(t).parent.parent.name, Path(t).parent.name): Path(t).parent for t in snakemake.input.tables}
plots.render_pairs(pd.read_csv(snakemake.input.channels), dirs, snakemake.params.seed, snakemake.output)
