"""Rule compare_features: embedding cosine (raw and centred) and Gram distance of every render pair."""
from vischange.compare import features
from vischange.paths import keyed
from vischange.runtime import start_job, write_csv

device = start_job(snakemake, torch=True)
p = snakemake.params
cosine, gram = features.compare_features(
    keyed(p.tables, snakemake.input.tables),
    snakemake.input.embedder,
    device=device,
    image_size=p.image_size,
    gram_layers=p.gram_layers,
    batch_size=p.batch_size,
    similarity=p.similarity,
)
write_csv(snakemake.output.cosine, cosine)
write_csv(snakemake.output.gram, gram)
