"""Rule figure_gram_by_layer: Gram distance per layer."""
import pandas as pd

from vischange.compare import figures
from vischange.runtime import start_job

start_job(snakemake)
figures.gram_by_layer(pd.read_csv(snakemake.input[0]), snakemake.output)
