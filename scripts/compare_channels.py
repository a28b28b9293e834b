"""Rule compare_channels: embed every render and compare base vs fine-tuned per channel."""
from vischange import compare
from vischange.runtime import start_job, write_csv

device = start_job(snakemake)
table = compare.compare_channels(
    snakemake.input.tables,
    snakemake.input.embedder,
    trainable=snakemake.params.trainable,
    device=device,
    image_size=snakemake.params.image_size,
)
write_csv(snakemake.output[0], table)
