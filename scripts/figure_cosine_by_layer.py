"""Rule figure_cosine_by_layer: cosine box plot per layer beside the noise floor."""
import pandas as pd

from vischange.compare import figures
from vischange.runtime import start_job

start_job(snakemake)
figures.cosine_by_layer(
    pd.read_csv(snakemake.input.channels),
    pd.read_csv(snakemake.input.layers),
    snakemake.output,
    snakemake.params.percentile,
)
