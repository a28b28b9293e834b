"""Rule embedding_network: an independent network that embeds renders."""
from vischange.compare import features
from vischange.runtime import start_job

start_job(snakemake)
features.write_embedding_network(
    snakemake.output[0], arch=snakemake.params.arch, weights=snakemake.params.weights, path=snakemake.params.path
)
