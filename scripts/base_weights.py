"""Rule base_weights: the base network from torchvision weights or a local file."""
from vischange import models
from vischange.runtime import start_job

start_job(snakemake)
models.write_base_from_weights(
    snakemake.output.model,
    arch=snakemake.params.arch,
    base=snakemake.params.base,
    normalize=snakemake.params.normalize,
)
