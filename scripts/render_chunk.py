"""Rule render_<layer>_chunk<k>: render one chunk of a layer's channels for one network."""
from vischange.render import chunk
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
chunk.render_chunk(
    snakemake.input.model,
    layer=snakemake.params.layer,
    channels=snakemake.params.channels,
    settings=snakemake.params.render,
    seed=snakemake.params.seed,
    device=device,
    out_table=snakemake.output.table,
    out_images=snakemake.output.images,
    dataset_manifest=snakemake.input.images,
)
