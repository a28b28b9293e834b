"""Rule figure_random_channels: random channels of the last render layer."""
import pandas as pd

from vischange.compare import figures
from vischange.paths import keyed
from vischange.runtime import derive_seed, start_job

start_job(snakemake)
p = snakemake.params
figures.random_channels(
    pd.read_csv(snakemake.input.channels),
    figures.render_dirs(keyed(snakemake.params.tables, snakemake.input.tables)),
    p.seed,
    p.layer,
    p.k,
    derive_seed(p.rng_seed, "random-channels", p.layer),
    snakemake.output,
)
