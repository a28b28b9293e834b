"""Rule compare_channels: per-channel scores and flags, Gram table, per-layer summary."""
import json

import pandas as pd

from vischange.compare import inference, null, stats
from vischange.runtime import derive_seed, start_job, write_csv, write_json

start_job(snakemake)
p = snakemake.params
renders = pd.read_csv(snakemake.input.renders)
gram_pairs = pd.read_csv(snakemake.input.gram)
cosine = pd.read_csv(snakemake.input.cosine)
channels = stats.channel_table(cosine, gram_pairs, renders, p.trainable, p.percentile)
gram = stats.gram_table(gram_pairs, channels)
layers = stats.layer_summary(channels, gram, p.percentile)
channels, layers = inference.with_inference(
    channels, layers, cosine, renders, p.inference, derive_seed(p.seed, "changed-share")
)
# Which similarity scale the statistics used, and how well each one separates change from noise.
layers = layers.assign(similarity=p.similarity).merge(stats.separation(cosine), on="layer", how="left")
# The null experiment's false-positive share and changed share beside each layer's.
layers = null.with_null(layers, pd.read_csv(snakemake.input.null[0]) if snakemake.input.null else None)
cut = json.loads(open(snakemake.input.cut).read())
write_csv(snakemake.output.channels, channels)
write_csv(snakemake.output.gram, gram)
write_csv(snakemake.output.layers, layers)
write_json(snakemake.output.summary, {**stats.summary(layers, gram, cut, renders, p.percentile), "similarity": p.similarity})
