"""Rule atlas_images: icon grids and figures of every atlas of a layer."""
from vischange.atlas import stages
from vischange.paths import Layout
from vischange.runtime import start_job

start_job(snakemake)
nets, shards = snakemake.params.nets, snakemake.params.shards
tables = list(snakemake.input.icons)
stages.images_stage(
    Layout.of(snakemake.params.experiment),
    {net: tables[i * shards:(i + 1) * shards] for i, net in enumerate(nets)},
    layer=snakemake.wildcards.layer,
    settings=snakemake.params.atlas,
)
