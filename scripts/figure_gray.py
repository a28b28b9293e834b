"""Rule figure_gray: sorted gray scores with the cut, and gray counts per layer and network."""
import json

import pandas as pd

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
renders = pd.read_csv(snakemake.input.renders)
plots.gray_scores(renders, json.loads(open(snakemake.input.cut).read()), snakemake.output.scores)
plots.gray_counts(renders, snakemake.output.counts)
