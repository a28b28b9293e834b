"""Rule atlas_images: icon grids and figures of every atlas of a layer."""
from vischange.atlas import stages
from vischange.paths import Layout
from vischange.runtime import start_job

start_job(snakemake)
stages.images_stage(
    Layout.of(snakemake.params.experiment),
    {"base": snakemake.input.base, "finetuned": snakemake.input.finetuned},
    layer=snakemake.wildcards.layer,
    settings=snakemake.params.atlas,
)
