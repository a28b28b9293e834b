"""Rule figure_change_tests: changed share and significant share per layer, beside the null experiment."""
import pandas as pd

from vischange.compare import figures
from vischange.runtime import start_job

start_job(snakemake)
figures.change_tests(pd.read_csv(snakemake.input.layers), snakemake.output)
