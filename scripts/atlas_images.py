"""Rule atlas_images: icon grids and figures of every atlas of a layer."""
from pathlib import Path

from vischange.atlas import stages
from vischange.runtime import start_job

start_job(snakemake)
stages.images_stage(
    Path(snakemake.input.base[0]).parents[3],  # atlas/base/{layer}/icons/{shard}.csv
    {"base": snakemake.input.base, "finetuned": snakemake.input.finetuned},
    layer=snakemake.wildcards.layer,
    settings=snakemake.params.atlas,
)
