"""Rule figure_gray: sorted gray scores with the cut, and gray counts per layer and network."""
import json

import pandas as pd

from vischange.compare import figures
from vischange.runtime import start_job

start_job(snakemake)
renders = pd.read_csv(snakemake.input.renders)
figures.gray_scores(renders, json.loads(open(snakemake.input.cut).read()), snakemake.output.scores)
figures.gray_counts(renders, snakemake.output.counts)
