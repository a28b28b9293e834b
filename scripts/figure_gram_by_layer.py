"""Rule figure_gram_by_layer: Gram distance per layer."""
import pandas as pd

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
plots.gram_by_layer(pd.read_csv(snakemake.input[0]), snakemake.output)
