"""Rule compare_features: embedding cosine and Gram distance of every render pair."""
from vischange.compare import features
from vischange.paths import keyed
from vischange.runtime import start_job, write_csv

device = start_job(snakemake, torch=True)
cosine, gram = features.compare_features(
    keyed(snakemake.params.tables, snakemake.input.tables),
    snakemake.input.embedder,
    device=device,
    image_size=snakemake.params.image_size,
    gram_layers=snakemake.params.gram_layers,
    batch_size=snakemake.params.batch_size,
)
write_csv(snakemake.output.cosine, cosine)
write_csv(snakemake.output.gram, gram)
