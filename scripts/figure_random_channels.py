"""Rule figure_random_channels: random channels of the last render layer."""
import pandas as pd

from vischange import plots
from vischange.runtime import derive_seed, start_job

start_job(snakemake)
p = snakemake.params
plots.random_channels(
    pd.read_csv(snakemake.input.channels),
    plots.render_dirs(snakemake.input.tables),
    p.seed,
    p.layer,
    p.k,
    derive_seed(p.rng_seed, "random-channels", p.layer),
    snakemake.output,
)
