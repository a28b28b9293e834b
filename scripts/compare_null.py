"""Rule compare_null: the null experiment, base renders against the base network's null-seed renders."""
import json

import pandas as pd

from vischange.compare import features, gray, null
from vischange.paths import keyed
from vischange.runtime import derive_seed, start_job, write_csv

device = start_job(snakemake, torch=True)
p = snakemake.params
base = keyed(p.base_tables, snakemake.input.base_tables)
nulls = keyed(p.null_tables, snakemake.input.null_tables)
# The null seed set goes in as the second network; the written tables name it basenull.
tables = {**base, **{("finetuned", layer): path for (_, layer), path in nulls.items()}}
cosine, _ = features.compare_features(
    tables, snakemake.input.embedder, device=device, image_size=p.image_size,
    batch_size=p.batch_size, similarity=p.similarity, grams=False,
)
for side in "ab":
    cosine[f"net_{side}"] = cosine[f"net_{side}"].replace({"finetuned": null.NULL_NET})
threshold = json.loads(open(snakemake.input.cut).read())["threshold"]
renders = null.null_renders(pd.read_csv(snakemake.input.renders), gray.score_tables(nulls), threshold)
channels, layers = null.null_inference(cosine, renders, p.seeds, p.null_seeds, p.inference, derive_seed(p.seed, "null-changed-share"))
write_csv(snakemake.output.renders, renders)
write_csv(snakemake.output.cosine, cosine)
write_csv(snakemake.output.channels, channels)
write_csv(snakemake.output.layers, layers)
