"""Rule compare_channels: per-channel scores and flags, Gram table, per-layer summary."""
import json

import pandas as pd

from vischange.compare import tables
from vischange.runtime import start_job, write_csv, write_json

start_job(snakemake)
p = snakemake.params
channels, gram, layers, summary = tables.channel_tables(
    pd.read_csv(snakemake.input.renders),
    pd.read_csv(snakemake.input.cosine),
    pd.read_csv(snakemake.input.gram),
    json.loads(open(snakemake.input.cut).read()),
    pd.read_csv(snakemake.input.null[0]) if snakemake.input.null else None,
    trainable=p.trainable,
    percentile=p.percentile,
    inference_settings=p.inference,
    similarity=p.similarity,
    seed=p.seed,
)
write_csv(snakemake.output.channels, channels)
write_csv(snakemake.output.gram, gram)
write_csv(snakemake.output.layers, layers)
write_json(snakemake.output.summary, summary)
