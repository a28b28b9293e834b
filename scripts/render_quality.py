"""Rule render_quality: per (network, layer) render-quality summary."""
import pandas as pd

from vischange.paths import keyed
from vischange.render import tables
from vischange.runtime import start_job, write_csv

start_job(snakemake)
by_key = {key: pd.read_csv(path) for key, path in keyed(snakemake.params.tables, snakemake.input.tables).items()}
write_csv(snakemake.output[0], tables.quality_summary(by_key))
